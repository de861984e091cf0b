"""Fixtures for the citizens' H5 tests."""

from __future__ import annotations

import pytest

from tests.app.auth.helpers import SmsBox


@pytest.fixture
def sms(caplog) -> SmsBox:
    """The console SMS sender's log, from which the tests read the code a phone would get."""
    caplog.set_level("INFO", logger="doorstep.sms")
    return SmsBox(caplog)
