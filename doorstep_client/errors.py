"""What the client raises: what the officer must act on, and what is retried."""

from __future__ import annotations

from doorstep_protocol.problems import slug_of


class ClientError(Exception):
    """Something the officer has to act on (not logged in, not enrolled, bad input)."""


class TransportError(Exception):
    """The request or its answer was lost: connection refused or reset, timeout. Retried."""


class ServerUnavailable(ClientError):
    """Transport errors or 5xx answers outlasted every retry. Nothing is lost: run sync again."""


class ProblemError(ClientError):
    """The server answered with a 4xx problem+json. Never retried: retrying the same request would
    get the same answer, so it is surfaced to the officer (or the operator) as it is."""

    def __init__(self, status: int, body: object) -> None:
        body = body if isinstance(body, dict) else {}
        self.status, self.body = status, body
        self.type = str(body.get("type") or "")
        self.slug = slug_of(self.type)
        self.detail = body.get("detail") or body.get("title") or f"HTTP {status}"
        self.errors = body.get("errors")
        super().__init__(f"{status} {self.slug or 'error'}: {self.detail}")


class Crash(BaseException):
    """Raised by tests (fault hooks, ``FaultyTransport``) to simulate the process being killed.
    A BaseException so that nothing in the client catches it, exactly like SIGKILL."""
