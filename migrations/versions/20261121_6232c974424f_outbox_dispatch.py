"""outbox dispatch: claims with leases, back-off, skip reasons, the recipient's blind index; SMS opt-outs

Revision ID: 6232c974424f
Revises: adc7b30c3326
Create Date: 2026-11-21 18:44:00.962233

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "6232c974424f"
down_revision = "adc7b30c3326"
branch_labels = None
depends_on = None

OLD_STATUSES = "status IN ('pending', 'sending', 'sent', 'failed', 'dead', 'unknown')"
NEW_STATUSES = "status IN ('pending', 'sending', 'sent', 'failed', 'dead', 'unknown', 'skipped')"


def upgrade():
    op.create_table(
        "sms_opt_out",
        sa.Column("phone_bidx", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("station_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("source IN ('citizen', 'staff')", name=op.f("ck_sms_opt_out_source")),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["user_account.id"], name=op.f("fk_sms_opt_out_created_by_id_user_account")
        ),
        sa.ForeignKeyConstraint(["station_id"], ["station.id"], name=op.f("fk_sms_opt_out_station_id_station")),
        sa.PrimaryKeyConstraint("phone_bidx", name=op.f("pk_sms_opt_out")),
    )

    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recipient_bidx", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("claim_token", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("skip_reason", sa.String(length=16), nullable=True))
    # Existing rows are due when they were; a row caught in 'sending' gets an expired lease, so the
    # dispatcher's first sweep reports it 'unknown' instead of leaving it claimed for ever.
    op.execute("UPDATE notification SET next_attempt_at = due_at")
    op.execute("UPDATE notification SET lease_until = created_at WHERE status = 'sending'")
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.alter_column("next_attempt_at", existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.drop_constraint(op.f("ck_notification_status"), type_="check")
        batch_op.create_check_constraint(op.f("ck_notification_status"), NEW_STATUSES)
        batch_op.create_check_constraint(
            op.f("ck_notification_sending_has_lease"), "status != 'sending' OR lease_until IS NOT NULL"
        )
        batch_op.create_index("ix_notification_ready", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index("ix_notification_recipient_claimed", ["recipient_bidx", "claimed_at"], unique=False)


def downgrade():
    # 'skipped' did not exist before: such rows were simply never sent, which 'dead' says too.
    op.execute("UPDATE notification SET status = 'dead' WHERE status = 'skipped'")
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_index("ix_notification_recipient_claimed")
        batch_op.drop_index("ix_notification_ready")
        batch_op.drop_constraint(op.f("ck_notification_sending_has_lease"), type_="check")
        batch_op.drop_constraint(op.f("ck_notification_status"), type_="check")
        batch_op.create_check_constraint(op.f("ck_notification_status"), OLD_STATUSES)
        batch_op.drop_column("skip_reason")
        batch_op.drop_column("lease_until")
        batch_op.drop_column("claimed_at")
        batch_op.drop_column("claim_token")
        batch_op.drop_column("next_attempt_at")
        batch_op.drop_column("recipient_bidx")

    op.drop_table("sms_opt_out")
