"""sync_mutation: the payload is kept only when a mutation is refused

An applied mutation lives on in its record and its audit event; only a refused one needs its
payload kept for staff to resolve. Applied ones store NULL.

Revision ID: 9d41e7c2a5b8
Revises: 3f0c2a9d7b14
Create Date: 2026-11-22 12:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "9d41e7c2a5b8"
down_revision = "3f0c2a9d7b14"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("sync_mutation", schema=None) as batch_op:
        batch_op.alter_column("payload", existing_type=sa.JSON(), nullable=True)


def downgrade():
    op.execute("UPDATE sync_mutation SET payload = '{}' WHERE payload IS NULL")
    with op.batch_alter_table("sync_mutation", schema=None) as batch_op:
        batch_op.alter_column("payload", existing_type=sa.JSON(), nullable=False)
