"""SMS senders, chosen by ``DOORSTEP_SMS_SENDER``."""
from __future__ import annotations

import logging
import uuid

from flask import current_app

from app.pii import mask_phone

log = logging.getLogger("doorstep.sms")


class SendFailed(RuntimeError):
    """The provider refused or could not be reached; the message may be retried."""


class ConsoleSender:
    """Development: the message goes to the log (the recipient masked) instead of a phone."""

    name = "console"

    def send_sms(self, phone: str, text: str) -> str:
        log.info("SMS to %s: %s", mask_phone(phone), text, extra={"event": "sms.console"})
        return f"console-{uuid.uuid4().hex[:12]}"


SENDERS = {"console": ConsoleSender}


def get_sender():
    name = current_app.config["SMS_SENDER"]
    try:
        return SENDERS[name]()
    except KeyError:
        raise RuntimeError(f"DOORSTEP_SMS_SENDER={name!r} is not one of {sorted(SENDERS)}") from None
