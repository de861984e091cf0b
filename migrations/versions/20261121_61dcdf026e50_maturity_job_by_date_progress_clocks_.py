"""maturity job by date: progress clocks, scheduled stage, daily list derived

Registrations made well before they mature are SCHEDULED (stage 3): the maturity job finds them
by date, as its clocks (``maturity_progress``) pass it, and no longer writes to each one. The
daily maturity list is read from the registrations instead of being written line by line. The
outbox's per-recipient index holds claimed messages only (the rate limit counts claims), so
queueing a message writes nothing there.

Revision ID: 61dcdf026e50
Revises: 1aef4dc0197d
Create Date: 2026-11-21 20:19:24.074542

"""

from datetime import timedelta

import sqlalchemy as sa
from alembic import op

from app import clock

# Queued registrations maturing this long after the upgrade are handed to the clock: far enough
# for any pre-notice window the job is configured with, and for the server's date to be behind
# or ahead of Asia/Shanghai's. The rest stay queued and go out as before.
SCHEDULE_AFTER_DAYS = 31


# revision identifiers, used by Alembic.
revision = "61dcdf026e50"
down_revision = "1aef4dc0197d"
branch_labels = None
depends_on = None

registration = sa.table(
    "registration",
    sa.column("status", sa.String),
    sa.column("maturity_date", sa.Date),
    sa.column("maturity_notice_stage", sa.SmallInteger),
)
progress = sa.table("maturity_progress", sa.column("kind", sa.String), sa.column("through", sa.Date))


def upgrade():
    op.create_table(
        "maturity_progress",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("through", sa.Date(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", name=op.f("pk_maturity_progress")),
    )
    with op.batch_alter_table("maturity_notice", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_maturity_notice_area_day"))
        batch_op.drop_index(batch_op.f("ix_maturity_notice_station_day"))

    op.drop_table("maturity_notice")

    with op.batch_alter_table("registration", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_registration_maturity_notice_stage"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_registration_maturity_notice_stage"), "maturity_notice_stage IN (0, 1, 2, 3)"
        )

    op.execute(
        registration.update()
        .where(
            registration.c.status == "active",
            registration.c.maturity_notice_stage == 0,
            registration.c.maturity_date > clock.today() + timedelta(days=SCHEDULE_AFTER_DAYS),
        )
        .values(maturity_notice_stage=3)
    )

    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_index("ix_notification_recipient_claimed")
        batch_op.create_index(
            "ix_notification_recipient_claimed",
            ["recipient_bidx", "claimed_at"],
            unique=False,
            sqlite_where=sa.text("claimed_at IS NOT NULL"),
            postgresql_where=sa.text("claimed_at IS NOT NULL"),
        )


def downgrade():
    # Scheduled registrations back into the old stages: told if the notice clock passed their
    # date, pre-noticed if the pre-notice clock did, queued otherwise. The daily list's past lines
    # are not written back: the old list starts empty.
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_index("ix_notification_recipient_claimed")
        batch_op.create_index("ix_notification_recipient_claimed", ["recipient_bidx", "claimed_at"], unique=False)

    through = {
        kind: sa.select(progress.c.through).where(progress.c.kind == kind).scalar_subquery()
        for kind in ("maturity_reached", "maturity_soon")
    }
    scheduled = registration.c.maturity_notice_stage == 3
    op.execute(
        registration.update()
        .where(scheduled, registration.c.maturity_date <= through["maturity_reached"])
        .values(maturity_notice_stage=2)
    )
    op.execute(
        registration.update()
        .where(scheduled, registration.c.maturity_date <= through["maturity_soon"])
        .values(maturity_notice_stage=1)
    )
    op.execute(registration.update().where(scheduled).values(maturity_notice_stage=0))

    with op.batch_alter_table("registration", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_registration_maturity_notice_stage"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_registration_maturity_notice_stage"), "maturity_notice_stage IN (0, 1, 2)"
        )

    op.create_table(
        "maturity_notice",
        sa.Column("registration_id", sa.Uuid(), nullable=False),
        sa.Column("station_id", sa.Uuid(), nullable=False),
        sa.Column("area_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("sms", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["area_id"], ["area.id"], name=op.f("fk_maturity_notice_area_id_area")),
        sa.ForeignKeyConstraint(
            ["registration_id"], ["registration.id"], name=op.f("fk_maturity_notice_registration_id_registration")
        ),
        sa.ForeignKeyConstraint(["station_id"], ["station.id"], name=op.f("fk_maturity_notice_station_id_station")),
        sa.PrimaryKeyConstraint("registration_id", name=op.f("pk_maturity_notice")),
    )
    with op.batch_alter_table("maturity_notice", schema=None) as batch_op:
        batch_op.create_index("ix_maturity_notice_station_day", ["station_id", "day"], unique=False)
        batch_op.create_index("ix_maturity_notice_area_day", ["area_id", "day"], unique=False)

    op.drop_table("maturity_progress")
