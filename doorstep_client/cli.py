"""The command line: ``python -m doorstep_client --db tablet.sqlite3 …``."""

from __future__ import annotations

import argparse
import getpass
import sqlite3
import sys
from collections.abc import Sequence
from datetime import date
from typing import NoReturn, TextIO

from doorstep_client.errors import ClientError, ProblemError
from doorstep_client.tablet import TabletClient
from doorstep_client.transport import Transport
from doorstep_protocol.vocabulary import HOUSING, OUTCOMES, REASONS, SEXES


class _Parser(argparse.ArgumentParser):
    """argparse already exits 2 on usage errors; this keeps the message on one screen."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        print(f"{self.prog}: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m doorstep_client", description="The Doorstep reference tablet client.")
    parser.add_argument("--db", required=True, help="the tablet's SQLite file (created if missing)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = sub.add_parser("enroll", help="enrol this tablet with the code staff gave you")
    p.add_argument("--server", required=True, help="e.g. https://doorstep.example")
    p.add_argument("--code", required=True)
    p = sub.add_parser("login", help="log in on this tablet (password prompted)")
    p.add_argument("--username", required=True)
    p = sub.add_parser("visits", help="your visits")
    p.add_argument("--day", help="YYYY-MM-DD")
    p = sub.add_parser("register-resident", help="register a person (offline)")
    p.add_argument("--name", required=True)
    p.add_argument("--sex", required=True, choices=SEXES)
    p.add_argument("--identity", required=True, help="identity number")
    p.add_argument("--phone")
    p.add_argument("--ethnicity", default="汉族")
    p.add_argument("--hukou", default="", help="hukou address")
    p = sub.add_parser("register-residence", help="register residence (offline)")
    p.add_argument("--resident", required=True, help="resident id")
    p.add_argument("--area", required=True, help="area id")
    p.add_argument("--address", required=True)
    p.add_argument("--start", required=True, type=_date_arg, help="YYYY-MM-DD")
    p.add_argument("--reason", required=True, choices=REASONS)
    p.add_argument("--housing", required=True, choices=HOUSING)
    p.add_argument("--landlord")
    p.add_argument("--landlord-phone")
    p.add_argument("--employer")
    p = sub.add_parser("start", help="set out for a visit (offline)")
    p.add_argument("visit_id")
    p = sub.add_parser("outcome", help="record a visit's outcome (offline)")
    p.add_argument("visit_id")
    p.add_argument("outcome", choices=OUTCOMES)
    p.add_argument("--note", default="")
    sub.add_parser("sync", help="push what you did, pull what changed")
    sub.add_parser("pending", help="what has not been accepted by the server yet")
    sub.add_parser("conflicts", help="edits the server merged differently")
    sub.add_parser("rejections", help="edits the server refused")
    return parser


def _date_arg(value: str) -> str:
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError("must be a date YYYY-MM-DD") from None


def _read_password() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("Password: ")
    return sys.stdin.readline().rstrip("\n")


def main(argv: Sequence[str] | None = None, *, transport: Transport | None = None, out: TextIO | None = None) -> int:
    """Exit codes: 0 done, 1 the server or the tablet said no (the reason is printed), 2 usage."""
    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    try:
        with TabletClient(args.db, transport) as client:
            return _run(client, args, out)
    except ProblemError as exc:
        print(f"error: {exc}", file=sys.stderr)
        for name, messages in (exc.errors or {}).items():
            text = "; ".join(map(str, messages)) if isinstance(messages, list) else messages
            print(f"  {name}: {text}", file=sys.stderr)
        return 1
    except (ClientError, sqlite3.Error, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _run(client: TabletClient, args: argparse.Namespace, out: TextIO) -> int:
    def say(*parts: object) -> None:
        print(*parts, file=out)

    cmd = args.command
    if cmd == "enroll":
        say(f"enrolled as device {client.enroll(args.server, args.code)}")
    elif cmd == "login":
        client.login(args.username, _read_password())
        say(f"logged in as {args.username}")
    elif cmd == "visits":
        visits = client.visits(args.day)
        for v in visits:
            d = v["data"]
            flag = " (not synced)" if v["pending"] else ""
            say(
                f"{d.get('day')} {d.get('window_start') or '--:--'}-{d.get('window_end') or '--:--'}  "
                f"{d.get('status'):<11} {v['id']}  {d.get('address') or ''}"
                + (f"  [{d.get('purpose')}]" if d.get("purpose") else "")
                + flag
            )
        say(f"{len(visits)} visit(s)")
    elif cmd == "register-resident":
        rid = client.register_resident(
            args.name, args.sex, args.identity, phone=args.phone, ethnicity=args.ethnicity, hukou_address=args.hukou
        )
        say(f"resident {rid} registered on this tablet; run sync to send it")
    elif cmd == "register-residence":
        rid = client.register_residence(
            args.resident,
            args.area,
            args.address,
            args.start,
            args.reason,
            args.housing,
            landlord_name=args.landlord,
            landlord_phone=args.landlord_phone,
            employer_name=args.employer,
        )
        say(f"registration {rid} recorded on this tablet; run sync to send it")
    elif cmd == "start":
        client.start_visit(args.visit_id)
        say(f"visit {args.visit_id} started")
    elif cmd == "outcome":
        client.record_outcome(args.visit_id, args.outcome, args.note)
        say(f"visit {args.visit_id}: {args.outcome} recorded; run sync to send it")
    elif cmd == "sync":
        report = client.sync()
        say(report.summary())
        if report.conflicts or report.rejected:
            say("see: conflicts, rejections")
    elif cmd == "pending":
        rows = client.pending()
        for m in rows:
            say(f"#{m['seq']:<5} {m['entity']}.{m['op']:<16} {m['id']}  {m['state']}  {m['occurred_at']}")
        say(f"{len(rows)} pending")
    elif cmd == "conflicts":
        rows = client.conflicts()
        for c in rows:
            fields = ", ".join(
                f"{k}: server {v.get('server')!r}, yours {v.get('device')!r}" if isinstance(v, dict) else f"{k}: {v}"
                for k, v in (c["fields"] or {}).items()
            )
            say(f"#{c['seq']:<5} {c['entity']} {c['id']}  {c['kind'] or 'conflict'}  {fields}")
        say(f"{len(rows)} conflict(s)")
    elif cmd == "rejections":
        rows = client.rejections()
        for r in rows:
            errors = "; ".join(
                f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in (r["errors"] or {}).items()
            )
            say(f"#{r['seq']:<5} {r['entity']}.{r['op']} {r['id']}  {errors}")
        say(f"{len(rows)} rejection(s)")
    return 0
