"""JSON logs, one object per line, each carrying the request id; personal numbers scrubbed."""

from __future__ import annotations

import logging
import sys

import orjson

from app import clock
from app.context import current_meta
from app.pii import scrub


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        meta = current_meta()
        entry = {
            "ts": clock.from_system(record.created).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": scrub(record.getMessage()),
            "request_id": meta.request_id if meta else None,
        }
        for key in ("event", "status", "path", "method", "duration_ms", "user_id"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exc"] = scrub(self.formatException(record.exc_info))
        return orjson.dumps(entry, default=str).decode()


def configure(level: str) -> None:
    """Replace the root handlers once; called from ``create_app``."""
    root = logging.getLogger()
    level = str(level).upper()  # logging knows "DEBUG", not "debug"
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        root.setLevel(level)
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
