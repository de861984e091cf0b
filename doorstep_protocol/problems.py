"""The problem type slugs (the last segment of a problem+json ``type``) a client acts on rather
than shows. Every other problem is shown to the officer as it is."""

from __future__ import annotations

TOKEN_EXPIRED = "token-expired"  # noqa: S105  (a problem slug, not a secret) 401: refresh once, then retry
DEVICE_PROOF_REQUIRED = "device-proof-required"  # 401 with server_time: the tablet's clock is off
TOO_MANY_MUTATIONS = "too-many-mutations"  # 413: push fewer at a time


def slug_of(problem_type: str | None) -> str:
    """``https://…/problems/token-expired`` -> ``token-expired``."""
    return problem_type.rsplit("/", 1)[-1] if problem_type else ""
