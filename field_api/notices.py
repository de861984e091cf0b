"""Messages to residents about their applications and permits, written to the outbox with the
change that causes them (each with a dedupe key)."""

from __future__ import annotations

from app.notify import outbox
from app.notify.templates import TEMPLATES

TEMPLATES.update(
    {
        "application_decided": {
            "zh": "【{station}】您的居住证申请{reference}审核结果：{decision}。详情请在小程序查看。",
            "en": "[{station}] Your residence permit application {reference}: {decision}. See the mini-program.",
        },
        "application_returned": {
            "zh": "【{station}】您的居住证申请{reference}被退回补正，请在小程序查看原因，修改后重新提交。",
            "en": "[{station}] Application {reference} was returned: see why in the mini-program, correct, resubmit.",
        },
        "permit_ready": {
            "zh": "【{station}】您的居住证{number}已制证，民警将预约上门送达。",
            "en": "[{station}] Your residence permit {number} is ready; an officer will arrange delivery to your door.",
        },
    }
)


def notify_resident(application, kind: str, dedupe_key: str, **params) -> None:
    """No message when the resident left no phone number; the timeline still shows the step."""
    resident = application.resident
    if resident.phone_enc is None:
        return
    outbox.queue(kind, params, phone_enc=resident.phone_enc, station_id=application.station_id, dedupe_key=dedupe_key)
