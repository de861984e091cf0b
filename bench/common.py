"""What every benchmark needs: a database made for the run and dropped after it, and the
DOORSTEP_* settings that point the app at it."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


# --- the throwaway database ------------------------------------------------------------------


@dataclass
class Database:
    url: str  # SQLAlchemy URL of the throwaway database
    kind: str  # "sqlite" or "postgresql"
    label: str  # what to print
    sqlite_path: str | None = None
    libpq: str | None = None  # psycopg conninfo of the throwaway database


def _libpq(url) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@contextlib.contextmanager
def throwaway_database(server_url: str | None):
    """A database made for this run and removed after it, whatever happens in between."""
    if not server_url:
        tmp = tempfile.mkdtemp(prefix="doorstep-bench-")
        path = os.path.join(tmp, "bench.sqlite3")
        try:
            yield Database(f"sqlite:///{path}", "sqlite", f"sqlite (temporary file {path})", sqlite_path=path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return

    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    server = make_url(server_url)
    if server.get_backend_name() != "postgresql":
        raise SystemExit(
            f"bench: DOORSTEP_DATABASE_URL must name a PostgreSQL server (or be unset for "
            f"SQLite), not {server.get_backend_name()!r}"
        )
    name = f"doorstep_bench_{os.getpid()}_{secrets.token_hex(3)}"
    admin = _libpq(server)  # only to CREATE and DROP our own database
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    # From here on the database is ours, and only ours is ever dropped.
    try:
        url = server.set(database=name)
        yield Database(
            url.render_as_string(hide_password=False),
            "postgresql",
            f"postgresql (throwaway database {name} on {server.host or 'localhost'}:{server.port or 5432})",
            libpq=_libpq(url),
        )
    finally:
        try:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        except Exception as exc:
            print(
                f"bench: could not drop the throwaway database {name}: {exc}; drop it by hand",
                file=sys.stderr,
                flush=True,
            )


def doorstep_env(db: Database) -> dict:
    """The DOORSTEP_* settings of this run: the caller's, pointed at the throwaway database."""
    env = {k: v for k, v in os.environ.items() if k.startswith("DOORSTEP_")}
    env.update(DOORSTEP_DATABASE_URL=db.url, DOORSTEP_ENV="development", DOORSTEP_LOG_LEVEL="WARNING")
    return env


def run(main, name: str) -> None:
    """Exit with main()'s status; Ctrl-C still stops gunicorn and drops the database (the finally
    blocks run), then says so."""
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        sys.exit(130)
