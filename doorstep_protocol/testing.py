"""The shared test vectors (``vectors/*.json``, described in ``vectors/README.md``), for the
server's tests and every client's: one set of facts, loaded the same way on both sides."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from doorstep_protocol import receipts
from doorstep_protocol.receipts import ReceiptPayload

VECTORS = Path(__file__).resolve().parent / "vectors"


def vectors(name: str) -> dict[str, Any]:
    """``vectors("receipts")``: the parsed ``vectors/receipts.json``."""
    parsed: dict[str, Any] = json.loads((VECTORS / f"{name}.json").read_text(encoding="utf-8"))
    return parsed


def receipt_claims(inputs: dict[str, Any]) -> ReceiptPayload:
    """The claims of a receipt vector's ``inputs`` (``jti_hex`` and the facts), through
    ``receipts.payload``: ValueError for inputs no receipt may carry."""
    return receipts.payload(
        jti=bytes.fromhex(inputs["jti_hex"]),
        iat=inputs["iat"],
        permit_number=inputs["permit_number"],
        recipient_name=inputs["recipient_name"],
        identity_number=inputs["identity_number"],
        seq=inputs["seq"],
    )
