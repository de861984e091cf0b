"""Receipt cost per delivery: sign + render the QR PNG on the tablet, verify on the other side.

    .venv/bin/python bench/receipts.py [-n 200]

No database and no server: a locally generated server key issues the device credential through
the same pure function the server uses (``encode_device_credential``). Against the physical floor
(one bare ES256 signature with cryptography plus one bare ``qrcode`` matrix for the same token) it
prints ``ratio`` = (sign + render) / (bare sign + bare QR). The last line is machine-readable:

    receipts: sign+render <ms> ms verify <ms> ms qr_version=<V> ratio=<R>
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import qrcode
import qrcode.constants
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from app.auth.credentials import encode_device_credential
from app.auth.keys import public_jwk
from app.db import utcnow
from doorstep_protocol.receipts import read_compact
from field_api.delivery.receipt_token import (
    QR_MASK_PATTERN,
    qr_version,
    render_png,
    sign_receipt,
    verify_receipt,
)

IDENTITY = "11010519900307005X"  # fictitious


def _per_call_ms(fn, n: int) -> float:
    started = time.perf_counter()
    for i in range(n):
        fn(i)
    return (time.perf_counter() - started) * 1000 / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200, help="receipts per measurement (default 200)")
    n = max(1, parser.parse_args().n)

    server, device = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    jwks = {"keys": [public_jwk(server.public_key(), "bench")]}
    now = utcnow().replace(microsecond=0)
    credential = encode_device_credential(
        server,
        device_id=uuid.uuid4(),
        officer_id=uuid.uuid4(),
        station_id=uuid.uuid4(),
        device_public_key=device.public_key(),
        iat=now - timedelta(hours=1),
        exp=now + timedelta(hours=23),
    )

    def sign(i: int) -> str:
        return sign_receipt(
            device,
            credential,
            permit_number=f"XH01-2026-{i:06d}",
            recipient_name="张三丰",
            identity_number=IDENTITY,
            seq=100000 + i,
        )

    # Warm up (imports, Pillow's PNG encoder, first-use caches).
    sample = sign(0)
    render_png(sample)
    verify_receipt(sample, jwks)

    _, _, signing_input, _ = read_compact(sample)

    def bare_qr() -> None:
        # the same fixed mask as the receipt: the floor is one matrix build, not eight
        qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, mask_pattern=QR_MASK_PATTERN)
        qr.add_data(sample)  # the same mode qrcode picks for the receipt: alphanumeric
        qr.make(fit=True)

    # Interleaved, receipt by receipt, so the floor is measured under the same load as the real thing.
    tokens: list[str] = []
    png_bytes = 0
    sign_render = bare_sign = bare_qr_total = 0.0
    for i in range(n):
        t0 = time.perf_counter()
        token = sign(i)
        png_bytes += len(render_png(token))
        t1 = time.perf_counter()
        device.sign(signing_input, ec.ECDSA(hashes.SHA256()))
        t2 = time.perf_counter()
        bare_qr()
        t3 = time.perf_counter()
        tokens.append(token)
        sign_render, bare_sign, bare_qr_total = sign_render + t1 - t0, bare_sign + t2 - t1, bare_qr_total + t3 - t2
    sign_render_ms, bare_sign_ms, bare_qr_ms = (v * 1000 / n for v in (sign_render, bare_sign, bare_qr_total))

    results = []
    verify_ms = _per_call_ms(lambda i: results.append(verify_receipt(tokens[i], jwks)), n)
    assert all(r.valid for r in results), next(r for r in results if not r.valid)

    versions = {qr_version(t) for t in tokens[:20]} | {qr_version(sample)}
    version = max(versions)
    lengths = [len(t) for t in tokens]
    ratio = sign_render_ms / (bare_sign_ms + bare_qr_ms)

    print(
        f"receipts: n={n} token {min(lengths)}-{max(lengths)} characters, PNG ~{png_bytes // n} bytes, "
        f"QR version(s) {sorted(versions)} at level M"
    )
    print(f"receipts: floor: bare ES256 sign {bare_sign_ms:.3f} ms + bare qrcode make {bare_qr_ms:.3f} ms")
    print(
        f"receipts: sign+render {sign_render_ms:.2f} ms verify {verify_ms:.2f} ms qr_version={version} "
        f"ratio={ratio:.2f}"
    )


if __name__ == "__main__":
    main()
