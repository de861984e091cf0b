"""scheduler jobs: the maturity notice stage of each registration and the daily maturity list;
indexes for the scheduler's scans of owed materials and pending deliveries

Revision ID: 1aef4dc0197d
Revises: 6232c974424f
Create Date: 2026-11-21 18:44:18.654850

"""

from datetime import timedelta

import sqlalchemy as sa
from alembic import op

from app import clock

# Registrations that matured this long before the upgrade are taken as already told: the first
# tick must not text every resident who matured in years past "you can now apply".
BACKFILL_DAYS = 30


# revision identifiers, used by Alembic.
revision = "1aef4dc0197d"
down_revision = "6232c974424f"
branch_labels = None
depends_on = None


def upgrade():
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
        batch_op.create_index("ix_maturity_notice_area_day", ["area_id", "day"], unique=False)
        batch_op.create_index("ix_maturity_notice_station_day", ["station_id", "day"], unique=False)

    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.create_index("ix_delivery_status", ["status"], unique=False)

    with op.batch_alter_table("material", schema=None) as batch_op:
        batch_op.create_index("ix_material_status", ["status", "application_id"], unique=False)

    with op.batch_alter_table("registration", schema=None) as batch_op:
        batch_op.add_column(sa.Column("maturity_notice_stage", sa.SmallInteger(), server_default="0", nullable=False))
        batch_op.create_check_constraint(
            op.f("ck_registration_maturity_notice_stage"), "maturity_notice_stage IN (0, 1, 2)"
        )
        batch_op.create_index(
            "ix_registration_maturity_due", ["status", "maturity_notice_stage", "maturity_date"], unique=False
        )

    registration = sa.table(
        "registration", sa.column("maturity_date", sa.Date), sa.column("maturity_notice_stage", sa.SmallInteger)
    )
    op.execute(
        registration.update()
        .where(registration.c.maturity_date < clock.today() - timedelta(days=BACKFILL_DAYS))
        .values(maturity_notice_stage=2)
    )


def downgrade():
    with op.batch_alter_table("registration", schema=None) as batch_op:
        batch_op.drop_index("ix_registration_maturity_due")
        batch_op.drop_constraint(op.f("ck_registration_maturity_notice_stage"), type_="check")
        batch_op.drop_column("maturity_notice_stage")

    with op.batch_alter_table("material", schema=None) as batch_op:
        batch_op.drop_index("ix_material_status")

    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_index("ix_delivery_status")

    with op.batch_alter_table("maturity_notice", schema=None) as batch_op:
        batch_op.drop_index("ix_maturity_notice_station_day")
        batch_op.drop_index("ix_maturity_notice_area_day")

    op.drop_table("maturity_notice")
