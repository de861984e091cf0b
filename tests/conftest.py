"""Test fixtures. The database is migrated once per run (so every run also proves the
migrations), then emptied after each test; the suite runs unchanged on SQLite (default) and on
PostgreSQL when ``DOORSTEP_DATABASE_URL`` names one.

``DOORSTEP_TEST_NOW`` (ISO 8601 with an offset, e.g. ``2026-12-31T23:30:00+08:00``) runs the whole
suite at that instant: the test process travels there with time-machine, ticking, before any test
module is imported, and every process a test starts gets the same clock through
``DOORSTEP_CLOCK_OFFSET_SECONDS`` (see ``clock_env``)."""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
import time_machine

from app import clock
from app.config import TestConfig
from app.extensions import db as _db
from compose import create_app
from tests import factories

_TMP = tempfile.mkdtemp(prefix="doorstep-test-")


def _own_database_per_worker() -> None:
    """Under pytest-xdist (``make test`` runs one worker per core) each worker gets its own
    PostgreSQL database, ``<name>_gw0``, ``<name>_gw1``…, created on first use: a worker empties
    every table after each test, which one shared database could not survive. Set in the
    environment, so the processes a test starts use the same database. SQLite needs nothing: each
    worker already has its own temporary folder."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    url = os.environ.get("DOORSTEP_DATABASE_URL")
    if not worker or not url:
        return
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "postgresql" or parsed.database is None:
        return
    name = f"{parsed.database}_{worker}"
    maintenance = sa.create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with maintenance.connect() as conn:
            found = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name})
            if found.scalar() is None:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        maintenance.dispose()
    os.environ["DOORSTEP_DATABASE_URL"] = parsed.set(database=name).render_as_string(hide_password=False)


_own_database_per_worker()

TEST_NOW_ENV = "DOORSTEP_TEST_NOW"
_traveller: time_machine.travel | None = None
_inherited_offset: str | None = None


def pinned_instant(raw: str | None) -> datetime | None:
    """``DOORSTEP_TEST_NOW`` read strictly: an instant without an offset would mean a different
    moment on every machine."""
    if not raw:
        return None
    try:
        instant = datetime.fromisoformat(raw)
    except ValueError:
        raise pytest.UsageError(f"{TEST_NOW_ENV}={raw!r} is not an ISO 8601 date and time") from None
    if instant.tzinfo is None:
        raise pytest.UsageError(f"{TEST_NOW_ENV}={raw!r} needs an offset, e.g. +08:00")
    return instant


def pytest_configure(config):
    """Travel here rather than in a fixture, so module-level values computed at import (a test
    module's ``NOW``) are already on the pinned clock. The app was imported above, so its clock has
    already read the environment: the offset set below moves only the processes the tests start."""
    global _traveller, _inherited_offset
    instant = pinned_instant(os.environ.get(TEST_NOW_ENV))
    if instant is None:
        return
    _traveller = time_machine.travel(instant, tick=True)
    _traveller.start()
    _inherited_offset = os.environ.get(clock.OFFSET_ENV)
    os.environ[clock.OFFSET_ENV] = clock_env({})[clock.OFFSET_ENV]
    config.stash[_PINNED] = instant


def pytest_unconfigure(config):
    global _traveller
    if _traveller is not None:
        _traveller.stop()
        _traveller = None
        if _inherited_offset is None:
            os.environ.pop(clock.OFFSET_ENV, None)
        else:
            os.environ[clock.OFFSET_ENV] = _inherited_offset


def pytest_report_header(config):
    instant = config.stash.get(_PINNED, None)
    return f"clock pinned at {instant.isoformat()} (ticking)" if instant else None


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Also under ``-q``, which hides the header: a failure report says which instant it was."""
    instant = config.stash.get(_PINNED, None)
    if instant is not None:
        terminalreporter.write_line(f"clock pinned at {instant.isoformat()} ({TEST_NOW_ENV}), ticking")


_PINNED = pytest.StashKey[datetime]()


def clock_env(env: dict | None = None) -> dict:
    """``env`` (default: this process's environment) for a child process, carrying this
    process's clock — wherever the run or the test has moved it — as an offset from the system
    clock, which is what a child without time-machine reads."""
    env = dict(os.environ if env is None else env)
    env[clock.OFFSET_ENV] = f"{(clock.now() - system_now()).total_seconds():.6f}"
    return env


def system_now() -> datetime:
    """The machine's clock, wherever time-machine has taken this process."""
    if time_machine.escape_hatch.is_travelling():
        return time_machine.escape_hatch.datetime.datetime.now(UTC)
    return datetime.now(UTC)


def database_url() -> str:
    return os.environ.get("DOORSTEP_DATABASE_URL") or f"sqlite:///{_TMP}/test.sqlite3"


def make_config(**overrides) -> TestConfig:
    env = {k: v for k, v in os.environ.items() if k.startswith("DOORSTEP_")}
    env["DOORSTEP_DATABASE_URL"] = database_url()
    env.setdefault("DOORSTEP_BLOB_DIR", os.path.join(_TMP, "blobs"))  # never the repository's instance/
    config = TestConfig(env)
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


@pytest.fixture(scope="session")
def app():
    application = create_app(make_config())
    application.test_client_class = factories.ProvingClient
    with application.app_context():
        _reset_schema()
        from flask_migrate import upgrade

        upgrade()
        _db.session.remove()
    return application


def _reset_schema():
    """Start each run from an empty database, whatever a previous run left."""
    engine = _db.engine
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    else:
        _db.metadata.drop_all(engine)
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))


@pytest.fixture(autouse=True)
def _clean_tables(request):
    yield
    if "app" not in request.fixturenames:
        return
    empty_database(request.getfixturevalue("app"))


def empty_database(application) -> None:
    """Every row gone, children first. DELETE: on tables this small it is ~20x faster than
    TRUNCATE, which rewrites every table's files whether or not it held a row."""
    with application.app_context():
        _db.session.remove()
        tables = [t.name for t in reversed(_db.metadata.sorted_tables)]
        with _db.engine.begin() as conn:
            for name in tables:
                conn.execute(sa.text(f"DELETE FROM {name}"))
        application.extensions.pop("doorstep.signing_keys", None)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make(app):
    """Factories bound to the app: ``make.station()``, ``make.user("staff", station)``…"""
    return factories.Factory(app)


@pytest.fixture
def world(make):
    """Two stations, each with two areas and one account of every station role, plus an admin."""
    return factories.build_world(make)
