"""Messages about bookings and visits, written to the outbox with the change that causes them.
Sending is the outbox dispatcher's job; each row has a dedupe key so a retry never doubles it."""

from __future__ import annotations

from app.notify import outbox
from app.notify.templates import TEMPLATES
from appointments.booking import reference

PURPOSE_NAMES = {
    "zh": {
        "registration": "居住登记",
        "permit_application": "居住证申领",
        "permit_delivery": "居住证送达",
        "other": "其他事项",
    },
    "en": {
        "registration": "residence registration",
        "permit_application": "permit application",
        "permit_delivery": "permit delivery",
        "other": "other business",
    },
}

TEMPLATES.update(
    {
        "booking_confirmed": {
            "zh": "【{station}】预约成功，编号{reference}。{day} {start}-{end}上门办理{purpose}。查看或变更：{link}",
            "en": "[{station}] Booked {reference}: {day} {start}-{end}. Change: {link}",
        },
        "visit_assigned": {
            "zh": "【{station}】您{day} {start}-{end}的上门服务由{officer}负责，预约编号{reference}。",
            "en": "[{station}] Your visit on {day} {start}-{end} will be made by {officer}. Ref {reference}.",
        },
        "visit_moved": {
            "zh": "【{station}】您的预约{reference}已改至{day} {start}-{end}。详情：{link}",
            "en": "[{station}] Booking {reference} moved to {day} {start}-{end}: {link}",
        },
        "visit_cancelled": {
            "zh": "【{station}】您的预约{reference}已取消。如需办理请重新预约。",
            "en": "[{station}] Your booking {reference} is cancelled. Book again if you still need a visit.",
        },
        "visit_reminder": {
            "zh": "【{station}】提醒：明天{start}-{end}上门办理{purpose}，请留人在家。改约：{link}",
            "en": "[{station}] Visit tomorrow {start}-{end}, please be home. Change: {link}",
        },
    }
)


def reminder_dedupe_key(visit_id, day) -> str:
    """The evening-before reminder: one per visit per date (a moved visit gets a new one)."""
    return f"visit-reminder:{visit_id}:{day.isoformat()}"


def _params(booking, **extra) -> dict:
    """The text's parameters but the station's name, which ``outbox.queue`` adds first."""
    return {
        "reference": reference.display(booking.reference),  # as the H5 shows it, with its check
        "day": booking.day.isoformat(),
        "start": booking.window_start.strftime("%H:%M"),
        "end": booking.window_end.strftime("%H:%M"),
        "purpose": PURPOSE_NAMES.get(booking.locale, PURPOSE_NAMES["zh"])[booking.purpose],
        # The page for this booking (app.short_links): signed only when the text is sent.
        "link": f"B:{booking.reference}",
        **extra,
    }


def notify(kind: str, booking, dedupe_key: str, **extra) -> None:
    outbox.add(notice(kind, booking, dedupe_key, **extra))


def notice(kind: str, booking, dedupe_key: str, **extra) -> dict:
    """The outbox row of ``notify``'s notice, made now, for ``outbox.add`` once the booking is written."""
    return outbox.notice(
        kind,
        _params(booking, **extra),
        phone_enc=booking.contact_phone_enc,
        user_id=booking.citizen_id,
        station_id=booking.station_id,
        locale=booking.locale,
        dedupe_key=dedupe_key,
    )
