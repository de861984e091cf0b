"""permit_application.status may be 'returned' (退回补正: sent back to the citizen with a reason)

Revision ID: c4d2e8f1a3b7
Revises: 7b3e9c1d4a60
Create Date: 2026-12-06 09:00:00.000000

"""

from alembic import op

revision = "c4d2e8f1a3b7"
down_revision = "7b3e9c1d4a60"
branch_labels = None
depends_on = None

BEFORE = ("submitted", "accepted", "under_review", "approved", "rejected", "issued", "out_for_delivery", "delivered")
AFTER = (
    "submitted",
    "accepted",
    "under_review",
    "returned",
    "approved",
    "rejected",
    "issued",
    "out_for_delivery",
    "delivered",
)


def _status_check(values: tuple[str, ...]) -> None:
    with op.batch_alter_table("permit_application", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_permit_application_status"), type_="check")
        batch_op.create_check_constraint("status", f"status IN ({', '.join(repr(v) for v in values)})")


def upgrade() -> None:
    _status_check(AFTER)


def downgrade() -> None:
    op.execute("UPDATE permit_application SET status = 'submitted' WHERE status = 'returned'")
    _status_check(BEFORE)
