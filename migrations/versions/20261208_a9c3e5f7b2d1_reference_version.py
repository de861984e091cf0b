"""reference_version: the version token of each cached kind of reference data (app/refcache.py)

Revision ID: a9c3e5f7b2d1
Revises: e2a7f4c9b1d3
Create Date: 2026-12-08 09:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

revision = "a9c3e5f7b2d1"
down_revision = "e2a7f4c9b1d3"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "reference_version",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("kind", "scope", name=op.f("pk_reference_version")),
    )


def downgrade():
    op.drop_table("reference_version")
