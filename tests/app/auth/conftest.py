import pytest

from tests.app.auth.helpers import SmsBox


@pytest.fixture
def sms(caplog):
    """The console SMS sender's log, from which tests read the codes a phone would get."""
    caplog.set_level("INFO", logger="doorstep.sms")
    return SmsBox(caplog)
