"""The outbox and the local view: what a queued mutation does to the record the officer sees,
and the rebuild that replays the unsettled mutations over the server's last word (rule 2 of
``doorstep_client``). Mixed into ``TabletClient``; it writes through ``store.Store``."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Iterable

from doorstep_client.errors import ClientError
from doorstep_client.store import JsonObject, Store, _dump, _dumps, _loads, _now_iso
from doorstep_protocol.identity import mask as mask_identity
from doorstep_protocol.identity import mask_phone

Record = JsonObject | None  # a record's data as the officer sees it; None: it does not exist
Effect = Callable[[Record, JsonObject, JsonObject], Record]
"""``effect(current, data, hints)``: what one mutation does to one record of the local view."""


def _record_of(result: JsonObject) -> tuple[str, JsonObject] | tuple[None, None]:
    """``(id, data)`` from a push result's ``record`` (``{"id": …, <the entity's data>}``)."""
    record = result.get("record")
    if not isinstance(record, dict) or "id" not in record:
        return None, None
    data = {k: v for k, v in record.items() if k not in ("id", "version")}
    return str(record["id"]), data


# --- what a mutation does to the local view -------------------------------------------------------
#
# One pure function per (entity, op): (the record as it is, the mutation) -> the record after it, or
# None when it does not exist. They are run again every time the view is rebuilt, so they must
# not depend on anything but their arguments (and ``hints``, client-side facts frozen at queue
# time, such as the station of the area a registration names).


def _apply_resident_create(current: Record, data: JsonObject, hints: JsonObject) -> Record:
    if current is not None:
        return current  # the server's record already holds this create (its answer was lost)
    return {
        "name": data.get("name"),
        "sex": data.get("sex"),
        "ethnicity": data.get("ethnicity"),
        "identity_number": mask_identity(data.get("identity_number")),
        "phone": mask_phone(data.get("phone")),
        "hukou_address": data.get("hukou_address"),
        "photo_sha256": data.get("photo_sha256"),
    }


def _apply_update(current: Record, data: JsonObject, hints: JsonObject) -> Record:
    if current is None:
        return None
    out = dict(current)
    for key, value in data.items():
        if key == "landlord_phone":
            continue  # not part of the registration the server serves
        out[key] = mask_phone(value) if key == "phone" else value
    return out


def _apply_registration_create(current: Record, data: JsonObject, hints: JsonObject) -> Record:
    if current is not None:
        return current
    return {
        "resident_id": data.get("resident_id"),
        "area_id": data.get("area_id"),
        "station_id": hints.get("station_id"),
        "address": data.get("address"),
        "start_date": data.get("start_date"),
        "maturity_date": None,
        "reason": data.get("reason"),
        "housing": data.get("housing"),
        "landlord_name": data.get("landlord_name"),
        "employer_name": data.get("employer_name"),
        "status": "active",
    }


def _set(**values: object) -> Effect:
    def apply(current: Record, data: JsonObject, hints: JsonObject) -> Record:
        return None if current is None else {**current, **values}

    return apply


def _apply_outcome(current: Record, data: JsonObject, hints: JsonObject) -> Record:
    if current is None:
        return None
    return {**current, "status": data.get("outcome"), "outcome_note": data.get("note") or None}


def _apply_application_create(current: Record, data: JsonObject, hints: JsonObject) -> Record:
    if current is not None:
        return current
    return {"resident_id": data.get("resident_id"), "materials": data.get("materials", []), "status": "queued"}


def _apply_supply(current: Record, data: JsonObject, hints: JsonObject) -> Record:
    if current is None:
        return None
    materials = [m for m in current.get("materials", []) if m.get("kind") != data.get("kind")]
    return {
        **current,
        "materials": [*materials, {"kind": data.get("kind"), "attachment_sha256": data.get("attachment_sha256")}],
    }


# (entity, op) -> {touched entity: effect}. A mutation touches its own record, and sometimes another
# (a handover completes the delivery's visit); the outbox remembers which (table ``touches``).
EFFECTS: dict[tuple[str, str], dict[str, Effect]] = {
    ("resident", "create"): {"resident": _apply_resident_create},
    ("resident", "update"): {"resident": _apply_update},
    ("registration", "create"): {"registration": _apply_registration_create},
    ("registration", "update"): {"registration": _apply_update},
    ("registration", "end"): {"registration": _set(status="ended")},
    ("visit", "start"): {"visit": _set(status="en_route")},
    ("visit", "outcome"): {"visit": _apply_outcome},
    ("application", "create"): {"application": _apply_application_create},
    ("application", "supply_material"): {"application": _apply_supply},
    ("delivery", "handover"): {"delivery": _set(status="delivered"), "visit": _set(status="completed")},
}
CREATES = {k for k in EFFECTS if k[1] == "create"}


class Outbox(Store):
    def _enqueue(
        self,
        entity: str,
        op: str,
        record_id: str,
        data: JsonObject,
        *,
        base_version: int | None = None,
        hints: JsonObject | None = None,
        touches: Iterable[tuple[str, str]] = (),
        finish: Callable[[sqlite3.Connection], None] | None = None,
    ) -> str:
        """Queue one mutation and apply it to the local view, in one transaction. ``finish(conn)``
        runs first inside it (the handover takes its receipt seq and signs there).

        An update queued right behind an unsent update of the same record (nothing else touching
        the record in between) is folded into it instead: the server would otherwise see two edits
        from one device against the same base version and report the tablet's second edit as a
        conflict with its first. Only unsent (``pending``) mutations are ever changed. Updates are
        not folded into a create: a create that links to a resident the server already knows does
        not overwrite that resident, so a folded edit would be lost."""
        hints = hints or {}
        with self._tx() as conn:
            if finish is not None:
                finish(conn)
            touched = [(entity, record_id), *touches]
            if op == "update":
                last = conn.execute(
                    "SELECT o.* FROM outbox o JOIN touches t ON t.seq = o.seq WHERE t.entity = ? AND t.record_id = ? "
                    "AND o.state IN ('pending', 'sent') ORDER BY o.seq DESC LIMIT 1",
                    (entity, record_id),
                ).fetchone()
                if (
                    last is not None
                    and last["state"] == "pending"
                    and last["entity"] == entity
                    and last["record_id"] == record_id
                    and last["op"] == "update"
                ):
                    merged = {**_loads(last["data"]), **data}
                    conn.execute(
                        "UPDATE outbox SET data = ?, occurred_at = ? WHERE seq = ?",
                        (_dumps(merged), _now_iso(), last["seq"]),
                    )
                    self._rebuild(conn, entity, record_id)
                    self._point("enqueue:before-commit")
                    return str(last["mutation_id"])
            seq = max(
                self._take_counter(conn, "next_seq"),
                (conn.execute("SELECT COALESCE(MAX(seq), 0) FROM outbox").fetchone()[0]) + 1,
            )
            self._set_meta(conn, next_seq=seq + 1)
            mutation_id = str(uuid.uuid4())
            conn.execute(
                "INSERT INTO outbox (seq, mutation_id, entity, op, record_id, base_version, data, "
                "occurred_at, hints) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (seq, mutation_id, entity, op, record_id, base_version, _dumps(data), _now_iso(), _dumps(hints)),
            )
            for t_entity, t_id in dict.fromkeys(touched):
                conn.execute("INSERT INTO touches (seq, entity, record_id) VALUES (?, ?, ?)", (seq, t_entity, t_id))
                self._rebuild(conn, t_entity, t_id)
            self._point("enqueue:before-commit")
        return mutation_id

    def _rebuild(self, conn: sqlite3.Connection, entity: str, record_id: str) -> None:
        """The view of one record: its base, then every unsettled mutation touching it, in seq order."""
        row = conn.execute(
            "SELECT base_version, base_data, evicted, seen FROM records WHERE entity = ? AND id = ?",
            (entity, record_id),
        ).fetchone()
        base = _loads(row["base_data"]) if row else None
        view = base
        for m in conn.execute(
            "SELECT o.entity, o.op, o.data, o.hints FROM outbox o JOIN touches t ON t.seq = o.seq "
            "WHERE t.entity = ? AND t.record_id = ? AND o.state IN ('pending', 'sent') ORDER BY o.seq",
            (entity, record_id),
        ):
            effect = EFFECTS.get((m["entity"], m["op"]), {}).get(entity)
            if effect is not None:
                view = effect(view, _loads(m["data"]), _loads(m["hints"]))
        if view is None and base is None:
            conn.execute("DELETE FROM records WHERE entity = ? AND id = ?", (entity, record_id))
            return
        conn.execute(
            "INSERT INTO records (entity, id, version, data, base_version, base_data) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (entity, id) DO UPDATE SET version = excluded.version, data = excluded.data",
            (entity, record_id, row["base_version"] if row else None, _dumps(view), None, None),
        )

    def _set_base(
        self,
        conn: sqlite3.Connection,
        entity: str,
        record_id: str,
        data: Record,
        version: int | None,
        *,
        from_push: bool = False,
    ) -> None:
        """Replace the server's copy and rebuild the view. A record first learnt from a push result
        is ``unconfirmed``: the server holds it, but only a pull says whether it is in this
        device's scope (a resident with no registration in the officer's areas is not)."""
        conn.execute(
            "INSERT INTO records (entity, id, version, data, base_version, base_data, unconfirmed) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (entity, id) DO UPDATE SET base_version = excluded.base_version, "
            "base_data = excluded.base_data, version = excluded.version, "
            "unconfirmed = CASE WHEN records.base_data IS NULL THEN excluded.unconfirmed ELSE records.unconfirmed END",
            (entity, record_id, version, _dumps(data), version, _dumps(data), int(from_push)),
        )
        self._rebuild(conn, entity, record_id)

    def _unsettled_for(self, conn: sqlite3.Connection, entity: str, record_id: str) -> list[sqlite3.Row]:
        return conn.execute(
            "SELECT o.* FROM outbox o JOIN touches t ON t.seq = o.seq WHERE t.entity = ? AND t.record_id = ? "
            "AND o.state IN ('pending', 'sent') ORDER BY o.seq",
            (entity, record_id),
        ).fetchall()

    def _local(self, entity: str, record_id: str) -> sqlite3.Row:
        row: sqlite3.Row | None = self.db.execute(
            "SELECT * FROM records WHERE entity = ? AND id = ? AND data IS NOT NULL", (entity, str(record_id))
        ).fetchone()
        if row is None:
            raise ClientError(f"no {entity} {record_id} on this tablet")
        return row

    def _follow_id(self, conn: sqlite3.Connection, entity: str, old: str, new: str) -> None:
        ref = f"{entity}_id"
        for m in conn.execute("SELECT * FROM outbox WHERE state = 'pending'").fetchall():
            data = _loads(m["data"])
            changed = m["entity"] == entity and m["record_id"] == old
            if data.get(ref) == old:
                data[ref] = new
                changed = True
            if changed:
                new_record = new if (m["entity"] == entity and m["record_id"] == old) else m["record_id"]
                conn.execute(
                    "UPDATE outbox SET record_id = ?, data = ? WHERE seq = ?", (new_record, _dumps(data), m["seq"])
                )
                conn.execute(
                    "UPDATE touches SET record_id = ? WHERE seq = ? AND entity = ? AND record_id = ?",
                    (new, m["seq"], entity, old),
                )
        for r in conn.execute("SELECT entity, id, data FROM records WHERE data IS NOT NULL").fetchall():
            data = _loads(r["data"])
            if isinstance(data, dict) and data.get(ref) == old:
                self._rebuild(conn, r["entity"], r["id"])
        self._rebuild(conn, entity, new)


def _scrub(data: JsonObject | None) -> str:
    """Rejections are kept for the officer to read and redo: numbers masked, like everything the
    tablet shows."""
    out = dict(data or {})
    if isinstance(out.get("identity_number"), str):
        out["identity_number"] = mask_identity(out["identity_number"])
    for key in list(out):
        if key.endswith("phone") and isinstance(out[key], str):
            out[key] = mask_phone(out[key])
    if isinstance(out.get("receipt"), str):
        out["receipt"] = out["receipt"][:16] + "…"
    return _dump(out)
