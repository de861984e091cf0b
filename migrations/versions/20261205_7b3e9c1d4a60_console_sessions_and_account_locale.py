"""console_session: the staff console's server-side sessions; user_account.locale: the language
an account chose for the console (NULL: follow the browser's Accept-Language)

Revision ID: 7b3e9c1d4a60
Revises: 5e1a7c3d9b20
Create Date: 2026-12-05 09:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

revision = "7b3e9c1d4a60"
down_revision = "5e1a7c3d9b20"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "console_session",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_console_session_user_id_user_account"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_console_session")),
    )
    op.create_index(op.f("ix_console_session_user_id"), "console_session", ["user_id"], unique=False)
    op.create_index(op.f("ix_console_session_expires_at"), "console_session", ["expires_at"], unique=False)
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("locale", sa.String(length=8), nullable=True))


def downgrade():
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_column("locale")
    op.drop_index(op.f("ix_console_session_expires_at"), table_name="console_session")
    op.drop_index(op.f("ix_console_session_user_id"), table_name="console_session")
    op.drop_table("console_session")
