"""Outbox fixtures: a sender that records what it is given (and fails when told to), a helper
that queues a message as a feature would, and a fixed clock at noon, Beijing time, outside the
quiet hours."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.notify import outbox, senders
from app.notify.models import Notification
from app.notify.policy import LOCAL_TZ

NOON = datetime(2026, 11, 23, 12, 0, tzinfo=LOCAL_TZ).astimezone(UTC)


def local(hour: int, minute: int = 0, day: int = 23) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=LOCAL_TZ).astimezone(UTC)


class Recorder:
    """What the provider was asked to send; ``fail`` (an exception, or a function of the call
    number returning one or None) makes it refuse."""

    def __init__(self):
        self.calls: list[tuple[str, str, str | None]] = []
        self.fail = None
        self.on_send = None  # called during each send: a test moves the clock there, or waits
        self.lock = threading.Lock()

    def sender_class(self):
        recorder = self

        class RecordingSender:
            name = "recording"

            def send_sms(self, phone, text, *, ref=None):
                with recorder.lock:
                    recorder.calls.append((phone, text, ref))
                    n = len(recorder.calls)
                if recorder.on_send is not None:
                    recorder.on_send()
                error = recorder.fail(n) if callable(recorder.fail) else recorder.fail
                if error is not None:
                    raise error
                return f"rec-{n}"

        return RecordingSender

    @property
    def refs(self) -> list[str]:
        return [ref for _, _, ref in self.calls]


@pytest.fixture
def sms(app, monkeypatch):
    recorder = Recorder()
    monkeypatch.setitem(senders.SENDERS, "recording", recorder.sender_class())
    monkeypatch.setitem(app.config, "SMS_SENDER", "recording")
    return recorder


@pytest.fixture
def queue(app, make):
    """``queue(phone=..., template=..., **enqueue kwargs)`` → the new row's id, committed."""
    station = {}

    def _queue(
        phone: str | None = "13800138000",
        *,
        kind: str = "visit_cancelled",
        params: dict | None = None,
        due_at=None,
        **kw,
    ):
        if "station_id" not in kw:
            station.setdefault("s", make.station())
            kw["station_id"] = station["s"].id
        with app.app_context():
            row = outbox.enqueue(
                kind,
                kw.pop("template", kind),
                params if params is not None else {"station": "北山街派出所", "reference": "ABCD2345"},
                phone=phone,
                due_at=due_at or NOON - timedelta(minutes=1),
                **kw,
            )
            db.session.commit()
            return row.id

    return _queue


def row(app, row_id) -> Notification:
    with app.app_context():
        found = db.session.get(Notification, row_id)
        db.session.expunge(found)
        return found


def rows(app) -> list[Notification]:
    with app.app_context():
        found = db.session.execute(sa.select(Notification).order_by(Notification.created_at)).scalars().all()
        for r in found:
            db.session.expunge(r)
        return found
