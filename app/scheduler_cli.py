"""``flask --app wsgi scheduler``: the scheduler's own process, with its metrics port. Apart from
``app.scheduler`` (the engine) so that ``app.metrics`` can read the engine's state without a cycle."""

from __future__ import annotations

import signal
import threading

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from app.metrics import serve_for_scheduler
from app.scheduler import Scheduler

# --- flask --app wsgi scheduler ------------------------------------------------------------------


@click.command("scheduler")
@click.option("--once", is_flag=True, help="Run every job once if no other scheduler leads, then exit (cron-style).")
@with_appcontext
def scheduler_command(once: bool) -> None:
    """Run the scheduler: the jobs run here while this process leads, otherwise it stands by."""
    # The app itself, not the proxy (the scheduler's threads have no app context): a method of
    # werkzeug's LocalProxy, which Flask types as the Flask it stands for.
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    in_process = app.extensions.pop("doorstep.scheduler", None)
    if in_process is not None:  # DOORSTEP_SCHEDULER_IN_PROCESS was set as well: one per process
        in_process.stop()
    if once:
        results = Scheduler(app).run_all_once()
        if not results:
            click.echo("another scheduler leads; nothing was run")
        for name, result in results.items():
            click.echo(f"{name}: {result}")
        return
    try:  # before the scheduler starts: a port in use must not leave a leader behind
        metrics_server = serve_for_scheduler(app)
    except OSError as exc:
        raise click.ClickException(
            f"cannot serve metrics on {app.config['SCHEDULER_METRICS_ADDR']}:"
            f"{app.config['SCHEDULER_METRICS_PORT']}: {exc}"
        ) from exc
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda *_: stopping.set())
    scheduler = Scheduler(app).start()
    click.echo(f"scheduler {scheduler.lock.holder} running ({scheduler.lock.kind}); Ctrl-C stops it", err=True)
    if metrics_server is not None:
        host, port = metrics_server[0].socket.getsockname()[:2]  # server_address, as a (str, int) pair
        click.echo(f"metrics on http://{host}:{port}/metrics", err=True)
    try:
        while not stopping.wait(1):
            pass
    finally:
        scheduler.stop()
        if metrics_server is not None:
            metrics_server[0].shutdown()
            metrics_server[0].server_close()
    click.echo("scheduler stopped", err=True)
