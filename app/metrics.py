"""``GET /metrics``: Prometheus text format, for operating several nodes without logging into them.

What is measured, and where each number comes from:

- requests by route, method and status class, and their latency. The route is the Flask URL rule
  (``/api/v1/visits/<uuid:visit_id>``), never the raw path: ids in labels would make one time
  series per record and sink the Prometheus server.
- sync: pages served by ``/sync/pull``, mutations settled by ``/sync/push`` by status and
  whether they were replays (a tablet resending a batch whose answer it lost).
- the SMS outbox by status: read from the database at scrape time (one ``COUNT … GROUP BY``), so
  every node reports the same, true number rather than what its own process happened to see.
- the scheduler: whether *this process* runs one, leads, and when a job last finished
  (``app.scheduler.leadership_state``). App workers run none in production (the scheduler is its
  own service), so they report 0 and no tick time; on PostgreSQL every node also reports whether
  *some* process holds the leader's advisory lock (``pg_locks``), which is what an alert wants.
- the SQLAlchemy connection pool: connections checked out, pool size, overflow in use.

Counters live in module-level objects. With ``PROMETHEUS_MULTIPROC_DIR`` set in the environment
*before* the process starts (gunicorn with several workers), prometheus-client keeps every value in
a memory-mapped file per worker and a scrape, whichever worker answers it, sums them all
(``MultiProcessCollector``); otherwise one in-process registry is served.

Who may scrape: anyone who can reach the port when ``DOORSTEP_METRICS_TOKEN`` is empty (the usual
Prometheus set-up on a private network; the numbers hold no personal data), else only a caller
presenting ``Authorization: Bearer <token>``, compared in constant time.

The scheduler process (``flask --app wsgi scheduler``) serves no HTTP API, so it serves these same
collectors on a port of its own when ``DOORSTEP_SCHEDULER_METRICS_PORT`` is set
(``serve_for_scheduler``): that is where its leadership and last tick can be scraped. That server
takes no token; it listens on ``DOORSTEP_SCHEDULER_METRICS_ADDR`` (loopback by default).
"""

from __future__ import annotations

import collections
import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from ipaddress import IPv4Network, IPv6Network
from threading import Thread
from typing import Any
from wsgiref.simple_server import WSGIServer

import sqlalchemy as sa
from flask import Flask, Response, current_app, g, request
from flask_sqlalchemy import SQLAlchemy
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from app import scheduler
from app.auth.permissions import public
from app.config import metrics_networks
from app.context import current_meta
from app.errors import Unauthorized
from app.extensions import api, db
from app.notify.models import STATUSES, Notification
from app.schemas import Blueprint

log = logging.getLogger("doorstep.metrics")

# Our own registry rather than prometheus-client's global one: nothing a library registers there
# leaks into /metrics, and a test can build many apps in one process without name clashes.
REGISTRY = CollectorRegistry(auto_describe=True)

# Only methods the API serves; anything else is folded into one label value so a scanner sending
# made-up methods cannot create series.
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
UNMATCHED = "<unmatched>"  # 404 and 405 before routing: no rule to name

HTTP_REQUESTS = Counter(
    "doorstep_http_requests",
    "HTTP requests answered, by URL rule, method and status class.",
    ("route", "method", "status"),
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "doorstep_http_request_duration_seconds",
    "Time from the start of request handling to the response, by URL rule and method.",
    ("route", "method"),
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
SYNC_PAGES = Counter("doorstep_sync_pages_served", "Pages of changes served by /sync/pull.", registry=REGISTRY)
SYNC_MUTATIONS = Counter(
    "doorstep_sync_mutations",
    "Mutations settled by /sync/push, by outcome; replayed=true: a resend answered from the stored result.",
    ("status", "replayed"),
    registry=REGISTRY,
)
# Pool gauges are set on every checkout and check-in, not only at scrape time: in multi-process
# mode a scrape reaches one worker, and "livesum" adds up the live workers' last values.
POOL_CHECKED_OUT = Gauge(
    "doorstep_db_pool_checked_out",
    "Database connections in use (summed over live workers).",
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
POOL_SIZE = Gauge(
    "doorstep_db_pool_size",
    "Configured connections kept by the pool (summed over live workers).",
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
POOL_OVERFLOW = Gauge(
    "doorstep_db_pool_overflow",
    "Connections open beyond the pool size (summed over live workers).",
    registry=REGISTRY,
    multiprocess_mode="livesum",
)

blp = Blueprint("metrics", __name__, description="Operations")


def multiprocess_dir() -> str | None:
    """prometheus-client reads this variable when it is imported; read it the same way here."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir") or None  # noqa: SIM112 (the legacy name it reads)


# --- request metrics ---------------------------------------------------------------------------


def init_app(app: Flask) -> None:
    """Register the route, the request hooks and the pool listeners on one app."""
    api.register_blueprint(blp)

    @app.before_request
    def _metrics_start() -> None:
        g._metrics_started = time.perf_counter()

    @app.after_request
    def _metrics_done(response: Response) -> Response:
        started = g.pop("_metrics_started", None)
        rule = request.url_rule
        route = rule.rule if rule is not None else UNMATCHED
        method = request.method if request.method in _METHODS else "OTHER"
        HTTP_REQUESTS.labels(route, method, f"{response.status_code // 100}xx").inc()
        if started is not None:
            HTTP_LATENCY.labels(route, method).observe(time.perf_counter() - started)
        return response

    with app.app_context():
        engine = db.engine
    _watch_pool(engine)


def _watch_pool(engine: sa.Engine) -> None:
    """Every request checks a connection out and in, so each listener does only what can change
    then: the connections in use on both, the overflow when one is taken (it grows only when a
    checkout opens a connection beyond the pool's size; at a check-in it has not shrunk yet). The
    size changes only with a new pool: set when the pool opens a connection. QueuePool reports its
    use; NullPool and StaticPool (SQLite in memory) have nothing to say."""

    def opened(*_: object) -> None:
        pool = engine.pool
        if isinstance(pool, sa.pool.QueuePool):
            POOL_SIZE.set(pool.size())

    def checked_out(*_: object) -> None:
        pool = engine.pool
        if isinstance(pool, sa.pool.QueuePool):
            POOL_CHECKED_OUT.set(pool.checkedout())
            POOL_OVERFLOW.set(max(0, pool.overflow()))

    def checked_in(*_: object) -> None:
        pool = engine.pool
        if isinstance(pool, sa.pool.QueuePool):
            POOL_CHECKED_OUT.set(pool.checkedout())

    # Listening on the engine (not its current pool) keeps the listeners across engine.dispose().
    sa.event.listen(engine, "connect", opened)
    sa.event.listen(engine, "checkout", checked_out)
    sa.event.listen(engine, "checkin", checked_in)


def _observe_pool(pool: sa.pool.Pool) -> None:
    """All three at once, at scrape time."""
    if isinstance(pool, sa.pool.QueuePool):
        POOL_CHECKED_OUT.set(pool.checkedout())
        POOL_SIZE.set(pool.size())
        POOL_OVERFLOW.set(max(0, pool.overflow()))


# --- sync metrics (called by sync/routes.py and sync/push.py) -------------------------------------


def sync_page_served() -> None:
    SYNC_PAGES.inc()


def sync_mutations_settled(results: Iterable[Mapping[str, Any]]) -> None:
    counts = collections.Counter((str(r.get("status")), "true" if r.get("replayed") else "false") for r in results)
    for labels, count in counts.items():
        SYNC_MUTATIONS.labels(*labels).inc(count)


# --- read at scrape time ---------------------------------------------------------------------------


class ScrapeCollector:
    """Numbers that are read when Prometheus asks, in the request's app context."""

    def collect(self) -> Iterator[Metric]:
        yield from self._outbox()
        yield from self._scheduler()

    def _outbox(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("doorstep_database_up", "1 if this scrape could read the database.")
        try:
            rows: dict[str, int] = dict(
                db.session.execute(sa.select(Notification.status, sa.func.count()).group_by(Notification.status)).all()
            )
            elected = self._leader_elected(db)
            db.session.rollback()  # a read: end the transaction, do not hold a snapshot open
        except sa.exc.SQLAlchemyError:
            db.session.rollback()
            log.warning("metrics: the database could not be read", extra={"event": "metrics.db_error"})
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        outbox = GaugeMetricFamily(
            "doorstep_outbox_messages", "SMS outbox rows by status (from the database).", labels=("status",)
        )
        for status in STATUSES:
            outbox.add_metric([status], rows.get(status, 0))
        yield outbox
        if elected is not None:
            yield GaugeMetricFamily(
                "doorstep_scheduler_leader_elected",
                "1 if some process holds the scheduler's leader lock (PostgreSQL, any node).",
                value=elected,
            )

    @staticmethod
    def _leader_elected(db: SQLAlchemy) -> int | None:
        """Session-level advisory locks on a bigint key appear in pg_locks split in two 32-bit
        halves (classid, objid) with objsubid 1. Advisory locks belong to one database while
        pg_locks shows the whole server: another database's scheduler on the same server (another
        deployment, or a test worker's) holds its own lock and must not read as this one's leader."""
        if db.engine.dialect.name != "postgresql":
            return None
        key = scheduler.ADVISORY_KEY & 0xFFFFFFFFFFFFFFFF
        held = db.session.execute(
            sa.text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
                "AND classid::bigint = :hi AND objid::bigint = :lo "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ),
            {"hi": key >> 32, "lo": key & 0xFFFFFFFF},
        ).scalar()
        return 1 if held else 0

    @staticmethod
    def _scheduler() -> Iterator[Metric]:
        state = scheduler.leadership_state()
        yield GaugeMetricFamily(
            "doorstep_scheduler_running", "1 if this process runs a scheduler.", value=1 if state.get("running") else 0
        )
        yield GaugeMetricFamily(
            "doorstep_scheduler_is_leader",
            "1 if this process's scheduler leads (runs the jobs).",
            value=1 if state.get("is_leader") else 0,
        )
        for name, at, doc in (
            (
                "doorstep_scheduler_last_tick_timestamp_seconds",
                state["last_tick_at"],
                "When a job of this process's scheduler last finished (Unix time).",
            ),
            (
                "doorstep_scheduler_leader_since_timestamp_seconds",
                state["leader_since"],
                "Since when this process's scheduler leads (Unix time).",
            ),
        ):
            if at is not None:  # absent rather than 0: "never" is not 1970
                yield GaugeMetricFamily(name, doc, value=at.timestamp())


class _Sources:
    """What one scrape serves: the counters (this process's or every worker's) and the live reads."""

    def __init__(self, *sources: Collector) -> None:
        self.sources = sources

    def collect(self) -> Iterator[Metric]:
        for source in self.sources:
            yield from source.collect()


def exposition() -> bytes:
    _observe_pool(db.engine.pool)
    if multiprocess_dir():
        from prometheus_client import multiprocess  # only in multi-process mode: it reads its directory at import

        # prometheus-client leaves MultiProcessCollector's constructor unannotated.
        counters: Collector = multiprocess.MultiProcessCollector(None)  # type: ignore[no-untyped-call]
    else:
        counters = REGISTRY
    return generate_latest(_Sources(counters, ScrapeCollector()))


# --- the scheduler process's own port ---------------------------------------------------------------


class _InAppContext:
    """prometheus-client's HTTP server collects on its own thread, outside any app context; the
    scrape-time reads need one (the database session). Everything is read inside the context and
    yielded after it is popped, so an abandoned scrape cannot leave a context pushed."""

    def __init__(self, app: Flask, source: Collector) -> None:
        self.app, self.source = app, source

    def collect(self) -> Iterator[Metric]:
        with self.app.app_context():
            _observe_pool(db.engine.pool)
            families = list(self.source.collect())
        yield from families


def _loopback(addr: str) -> bool:
    try:
        return ipaddress.ip_address(addr).is_loopback
    except ValueError:
        return addr == "localhost"


def serve_for_scheduler(app: Flask) -> tuple[WSGIServer, Thread] | None:
    """``flask --app wsgi scheduler`` serves the same numbers as ``/metrics`` — above all its own
    leadership, leader-since and last tick, which no app node can see — on
    ``DOORSTEP_SCHEDULER_METRICS_ADDR:DOORSTEP_SCHEDULER_METRICS_PORT`` with prometheus-client's own
    HTTP server (any path answers). Port 0: none, and ``None`` is returned; else ``(server, thread)``,
    to be closed with ``server.shutdown(); server.server_close()``.

    That server cannot check ``DOORSTEP_METRICS_TOKEN``, so it binds to loopback unless told
    otherwise; a token with a wider address is served without it, and said so in the log. Counters
    are this process's own (``REGISTRY``), never the gunicorn workers' multi-process files."""
    port = int(app.config.get("SCHEDULER_METRICS_PORT") or 0)
    if port <= 0:
        return None
    addr = app.config.get("SCHEDULER_METRICS_ADDR") or "127.0.0.1"
    # A registry, not the bare collector: the server filters through it (`?name[]=…`).
    registry = CollectorRegistry(auto_describe=False, support_collectors_without_names=True)
    registry.register(_InAppContext(app, _Sources(REGISTRY, ScrapeCollector())))
    server, thread = start_http_server(port, addr=addr, registry=registry)
    if app.config.get("METRICS_TOKEN") and not _loopback(addr):
        log.warning(
            "scheduler metrics on %s:%s are served without DOORSTEP_METRICS_TOKEN",
            addr,
            port,
            extra={"event": "metrics.scheduler_unauthenticated"},
        )
    log.info("scheduler metrics on http://%s:%s/metrics", addr, port, extra={"event": "metrics.scheduler_serving"})
    return server, thread


def _check_token() -> None:
    """A configured token, or an address of the allow list; with neither configured (development
    only: production refuses to start so) the route is open."""
    expected = current_app.config.get("METRICS_TOKEN") or ""
    allowed = _allowed_networks()
    if not expected and not allowed:
        return
    if allowed:
        meta = current_meta()
        try:
            addr = ipaddress.ip_address((meta.client_addr if meta else None) or "")
        except ValueError:
            addr = None
        if addr is not None and any(addr in net for net in allowed):
            return
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if not expected or scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise Unauthorized("a Bearer metrics token, or an allowed address, is required")


def _allowed_networks() -> list[IPv4Network | IPv6Network]:
    raw = current_app.config.get("METRICS_ALLOW") or ""
    cache: dict[str, list[IPv4Network | IPv6Network]] = current_app.extensions.setdefault("doorstep.metrics_allow", {})
    if raw not in cache:
        cache[raw] = metrics_networks(raw)
    return cache[raw]


@blp.route("/metrics", methods=["GET"])
@public
@blp.doc(
    responses={
        "200": {
            "description": "Prometheus text format",
            "content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}},
        }
    }
)
def metrics() -> Response:
    """Prometheus metrics (a Bearer token when DOORSTEP_METRICS_TOKEN is set)"""
    _check_token()
    return current_app.response_class(
        exposition(), mimetype=None, content_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"}
    )
