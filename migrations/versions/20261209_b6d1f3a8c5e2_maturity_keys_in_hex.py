"""maturity keys in hex: the maturity messages' outbox keys and links name the registration by 32 hex digits

The maturity job makes each message's dedupe key and stored link inside its ``INSERT … SELECT``;
they now carry the id's compact form (``uuid.UUID.hex``, ``app.bulk.uuid_key``) instead of its
hyphenated text, which cost a third of the job's time to build per row on SQLite. The messages
already queued are rewritten to the same form, so the keys still deduplicate, cancel and join
(``maturity:<id>``, ``maturity-pre:<id>``), and their ``link`` param too, so every message reads
alike (a link in either form signs to the same URL: app.short_links). Downgrade restores the
hyphenated form.

Revision ID: b6d1f3a8c5e2
Revises: a9c3e5f7b2d1
Create Date: 2026-12-09 09:00:00.000000

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "b6d1f3a8c5e2"
down_revision = "a9c3e5f7b2d1"
branch_labels = None
depends_on = None

# The two key prefixes (field_api.residency.models.NOTICE_KEY, PRENOTICE_KEY), as they were when
# this was written, and the link's purpose (app.short_links).
PREFIXES = ("maturity:", "maturity-pre:")
LINK = "R:"
HYPHENATED, HEX = 36, 32


def _hex(text: str, start: int) -> str:
    """SQL: the hyphenated UUID starting at character ``start`` of ``text``, without hyphens."""
    return f"replace(substr({text}, {start}), '-', '')"


def _hyphenated(text: str, start: int) -> str:
    """SQL: the 32 hex digits starting at character ``start`` of ``text``, hyphenated."""
    parts = [(0, 8), (8, 4), (12, 4), (16, 4), (20, 12)]
    return " || '-' || ".join(f"substr({text}, {start + offset}, {length})" for offset, length in parts)


def _rewrite(to_form, from_length: int) -> None:
    """Each maturity message whose key holds an id of ``from_length`` characters: the key's id, and
    the ``link`` param's when it holds one of that length, rewritten by ``to_form``."""
    postgresql = op.get_bind().dialect.name == "postgresql"
    link = "(params->>'link')" if postgresql else "json_extract(params, '$.link')"
    new_link = f"'{LINK}' || {to_form(link, len(LINK) + 1)}"
    changed = (
        f"jsonb_set(params::jsonb, '{{link}}', to_jsonb({new_link}))::json"
        if postgresql
        else f"json_set(params, '$.link', {new_link})"
    )
    for prefix in PREFIXES:
        op.execute(
            f"UPDATE notification SET "  # noqa: S608 (constants only)
            f"dedupe_key = '{prefix}' || {to_form('dedupe_key', len(prefix) + 1)}, "
            f"params = CASE WHEN {link} LIKE '{LINK}%' AND length({link}) = {len(LINK) + from_length} "
            f"THEN {changed} ELSE params END "
            f"WHERE dedupe_key LIKE '{prefix}%' AND length(dedupe_key) = {len(prefix) + from_length}"
        )


def upgrade():
    _rewrite(_hex, HYPHENATED)


def downgrade():
    _rewrite(_hyphenated, HEX)
