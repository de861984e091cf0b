"""The shared test vectors (``vectors/*.json``, described in ``vectors/README.md``), for the
server's tests and every client's: one set of facts, loaded the same way on both sides."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

VECTORS = Path(__file__).resolve().parent / "vectors"


def vectors(name: str) -> dict[str, Any]:
    """``vectors("receipts")``: the parsed ``vectors/receipts.json``."""
    parsed: dict[str, Any] = json.loads((VECTORS / f"{name}.json").read_text(encoding="utf-8"))
    return parsed
