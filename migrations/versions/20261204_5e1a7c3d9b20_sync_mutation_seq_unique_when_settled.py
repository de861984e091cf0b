"""sync_mutation: a device's seq is unique among the mutations it settled, not the refused

A mutation that reuses a settled seq (a tablet restored from a backup, two mutations with one
seq in a push) is refused as ``seq-reused`` and kept for staff like every refusal; the plain
unique constraint on (device_id, seq) turned storing that refusal into a 500 that rolled back
the whole push. The guard stays for what was applied or recorded as a conflict.

Revision ID: 5e1a7c3d9b20
Revises: 9d41e7c2a5b8
Create Date: 2026-12-04 11:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

revision = "5e1a7c3d9b20"
down_revision = "9d41e7c2a5b8"
branch_labels = None
depends_on = None

SETTLED = sa.text("status <> 'rejected'")


def upgrade():
    with op.batch_alter_table("sync_mutation", schema=None) as batch_op:
        batch_op.drop_constraint("uq_sync_mutation_device_seq", type_="unique")
    op.create_index(
        "uq_sync_mutation_device_seq",
        "sync_mutation",
        ["device_id", "seq"],
        unique=True,
        sqlite_where=SETTLED,
        postgresql_where=SETTLED,
    )


def downgrade():
    op.drop_index("uq_sync_mutation_device_seq", table_name="sync_mutation")
    op.execute(
        "DELETE FROM sync_conflict WHERE mutation_id IN (SELECT mutation_id FROM sync_mutation m WHERE "
        "status = 'rejected' AND EXISTS (SELECT 1 FROM sync_mutation o WHERE o.device_id = m.device_id "
        "AND o.seq = m.seq AND o.status <> 'rejected'))"
    )
    op.execute(
        "DELETE FROM sync_mutation WHERE status = 'rejected' AND EXISTS (SELECT 1 FROM sync_mutation o "
        "WHERE o.device_id = sync_mutation.device_id AND o.seq = sync_mutation.seq AND o.status <> 'rejected')"
    )
    with op.batch_alter_table("sync_mutation", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_sync_mutation_device_seq", ["device_id", "seq"])
