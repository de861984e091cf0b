"""Append-only, hash-chained audit trail: who changed what, when, from where, and what it was before."""

from app.audit.services import record, record_many, recorded_for, verify_chain

__all__ = ["record", "record_many", "recorded_for", "verify_chain"]
