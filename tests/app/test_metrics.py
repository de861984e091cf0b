"""/metrics: Prometheus text format, labels without ids, sync and outbox numbers, the optional
token, and the multi-process mode gunicorn needs (values summed over workers)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app import metrics
from app.db import utcnow
from app.extensions import db
from compose import create_app
from tests.factories import mobile
from tests.fixtures.clock import clock_env
from tests.fixtures.database import make_config

ROOT = Path(__file__).resolve().parents[2]


def scrape(client, headers=None) -> dict:
    """{(sample name, frozenset(labels)): value} of one scrape."""
    resp = client.get("/metrics", headers=headers or {})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.headers["Content-Type"].startswith("text/plain; version=")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(resp.get_data(as_text=True))
        for s in family.samples
    }


def value(samples: dict, name: str, **labels) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def counted(name: str, **labels) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def test_requests_are_counted_by_url_rule_method_and_status_class(client, make, world):
    staff = make.auth(world.staff[0])
    rule = "/api/v1/stations/<uuid:station_id>"
    before_ok = counted("doorstep_http_requests_total", route=rule, method="GET", status="2xx")
    before_missing = counted("doorstep_http_requests_total", route=rule, method="GET", status="4xx")
    assert client.get(f"/api/v1/stations/{world.stations[0].id}", headers=staff).status_code == 200
    assert client.get(f"/api/v1/stations/{uuid.uuid4()}", headers=staff).status_code == 404
    assert client.get("/no/such/path/12345").status_code == 404

    samples = scrape(client)
    assert value(samples, "doorstep_http_requests_total", route=rule, method="GET", status="2xx") == before_ok + 1
    assert value(samples, "doorstep_http_requests_total", route=rule, method="GET", status="4xx") == before_missing + 1
    assert value(samples, "doorstep_http_request_duration_seconds_count", route=rule, method="GET") >= 2
    assert value(samples, "doorstep_http_requests_total", route=metrics.UNMATCHED, method="GET", status="4xx") >= 1
    labels = {dict(k[1]).get("route") for k in samples if k[0] == "doorstep_http_requests_total"}
    assert not any(str(world.stations[0].id) in r or "12345" in r for r in labels if r), labels


def test_made_up_methods_share_one_label(client):
    before = counted("doorstep_http_requests_total", route=metrics.UNMATCHED, method="OTHER", status="4xx")
    assert client.open("/healthz", method="BREW").status_code == 405  # no rule matched the method
    assert counted("doorstep_http_requests_total", route=metrics.UNMATCHED, method="OTHER", status="4xx") == before + 1


def test_sync_pages_and_mutations_by_status_and_replay(client, make, world):
    device = make.device(world.stations[0])
    headers = {"Authorization": f"Bearer {make.tokens(world.officer[0], device)['access_token']}"}
    pages = counted("doorstep_sync_pages_served_total")
    rejected = counted("doorstep_sync_mutations_total", status="rejected", replayed="false")
    replayed = counted("doorstep_sync_mutations_total", status="rejected", replayed="true")

    assert (
        client.post("/api/v1/sync/pull", json={"protocol": 1, "cursor": None, "limit": 10}, headers=headers).status_code
        == 200
    )
    bogus = {
        "mutation_id": str(uuid.uuid4()),
        "seq": 1,
        "entity": "spaceship",
        "op": "launch",
        "id": str(uuid.uuid4()),
        "base_version": None,
        "data": {},
        "occurred_at": utcnow().isoformat(),
    }
    for _ in range(2):  # the second is a resend: answered from the stored result
        resp = client.post("/api/v1/sync/push", json={"protocol": 1, "mutations": [bogus]}, headers=headers)
        assert resp.status_code == 200, resp.json

    samples = scrape(client)
    assert value(samples, "doorstep_sync_pages_served_total") == pages + 1
    assert value(samples, "doorstep_sync_mutations_total", status="rejected", replayed="false") == rejected + 1
    assert value(samples, "doorstep_sync_mutations_total", status="rejected", replayed="true") == replayed + 1


def test_outbox_rows_by_status_are_read_from_the_database(app, client, world):
    from app.notify.models import STATUSES
    from app.notify.outbox import enqueue

    with app.app_context():
        for status in ("pending", "pending", "dead", "sent"):
            message = enqueue(
                "visit_cancelled",
                "visit_cancelled",
                {"station": "x", "reference": "R"},
                phone=mobile(),
                station_id=world.stations[0].id,
            )
            message.status = status
            if status == "sent":
                message.sent_at = message.created_at
        db.session.commit()
    samples = scrape(client)
    assert value(samples, "doorstep_database_up") == 1
    counts = {s: value(samples, "doorstep_outbox_messages", status=s) for s in STATUSES}
    assert counts == {s: {"pending": 2, "dead": 1, "sent": 1}.get(s, 0) for s in STATUSES}


def test_scheduler_state_is_zero_and_tick_absent_without_a_scheduler(client):
    samples = scrape(client)
    assert value(samples, "doorstep_scheduler_running") == 0
    assert value(samples, "doorstep_scheduler_is_leader") == 0
    assert not any(k[0] == "doorstep_scheduler_last_tick_timestamp_seconds" for k in samples)


def test_scheduler_state_comes_from_the_running_scheduler(client, monkeypatch):
    import app.scheduler as scheduler

    tick = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    monkeypatch.setattr(
        scheduler,
        "leadership_state",
        lambda: {"running": True, "is_leader": True, "leader_since": tick, "last_tick_at": tick, "jobs": {}},
    )
    samples = scrape(client)
    assert value(samples, "doorstep_scheduler_running") == 1
    assert value(samples, "doorstep_scheduler_is_leader") == 1
    assert value(samples, "doorstep_scheduler_last_tick_timestamp_seconds") == tick.timestamp()


def test_leader_lock_held_anywhere_is_seen_on_postgresql(app, client):
    from app.scheduler import lock_for

    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            assert not any(k[0] == "doorstep_scheduler_leader_elected" for k in scrape(client))
            return
        lock = lock_for(db.engine.url)
    assert value(scrape(client), "doorstep_scheduler_leader_elected") == 0
    assert lock.try_acquire()  # as a scheduler process elsewhere would
    try:
        assert value(scrape(client), "doorstep_scheduler_leader_elected") == 1
    finally:
        lock.release()


def test_leader_lock_in_another_database_on_the_server_is_not_this_ones(app, client):
    """Advisory locks are per database; pg_locks lists the whole server's."""
    from app.scheduler import lock_for

    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            return
        elsewhere = lock_for(db.engine.url.set(database="postgres"))
    assert elsewhere.try_acquire()
    try:
        assert value(scrape(client), "doorstep_scheduler_leader_elected") == 0
    finally:
        elsewhere.release()


def test_pool_use_is_reported(client):
    samples = scrape(client)
    assert value(samples, "doorstep_db_pool_size") >= 1
    assert value(samples, "doorstep_db_pool_checked_out") >= 0
    assert value(samples, "doorstep_db_pool_overflow") >= 0


def test_a_configured_token_is_required(app):
    guarded = create_app(make_config(METRICS_TOKEN="a-long-random-metrics-token"))
    client = guarded.test_client()
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", headers={"Authorization": "Bearer a-long-random-metrics-tokem"})
    assert wrong.status_code == 401 and wrong.mimetype == "application/problem+json"
    scrape(client, {"Authorization": "Bearer a-long-random-metrics-token"})


def test_an_allow_list_admits_its_addresses_only(app):
    guarded = create_app(
        make_config(METRICS_ALLOW="10.1.0.0/16, 192.0.2.7", METRICS_TOKEN="a-long-random-metrics-token")
    )
    inside, outside, tokened = guarded.test_client(), guarded.test_client(), guarded.test_client()
    inside.environ_base["REMOTE_ADDR"] = "10.1.2.3"
    outside.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    tokened.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    scrape(inside)
    assert outside.get("/metrics").status_code == 401
    scrape(tokened, {"Authorization": "Bearer a-long-random-metrics-token"})


MULTIPROCESS_WORKER = textwrap.dedent("""
    import sys
    from compose import create_app
    from app.config import TestConfig
    config = TestConfig({"DOORSTEP_DATABASE_URL": sys.argv[1], "DOORSTEP_BLOB_DIR": sys.argv[2]})
    client = create_app(config).test_client()
    for _ in range(int(sys.argv[3])):
        assert client.get("/healthz").status_code == 200
    if sys.argv[4] == "scrape":
        sys.stdout.write(client.get("/metrics").get_data(as_text=True))
""")


def test_multiprocess_mode_sums_every_workers_counters(tmp_path):
    """Two processes (as two gunicorn workers) with one PROMETHEUS_MULTIPROC_DIR: the one that
    answers the scrape reports both's requests."""
    shared = tmp_path / "prom"
    shared.mkdir()
    env = clock_env({**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(shared), "PYTHONPATH": str(ROOT)})
    args = [f"sqlite:///{tmp_path / 'mp.sqlite3'}", str(tmp_path / "blobs")]

    def worker(count, mode):
        return subprocess.run(
            [sys.executable, "-c", MULTIPROCESS_WORKER, *args, str(count), mode],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout

    worker(3, "no")
    text = worker(2, "scrape")
    samples = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert value(samples, "doorstep_http_requests_total", route="/healthz", method="GET", status="2xx") == 5
    assert any(shared.iterdir())


@pytest.mark.parametrize("path", ["/metrics"])
def test_metrics_is_documented_in_openapi(client, path):
    assert path in client.get("/openapi.json").json["paths"]
