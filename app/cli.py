"""Operator commands: ``flask --app wsgi <command>``."""

from __future__ import annotations

import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import with_appcontext

from app import unit_of_work
from app.audit import verify_chain
from app.auth.actor import Actor
from app.auth.keys import create_key
from app.errors import DomainError
from app.extensions import db
from app.org.models import Area, Station, User
from app.org.services import create_area, create_station, create_user
from app.scheduler_cli import scheduler_command


def add_demo_populator(app: Flask, populate: Callable[[Station, list[Area], User, list[User]], str]) -> None:
    """What fills the demo station after ``seed-demo`` made its accounts: a feature (or the
    composition root, compose/seed_demo.py) adds ``populate(station, areas, staff, officers)``,
    which returns a line for the command to print. Kept per app: tests build many apps."""
    app.extensions.setdefault("doorstep.demo_populators", []).append(populate)


def register(app: Flask) -> None:
    """The kernel's commands; features add theirs in their own ``register(app)``."""
    for command in (create_admin, seed_demo, rotate_keys, audit_verify, scheduler_command):
        app.cli.add_command(command)


@dataclass(frozen=True)
class _System(Actor):
    """The actor of operator commands in the audit trail: no account, and an administrator's reach."""

    user_id: UUID | None = None
    role: str = "system"
    station_id: UUID | None = None

    @property
    def is_admin(self) -> bool:
        return True


@click.command("create-admin")
@click.option("--username", required=True)
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="At least 10 characters; asked for when omitted, which keeps it out of shell history",
)
@with_appcontext
@unit_of_work.in_unit
def create_admin(username: str, password: str) -> None:
    """Create a sub-bureau administrator account."""
    try:
        user = create_user(_System(), {"username": username, "password": password, "role": "admin"})
    except DomainError as exc:
        raise click.ClickException(exc.detail) from None
    click.echo(f"created admin {user.username} ({user.id})")


@click.command("seed-demo")
@click.option("--if-empty", is_flag=True, help="Do nothing when any station exists")
@with_appcontext
@unit_of_work.in_unit
def seed_demo(if_empty: bool) -> None:
    """A small demo: one station, two areas, staff, an officer and an auxiliary officer, and a day's
    work for the console (compose/seed_demo.py)."""
    if db.session.execute(sa.select(Station.id).limit(1)).first() is not None:
        if if_empty:
            return
        raise click.ClickException("the database already has stations; seed-demo runs on an empty one")
    system = _System()
    station = create_station(system, {"code": "DEMO01", "name": "示范派出所"})
    north = create_area(system, {"station_id": station.id, "code": "NORTH", "name": "北山社区", "kind": "community"})
    east = create_area(system, {"station_id": station.id, "code": "EAST", "name": "东湖警务室", "kind": "police_point"})
    accounts = [
        ("demo.admin", "admin", None, []),
        ("demo.staff", "staff", station.id, []),
        ("demo.officer", "officer", station.id, [north.id]),
        ("demo.auxiliary", "auxiliary", station.id, [north.id]),
    ]
    names = {"demo.admin": "分局管理员", "demo.staff": "李明", "demo.officer": "王建国", "demo.auxiliary": "赵小军"}
    phones = {"demo.officer": "13900001001", "demo.auxiliary": "13900001002"}
    users: dict[str, User] = {}
    lines: list[str] = []
    for username, role, station_id, areas in accounts:
        password = secrets.token_urlsafe(12)
        users[username] = create_user(
            system,
            {
                "username": username,
                "password": password,
                "role": role,
                "station_id": station_id,
                "display_name": names[username],
                "area_ids": areas,
                "phone": phones.get(username),
            },
        )
        lines.append(f"  {role:<10} {username:<16} {password}")
    for populate in current_app.extensions.get("doorstep.demo_populators", []):
        click.echo(
            populate(station, [north, east], users["demo.staff"], [users["demo.officer"], users["demo.auxiliary"]])
        )
    click.echo("Demo accounts (shown once; change them before real use):")
    for line in lines:
        click.echo(line)
    click.echo("The station console is at /console/login: log in there as demo.staff.")
    sys.stdout.flush()


@click.command("rotate-keys")
@with_appcontext
@unit_of_work.in_unit
def rotate_keys() -> None:
    """Start signing with a new key; the old one verifies until its tokens expire."""
    key = create_key()
    db.session.flush()
    click.echo(f"new signing key {key.kid}")


@click.command("audit-verify")
@with_appcontext
def audit_verify() -> None:
    """Check the audit chain; exit 1 at the first edited, missing or unlinked event."""
    report = verify_chain()
    if report.ok:
        click.echo(f"audit chain intact: {report.checked} events")
        return
    click.echo(
        f"audit chain BROKEN at event {report.at_id}: {report.problem} ({report.checked} verified before)", err=True
    )
    sys.exit(1)
