"""JSON over HTTP for the tablet: the real transport (urllib), an in-process one for tests
(``FlaskTransport``) and one that loses requests and answers on purpose (``FaultyTransport``)."""

from __future__ import annotations

import gzip
import json
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from http.client import HTTPException
from typing import Any, Protocol, Self

from cryptography.hazmat.primitives.asymmetric import ec

from doorstep_client import keys
from doorstep_client.errors import Crash, TransportError
from doorstep_protocol import device_proof

Headers = dict[str, str]


class _TestResponse(Protocol):
    status_code: int

    @property
    def headers(self) -> Mapping[str, str]: ...

    def get_data(self) -> bytes: ...


class _TestClient(Protocol):
    """What ``FlaskTransport`` needs of a Flask test client (the client does not import Flask)."""

    def open(self, path: str, *, method: str, data: bytes | None, headers: Headers) -> _TestResponse: ...


@dataclass
class Reply:
    status: int
    headers: Headers
    body: object  # parsed JSON, or None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class Transport:
    """JSON over HTTP, the same for every implementation: gzip request bodies on the sync
    endpoints (the only ones that promise to accept them), ``Accept-Encoding: gzip`` everywhere,
    bodies decoded here. Subclasses only move bytes (``_send``)."""

    GZIP_MIN_BYTES = 1024  # below this gzip costs more than it saves

    def call(
        self,
        method: str,
        path: str,
        payload: object = None,
        *,
        token: str | None = None,
        compress: bool = False,
        proof_key: ec.EllipticCurvePrivateKey | None = None,
        clock_offset: int = 0,
    ) -> Reply:
        """``proof_key``: the tablet's private key; a device-bound token is good only with a
        ``Device-Proof`` signed by it (docs/sync-protocol.md, "Device-bound tokens"), dated by the
        tablet's clock plus ``clock_offset`` (what the server said its clock reads, when they differ)."""
        headers = {"Accept": "application/json", "Accept-Encoding": "gzip"}
        body = None
        if payload is not None:
            body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            headers["Content-Type"] = "application/json"
            if compress and len(body) >= self.GZIP_MIN_BYTES:
                body = gzip.compress(body, mtime=0)
                headers["Content-Encoding"] = "gzip"
        if token:
            headers["Authorization"] = f"Bearer {token}"
            if proof_key is not None:
                headers[device_proof.HEADER] = keys.proof_header(
                    proof_key, method, path, token, int(time.time()) + clock_offset
                )
        status, resp_headers, raw = self._send(method, path, body, headers)
        resp_headers = {k.lower(): v for k, v in resp_headers.items()}
        if raw and resp_headers.get("content-encoding", "").lower() == "gzip":
            try:
                raw = gzip.decompress(raw)
            except (OSError, EOFError) as exc:  # a truncated answer is a lost answer
                raise TransportError(f"corrupt gzip answer: {exc}") from None
        parsed: object = None
        if raw:
            try:
                parsed = json.loads(raw)
            except ValueError:
                if status < 500:
                    raise TransportError(f"answer is not JSON (HTTP {status})") from None
        return Reply(status, resp_headers, parsed)

    def _send(self, method: str, path: str, body: bytes | None, headers: Headers) -> tuple[int, Headers, bytes]:
        raise NotImplementedError


class HttpTransport(Transport):
    """The real thing, standard library only (urllib), so the reference has no dependency to
    explain. Every status is returned as a Reply; only a lost connection raises."""

    def __init__(self, base_url: str, *, timeout: float = 30.0) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"the server's address must be http(s)://…, not {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _send(self, method: str, path: str, body: bytes | None, headers: Headers) -> tuple[int, Headers, bytes]:
        # http(s) only (see __init__), never file: or another scheme
        request = urllib.request.Request(self.base_url + path, data=body, headers=headers, method=method)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:  # noqa: S310
                return resp.status, dict(resp.headers.items()), resp.read()
        except urllib.error.HTTPError as exc:  # 4xx/5xx: an answer, not a transport failure
            try:
                raw = exc.read()
            except (OSError, HTTPException):
                raw = b""
            return exc.code, dict(exc.headers.items()) if exc.headers else {}, raw
        except (urllib.error.URLError, OSError, HTTPException, TimeoutError) as exc:
            raise TransportError(f"{method} {path}: {exc}") from None


class FlaskTransport(Transport):
    """Drives a Flask/WSGI app in-process (``FlaskTransport(app.test_client())``): the same bytes,
    headers and gzip as over the network, no socket."""

    def __init__(self, test_client: _TestClient) -> None:
        self.test_client = test_client

    def _send(self, method: str, path: str, body: bytes | None, headers: Headers) -> tuple[int, Headers, bytes]:
        resp = self.test_client.open(path, method=method, data=body, headers=headers)
        return resp.status_code, dict(resp.headers.items()), resp.get_data()


@dataclass
class Fault:
    kind: str  # "before": lost before sending; "after": the server processed it, the answer is lost
    path: str | None  # prefix of the path it applies to (None: any)
    nth: int  # fires on the nth matching call (1-based)
    exc: BaseException | None
    seen: int = 0
    fired: bool = False


class FaultyTransport(Transport):
    """Wraps a transport and loses what it is told to lose, for tests.

    ``drop_request(path)`` raises before the inner transport is called (the server never saw it);
    ``drop_response(path)`` lets the server process the request and then raises (the answer is
    lost). By default the exception is a ``TransportError`` (the client retries); pass
    ``exc=Crash()`` to simulate the process being killed at that instant (nothing catches it).
    ``crash_after(path, nth)`` is ``drop_response`` with a ``Crash``: with the pull path and
    ``nth=2`` it kills the client mid-pull, after page 1 was applied and page 2 was served."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.faults: list[Fault] = []
        self.calls: list[tuple[str, str, int | None]] = []  # (method, path, status or None if lost)

    def drop_request(self, path: str | None = None, *, nth: int = 1, exc: BaseException | None = None) -> Self:
        self.faults.append(Fault("before", path, nth, exc))
        return self

    def drop_response(self, path: str | None = None, *, nth: int = 1, exc: BaseException | None = None) -> Self:
        self.faults.append(Fault("after", path, nth, exc))
        return self

    def crash_before(self, path: str | None = None, *, nth: int = 1) -> Self:
        return self.drop_request(path, nth=nth, exc=Crash(f"killed before sending {path}"))

    def crash_after(self, path: str | None = None, *, nth: int = 1) -> Self:
        return self.drop_response(path, nth=nth, exc=Crash(f"killed after the server answered {path}"))

    def _due(self, kind: str, path: str) -> Fault | None:
        """Every fault counts every matching call from when it was added (``nth=2``: the second
        such call), so ``drop_response(p).drop_response(p, nth=2)`` loses two answers in a row."""
        due = None
        for fault in self.faults:
            if fault.kind == kind and not fault.fired and (fault.path is None or path.startswith(fault.path)):
                fault.seen += 1
                if fault.seen == fault.nth and due is None:
                    fault.fired = True
                    due = fault
        return due

    def call(self, method: str, path: str, payload: object = None, **kw: Any) -> Reply:
        fault = self._due("before", path)
        if fault is not None:
            self.calls.append((method, path, None))
            raise fault.exc or TransportError(f"{method} {path}: dropped before sending (injected)")
        reply = self.inner.call(method, path, payload, **kw)
        fault = self._due("after", path)
        if fault is not None:
            self.calls.append((method, path, None))
            raise fault.exc or TransportError(f"{method} {path}: answer lost (injected)")
        self.calls.append((method, path, reply.status))
        return reply
