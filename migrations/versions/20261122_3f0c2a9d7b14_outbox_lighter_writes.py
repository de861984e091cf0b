"""outbox: lighter writes for bulk jobs

The outbox's station and recipient are no longer foreign keys (each queued row paid a locking
look-up of its station on PostgreSQL), the index on ``(status, due_at)`` goes (the claim reads
``(status, next_attempt_at)``, which starts at ``due_at`` and only moves later), and the station's
outbox list gets ``(station_id, created_at)`` in place of ``station_id`` alone.

Revision ID: 3f0c2a9d7b14
Revises: 61dcdf026e50
Create Date: 2026-11-22 10:00:00.000000

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "3f0c2a9d7b14"
down_revision = "61dcdf026e50"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("fk_notification_station_id_station"), type_="foreignkey")
        batch_op.drop_constraint(op.f("fk_notification_recipient_user_id_user_account"), type_="foreignkey")
        batch_op.drop_index("ix_notification_due")
        batch_op.drop_index(batch_op.f("ix_notification_station_id"))
        batch_op.create_index("ix_notification_station_created", ["station_id", "created_at"], unique=False)


def downgrade():
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_index("ix_notification_station_created")
        batch_op.create_index(batch_op.f("ix_notification_station_id"), ["station_id"], unique=False)
        batch_op.create_index("ix_notification_due", ["status", "due_at"], unique=False)
        batch_op.create_foreign_key(
            op.f("fk_notification_recipient_user_id_user_account"), "user_account", ["recipient_user_id"], ["id"]
        )
        batch_op.create_foreign_key(op.f("fk_notification_station_id_station"), "station", ["station_id"], ["id"])
