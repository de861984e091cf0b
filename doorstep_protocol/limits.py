"""Protocol version and the sizes both sides hold each other to (docs/sync-protocol.md)."""

from __future__ import annotations

PROTOCOL_VERSION = 1
SUPPORTED_PROTOCOLS = (1,)
MAX_MUTATIONS_PER_PUSH = 500  # more in one push is refused: 413 too-many-mutations
MAX_PULL_LIMIT = 1000  # the largest page a pull may ask for, and the default
