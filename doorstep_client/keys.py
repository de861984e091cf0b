"""The tablet's device key: made once at enrolment, kept in the tablet's file, used to prove
possession on every request (``Device-Proof``) and to sign receipts at the door. The canonical
bytes come from ``doorstep_protocol``; only the curve arithmetic is done here."""

from __future__ import annotations

import secrets

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from doorstep_protocol import device_proof
from doorstep_protocol.encoding import b64url, raw_signature


def new_private_key_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def load_private_key(pem: str) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("the device key is not an elliptic-curve key")
    return key


def public_jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    """What enrolment sends: the public half as a JWK."""
    numbers = key.public_key().public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url(numbers.x.to_bytes(32, "big")),
        "y": b64url(numbers.y.to_bytes(32, "big")),
    }


def compressed_point(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)


def es256_sign(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    """Raw r || s in low-S form: the only form the server accepts."""
    return raw_signature(*decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256()))))


def proof_header(key: ec.EllipticCurvePrivateKey, method: str, target: str, access_token: str, seconds: int) -> str:
    """The ``Device-Proof`` value for one request, dated ``seconds`` (the signer's clock)."""
    nonce = secrets.token_urlsafe(12)
    signature = es256_sign(key, device_proof.signing_input(method, target, seconds, nonce, access_token))
    return device_proof.header_value(seconds, nonce, signature)
