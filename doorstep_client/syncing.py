"""Push and pull: the outbox goes up in frozen batches, the feed comes down page by page, each
page applied with its cursor in one transaction (rules 1 and 3 of ``doorstep_client``). Mixed
into ``TabletClient``."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from doorstep_client.errors import ClientError, ProblemError
from doorstep_client.outbox import CREATES, EFFECTS, Outbox, _record_of, _scrub
from doorstep_client.store import JsonObject, _dumps, _loads, _now_iso
from doorstep_protocol.limits import PROTOCOL_VERSION as PROTOCOL
from doorstep_protocol.vocabulary import MUTATION_STATUSES as SETTLED
from doorstep_protocol.vocabulary import SERVED_ENTITIES as SERVED


@dataclass
class SyncReport:
    rounds: int = 0
    pushed: int = 0
    applied: int = 0
    conflicts: int = 0
    rejected: int = 0
    replayed: int = 0
    pulled: int = 0
    pages: int = 0
    resets: int = 0
    dropped: int = 0
    retries: int = 0
    details: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"pushed {self.pushed} (applied {self.applied}, conflicts {self.conflicts}, rejected {self.rejected}, "
            f"replayed {self.replayed}); pulled {self.pulled} changes in {self.pages} pages"
            + (f"; {self.resets} reset(s)" if self.resets else "")
            + (f"; {self.retries} retries" if self.retries else "")
        )


class Syncing(Outbox):
    # Set by ``TabletClient``, which also sends the requests.
    max_rounds: int
    batch_size: int
    pull_limit: int
    _retries: int

    if TYPE_CHECKING:

        def _request(
            self,
            method: str,
            path: str,
            payload: JsonObject | None = None,
            *,
            auth: bool = True,
            compress: bool = False,
            retry: bool = True,
        ) -> JsonObject: ...

    def sync(self) -> SyncReport:
        """Push, then pull, until quiescent: a round that found nothing to push and ended with
        nothing unsettled. Pulls can make more to push (an evict holds a record until its pending
        mutations are pushed), pushes make changes to pull (our own writes come back through the
        feed, which is how derived fields like a maturity date arrive)."""
        report = SyncReport()
        self._retries = 0
        for _ in range(self.max_rounds):
            report.rounds += 1
            had_work = self._count_unsettled() > 0
            self.push(report)
            self._drop_evicted(report)
            self.pull(report)
            self._drop_evicted(report)
            if not had_work and self._count_unsettled() == 0:
                report.retries = self._retries
                with self._tx() as conn:
                    self._set_meta(conn, last_sync_at=_now_iso())
                return report
        report.retries = self._retries
        raise ClientError(
            f"not quiescent after {self.max_rounds} rounds: {self._count_unsettled()} mutation(s) unsettled"
        )

    def _count_unsettled(self) -> int:
        count: int = self.db.execute("SELECT COUNT(*) FROM outbox WHERE state IN ('pending', 'sent')").fetchone()[0]
        return count

    def push(self, report: SyncReport | None = None) -> SyncReport:
        """Send every unsettled mutation, oldest first, ≤ 500 at a time. Each batch is marked
        ``sent`` (committed) before it leaves, which freezes its content; its results are applied
        in one transaction. A lost answer leaves the batch ``sent``: the next push sends it again
        and the server replays. A 413 halves the batch and tries again."""
        report = report or SyncReport()
        size = self.batch_size
        while True:
            rows = self.db.execute(
                "SELECT * FROM outbox WHERE state IN ('pending', 'sent') ORDER BY seq LIMIT ?", (size,)
            ).fetchall()
            if not rows:
                return report
            with self._tx() as conn:
                conn.execute(
                    f"UPDATE outbox SET state = 'sent', attempts = attempts + 1, "  # noqa: S608 (placeholders only)
                    f"first_sent_at = COALESCE(first_sent_at, ?) WHERE seq IN ({','.join('?' * len(rows))})",
                    (_now_iso(), *[r["seq"] for r in rows]),
                )
            self._point("push:before-send")
            mutations = [
                {
                    "mutation_id": r["mutation_id"],
                    "seq": r["seq"],
                    "entity": r["entity"],
                    "op": r["op"],
                    "id": r["record_id"],
                    "base_version": r["base_version"],
                    "data": _loads(r["data"]),
                    "occurred_at": r["occurred_at"],
                }
                for r in rows
            ]
            try:
                body = self._request(
                    "POST",
                    "/api/v1/sync/push",
                    {"protocol": PROTOCOL, "sent_at": _now_iso(), "mutations": mutations},
                    compress=True,
                )
            except ProblemError as exc:
                if exc.status == 413 and len(rows) > 1:
                    size = len(rows) // 2
                    continue
                raise
            self._point("push:answer-received")
            self._check_protocol(body)
            results = body.get("results") or []
            with self._tx() as conn:
                settled = self._apply_results(conn, results, report)
                self._set_meta(conn, server_last_seq=body.get("last_seq"))
                self._point("push:results-before-commit")
            report.pushed += len(rows)
            if settled == 0:
                # The server answered without settling anything we sent: sending it again at once
                # would loop. Leave it for the next sync round (which re-checks quiescence).
                return report

    def _apply_results(self, conn: sqlite3.Connection, results: list[JsonObject], report: SyncReport) -> int:
        served = set(SERVED) | {
            r[0] for r in conn.execute("SELECT DISTINCT entity FROM records WHERE base_data IS NOT NULL")
        }
        settled = 0
        now = _now_iso()
        for res in sorted(results, key=lambda r: r.get("seq") or 0):
            row = conn.execute("SELECT * FROM outbox WHERE mutation_id = ?", (str(res.get("mutation_id")),)).fetchone()
            if row is None or row["state"] in SETTLED:
                continue  # not ours, or already settled by an earlier answer: first one wins
            status = res.get("status")
            if status not in SETTLED:
                continue
            settled += 1
            replayed = bool(res.get("replayed"))
            report.replayed += replayed
            conn.execute(
                "INSERT OR REPLACE INTO results (mutation_id, seq, status, replayed, version, record, "
                "conflict, errors, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row["mutation_id"],
                    row["seq"],
                    status,
                    int(replayed),
                    res.get("version"),
                    _dumps(res.get("record")),
                    _dumps(res.get("conflict")),
                    _dumps(res.get("errors")),
                    now,
                ),
            )
            conn.execute("UPDATE outbox SET state = ?, settled_at = ? WHERE seq = ?", (status, now, row["seq"]))
            entity, record_id = row["entity"], row["record_id"]
            touched = [
                (t["entity"], t["record_id"])
                for t in conn.execute("SELECT entity, record_id FROM touches WHERE seq = ?", (row["seq"],))
            ]
            if status == "rejected":
                report.rejected += 1
                conn.execute(
                    "INSERT OR IGNORE INTO rejections (mutation_id, seq, entity, op, record_id, data, errors, "
                    "received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        row["mutation_id"],
                        row["seq"],
                        entity,
                        row["op"],
                        record_id,
                        _scrub(_loads(row["data"])),
                        _dumps(res.get("errors")),
                        now,
                    ),
                )
                for t_entity, t_id in touched:  # its effect is not re-applied: rolled back exactly
                    self._rebuild(conn, t_entity, t_id)
                continue
            if status == "conflict":
                report.conflicts += 1
                conflict = res.get("conflict") or {}
                conn.execute(
                    "INSERT OR IGNORE INTO conflicts (mutation_id, seq, entity, record_id, kind, fields, "
                    "record, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        row["mutation_id"],
                        row["seq"],
                        entity,
                        record_id,
                        conflict.get("kind"),
                        _dumps(conflict.get("fields")),
                        _dumps(res.get("record")),
                        now,
                    ),
                )
            else:
                report.applied += 1
            self._settle_record(conn, row, res, replayed, served, touched)
        return settled

    def _settle_record(
        self,
        conn: sqlite3.Connection,
        row: sqlite3.Row,
        res: JsonObject,
        replayed: bool,
        served: set[str],
        touched: list[tuple[str, str]],
    ) -> None:
        """Take the server's record for what an applied (or conflicting) mutation touched."""
        entity, record_id = row["entity"], row["record_id"]
        server_id, record = _record_of(res)
        version = res.get("version")
        if server_id is not None and server_id != record_id:
            # A create that linked to an existing record (a known identity number): the record
            # under our uuid never existed on the server. Follow the server's id in what has not
            # left the device yet; what has is frozen and the server resolves it.
            self._follow_id(conn, entity, record_id, server_id)
        target = server_id or record_id
        effects = EFFECTS.get((entity, row["op"]), {})
        if entity in served:
            current = conn.execute(
                "SELECT base_version, base_data FROM records WHERE entity = ? AND id = ?", (entity, target)
            ).fetchone()
            has_base = current is not None and current["base_data"] is not None
            if record is not None and version is not None:
                if not has_base or current["base_version"] is None or version >= current["base_version"]:
                    self._set_base(conn, entity, target, record, version, from_push=True)
            elif record is not None and (not replayed or not has_base):
                # No version (a delivery: its feed position is its version): fresh answers only;
                # a replayed one may be older than what a pull already brought.
                self._set_base(
                    conn, entity, target, record, current["base_version"] if current else None, from_push=True
                )
            elif version is not None and effects.get(entity):
                base = _loads(current["base_data"]) if has_base else None
                if not has_base or current["base_version"] is None or version >= current["base_version"]:
                    self._set_base(
                        conn,
                        entity,
                        target,
                        effects[entity](base, _loads(row["data"]), _loads(row["hints"])),
                        version,
                        from_push=True,
                    )
        for t_entity, t_id in touched:
            if (t_entity, t_id) != (entity, record_id) and effects.get(t_entity):
                # A secondary record (the visit of a handover): the server applied the effect too;
                # fold it into the base without a version, the pull brings the real one.
                cur = conn.execute(
                    "SELECT base_version, base_data FROM records WHERE entity = ? AND id = ?", (t_entity, t_id)
                ).fetchone()
                if cur is not None and cur["base_data"] is not None and not replayed:
                    folded = effects[t_entity](_loads(cur["base_data"]), _loads(row["data"]), _loads(row["hints"]))
                    conn.execute(
                        "UPDATE records SET base_data = ? WHERE entity = ? AND id = ?", (_dumps(folded), t_entity, t_id)
                    )
            self._rebuild(conn, t_entity, t_id)
        if target != record_id:
            self._rebuild(conn, entity, record_id)

    def _drop_evicted(self, report: SyncReport | None = None) -> None:
        """Evicted records whose own mutations have all been settled leave the tablet."""
        with self._tx() as conn:
            for r in conn.execute("SELECT entity, id FROM records WHERE evicted = 1").fetchall():
                if not self._unsettled_for(conn, r["entity"], r["id"]):
                    conn.execute("DELETE FROM records WHERE entity = ? AND id = ?", (r["entity"], r["id"]))
                    if report is not None:
                        report.dropped += 1

    def pull(self, report: SyncReport | None = None) -> SyncReport:
        """Page through the changes after the stored cursor. Each page is applied and its cursor
        stored in one transaction. On ``reset`` the client pulls again from null into a fresh view
        (``meta.reset_mode``): every record starts unseen, the fresh pages mark what they send,
        and the last page drops what was not sent — keeping what unsettled mutations still need."""
        report = report or SyncReport()
        while True:
            cursor = self._meta("cursor")
            resetting = self._meta("reset_mode") == "1"
            self._point("pull:before-request")
            body = self._request(
                "POST",
                "/api/v1/sync/pull",
                {"protocol": PROTOCOL, "cursor": cursor, "limit": self.pull_limit},
                compress=True,
            )
            self._point("pull:page-received")
            self._check_protocol(body)
            if body.get("reset") and cursor is not None:
                # The cursor can no longer be served: start a fresh view from null. The page that
                # came with the reset is not used; the fresh pull sends everything again.
                report.resets += 1
                with self._tx() as conn:
                    conn.execute("UPDATE records SET seen = 0")
                    self._set_meta(conn, cursor=None, reset_mode=1)
                continue
            changes = body.get("changes") or []
            with self._tx() as conn:
                for change in changes:
                    self._apply_change(conn, change, fresh=resetting or cursor is None)
                self._set_meta(conn, cursor=body.get("cursor"))
                if resetting and not body.get("has_more"):
                    self._finish_reset(conn, report)
                if not body.get("has_more"):
                    self._drop_unconfirmed(conn, report)
                self._point("pull:page-before-commit")
            report.pages += 1
            report.pulled += len(changes)
            if not body.get("has_more"):
                return report

    def _apply_change(self, conn: sqlite3.Connection, change: JsonObject, *, fresh: bool) -> None:
        entity: str = change["entity"]  # every change of a page names its entity
        record_id, op = str(change.get("id")), change.get("op")
        version = change.get("version")
        row = conn.execute(
            "SELECT base_version, base_data FROM records WHERE entity = ? AND id = ?", (entity, record_id)
        ).fetchone()
        if op == "upsert":
            newer = (
                row is None
                or row["base_data"] is None
                or row["base_version"] is None
                or version is None
                or version >= row["base_version"]
            )
            if newer or fresh:  # a fresh view (first pull, reset) is the truth whatever its versions
                self._set_base(conn, entity, record_id, change.get("data"), version)
            conn.execute(
                "UPDATE records SET seen = 1, evicted = 0, unconfirmed = 0 WHERE entity = ? AND id = ?",
                (entity, record_id),
            )
        elif op == "delete":
            if row is not None:
                conn.execute(
                    "UPDATE records SET base_data = NULL, base_version = NULL, version = NULL "
                    "WHERE entity = ? AND id = ?",
                    (entity, record_id),
                )
                self._rebuild(conn, entity, record_id)
        elif op == "evict" and row is not None:
            if self._unsettled_for(conn, entity, record_id):
                conn.execute("UPDATE records SET evicted = 1 WHERE entity = ? AND id = ?", (entity, record_id))
            else:
                conn.execute("DELETE FROM records WHERE entity = ? AND id = ?", (entity, record_id))

    def _drop_unconfirmed(self, conn: sqlite3.Connection, report: SyncReport) -> None:
        """At the end of a complete pull: records known only from push results that the pull did
        not send are outside this device's scope. Sound because the server gives feed positions
        in commit order and a push commits before it answers, so every pull that completes after
        the answer was applied has passed the position of whatever the push wrote."""
        for r in conn.execute("SELECT entity, id FROM records WHERE unconfirmed = 1").fetchall():
            if not self._unsettled_for(conn, r["entity"], r["id"]):
                conn.execute("DELETE FROM records WHERE entity = ? AND id = ?", (r["entity"], r["id"]))
                report.dropped += 1

    def _finish_reset(self, conn: sqlite3.Connection, report: SyncReport) -> None:
        for r in conn.execute("SELECT entity, id FROM records WHERE seen = 0").fetchall():
            pending = self._unsettled_for(conn, r["entity"], r["id"])
            if any((m["entity"], m["op"]) in CREATES and m["record_id"] == r["id"] for m in pending):
                conn.execute(
                    "UPDATE records SET base_data = NULL, base_version = NULL, version = NULL, seen = 1 "
                    "WHERE entity = ? AND id = ?",
                    (r["entity"], r["id"]),
                )
                self._rebuild(conn, r["entity"], r["id"])  # still only ours: the push will create it
            elif pending:
                conn.execute(
                    "UPDATE records SET evicted = 1, seen = 1 WHERE entity = ? AND id = ?", (r["entity"], r["id"])
                )
            else:
                conn.execute("DELETE FROM records WHERE entity = ? AND id = ?", (r["entity"], r["id"]))
                report.dropped += 1
        self._set_meta(conn, reset_mode=0)

    @staticmethod
    def _check_protocol(body: JsonObject) -> None:
        if body.get("protocol") not in (None, PROTOCOL):
            raise ClientError(f"the server answered protocol {body.get('protocol')}; this client speaks {PROTOCOL}")
