"""No committed change is ever skipped, even when transactions commit out of order.

Writers register residents in parallel while a tablet pulls continuously; at the end the tablet
must have seen every registration that was committed, and the positions it was served must only
ever rise. On PostgreSQL the writers' transactions truly overlap and commit in any order; a feed
that took positions at write time (a plain sequence) loses changes here."""

from __future__ import annotations

import threading

from tests.fixtures.field import registration_body


def test_every_committed_change_reaches_a_tablet_pulling_during_the_writes(app, make, world, tablet):
    staff_headers = make.auth(world.staff[0])
    created, errors = [], []
    done = threading.Event()
    writers, per_writer = 6, 12

    def write(n):
        client = app.test_client()
        for _ in range(per_writer):
            resp = client.post(
                "/api/v1/registrations", json=registration_body(world.areas[0][0]), headers=staff_headers
            )
            (created if resp.status_code == 201 else errors).append(resp.json.get("id") or resp.json)

    served_seqs, seen = [], set()

    def pull_forever():
        while not done.is_set():
            for change in tablet.pull_all(limit=7):
                served_seqs.append(change["seq"])
                if change["entity"] == "registration" and change["op"] == "upsert":
                    seen.add(change["id"])
            done.wait(0.002)  # pull again at once, or stop when the writers are done

    tablet.client = app.test_client()
    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    puller = threading.Thread(target=pull_forever)
    puller.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    done.set()
    puller.join(60)
    for change in tablet.pull_all():
        served_seqs.append(change["seq"])
        if change["entity"] == "registration" and change["op"] == "upsert":
            seen.add(change["id"])
    assert errors == []
    assert len(created) == writers * per_writer
    assert set(created) <= seen, f"{len(set(created) - seen)} committed registrations never reached the tablet"
    positions = [s for s in served_seqs if s]
    assert len(positions) == len(set(positions)), "a change was served twice"
