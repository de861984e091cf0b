"""The outbox's fixtures: ``sms`` records what the provider is asked to send (tests/app/auth has a
different ``sms``), ``queue`` queues a message as a feature would."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.extensions import db
from app.notify import outbox, senders
from tests.fixtures.outbox import NOON, Recorder


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
