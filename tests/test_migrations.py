"""The migrations build exactly the schema the models describe, from an empty database, on
SQLite and (when the run has one) PostgreSQL; and they unwind to nothing and build again."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from app.extensions import db
from app.health import migration_heads
from compose import create_app
from tests.fixtures.database import database_url, make_config


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_app(request, tmp_path):
    """An app on a brand-new, empty database of the given kind."""
    if request.param == "sqlite":
        app = create_app(make_config(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'fresh.sqlite3'}"))
        yield app
        with app.app_context():
            db.engine.dispose()
        return
    configured = sa.engine.make_url(database_url())
    if not configured.drivername.startswith("postgresql"):
        pytest.skip("DOORSTEP_DATABASE_URL does not name a PostgreSQL database")
    name = f"{configured.database}_mig_{uuid.uuid4().hex[:8]}"
    server = sa.create_engine(configured.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        app = create_app(
            make_config(SQLALCHEMY_DATABASE_URI=configured.set(database=name).render_as_string(hide_password=False))
        )
        yield app
        with app.app_context():
            db.engine.dispose()
    finally:
        with server.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


def schema_diff() -> list:
    with db.engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), db.metadata)


def table_names() -> set[str]:
    return set(sa.inspect(db.engine).get_table_names())


def check_constraints() -> set[tuple[str, str]]:
    inspector = sa.inspect(db.engine)
    return {(t, ck["name"]) for t in inspector.get_table_names() for ck in inspector.get_check_constraints(t)}


def model_check_constraints() -> set[tuple[str, str]]:
    return {
        (t.name, c.name) for t in db.metadata.sorted_tables for c in t.constraints if isinstance(c, sa.CheckConstraint)
    }


def current_revision() -> set[str]:
    with db.engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def test_upgrade_from_empty_gives_exactly_the_models_schema(empty_app):
    with empty_app.app_context():
        assert table_names() == set()
        upgrade()
        assert schema_diff() == []
        assert table_names() == {t.name for t in db.metadata.sorted_tables} | {"alembic_version"}
        # alembic does not compare CHECK constraints; the state machines rely on them.
        assert model_check_constraints() and model_check_constraints() <= check_constraints()
        assert current_revision() == migration_heads()


def test_the_comparison_notices_a_missing_index(empty_app):
    """Guards the test above: a schema that differs must produce a non-empty diff."""
    with empty_app.app_context():
        upgrade()
        with db.engine.begin() as conn:
            conn.execute(sa.text("DROP INDEX ix_audit_event_at"))
        diff = schema_diff()
    assert [(d[0], d[1].name) for d in diff] == [("add_index", "ix_audit_event_at")]


def test_downgrade_to_base_and_upgrade_again(empty_app):
    with empty_app.app_context():
        upgrade()
        downgrade(revision="base")
        assert table_names() <= {"alembic_version"}
        assert current_revision() == set()
        upgrade()
        assert schema_diff() == []
        assert current_revision() == migration_heads()
    assert empty_app.test_client().get("/readyz").status_code == 200


def test_the_maturity_keys_and_links_are_rewritten_in_hex_and_back(empty_app):
    """b6d1f3a8c5e2: the maturity messages' keys and links name the registration by its 32 hex
    digits (field_api.residency.maturity.maturity_key); other messages are left as they are."""
    from app.db import utcnow
    from app.notify.models import Notification
    from app.notify.outbox import outbox_row
    from field_api.residency.maturity import maturity_key, maturity_link, prenotice_key

    before, after = "a9c3e5f7b2d1", "b6d1f3a8c5e2"
    due, soon, bare = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    params = {"station": "北山派出所", "day": "2027-03-10"}
    old = {  # dedupe key → params, as the job wrote them before
        f"maturity:{due}": {**params, "link": f"R:{due}"},
        f"maturity-pre:{soon}": {**params, "link": f"R:{soon}"},
        f"maturity:{bare}": params,  # no link: the key alone
        "booking:ABCD2345": {"link": "B:ABCD2345"},  # another kind of message: untouched
    }
    new = {
        maturity_key(due): {**params, "link": maturity_link(due)},
        prenotice_key(soon): {**params, "link": maturity_link(soon)},
        maturity_key(bare): params,
        "booking:ABCD2345": {"link": "B:ABCD2345"},
    }
    table = Notification.__table__

    def outbox() -> dict:
        with db.engine.connect() as conn:
            return dict(conn.execute(sa.select(table.c.dedupe_key, table.c.params)).all())

    with empty_app.app_context():
        upgrade(revision=before)
        now = utcnow()
        rows = [
            outbox_row("maturity_reached", p, None, None, station_id=None, dedupe_key=k, now=now)
            for k, p in old.items()
        ]
        with db.engine.begin() as conn:
            conn.execute(table.insert(), rows)
        upgrade(revision=after)
        assert outbox() == new
        assert f"maturity:{due.hex}" in new and f"maturity-pre:{soon.hex}" in new
        downgrade(revision=before)
        assert outbox() == old
        upgrade()
        assert outbox() == new
