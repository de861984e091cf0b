"""visit_rating: 好差评, a citizen's 1-5 stars and comment for a completed visit, once per visit

Revision ID: e2a7f4c9b1d3
Revises: c4d2e8f1a3b7
Create Date: 2026-12-07 09:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

revision = "e2a7f4c9b1d3"
down_revision = "c4d2e8f1a3b7"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "visit_rating",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("visit_id", sa.Uuid(), nullable=False),
        sa.Column("citizen_id", sa.Uuid(), nullable=False),
        sa.Column("station_id", sa.Uuid(), nullable=False),
        sa.Column("officer_id", sa.Uuid(), nullable=True),
        sa.Column("stars", sa.SmallInteger(), nullable=False),
        sa.Column("comment", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("stars BETWEEN 1 AND 5", name=op.f("ck_visit_rating_stars")),
        sa.ForeignKeyConstraint(
            ["citizen_id"], ["user_account.id"], name=op.f("fk_visit_rating_citizen_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["officer_id"], ["user_account.id"], name=op.f("fk_visit_rating_officer_id_user_account")
        ),
        sa.ForeignKeyConstraint(["station_id"], ["station.id"], name=op.f("fk_visit_rating_station_id_station")),
        sa.ForeignKeyConstraint(["visit_id"], ["visit.id"], name=op.f("fk_visit_rating_visit_id_visit")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit_rating")),
        sa.UniqueConstraint("visit_id", name=op.f("uq_visit_rating_visit_id")),
    )
    with op.batch_alter_table("visit_rating", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_visit_rating_citizen_id"), ["citizen_id"], unique=False)
        batch_op.create_index("ix_visit_rating_station_officer", ["station_id", "officer_id"], unique=False)


def downgrade():
    with op.batch_alter_table("visit_rating", schema=None) as batch_op:
        batch_op.drop_index("ix_visit_rating_station_officer")
        batch_op.drop_index(batch_op.f("ix_visit_rating_citizen_id"))

    op.drop_table("visit_rating")
