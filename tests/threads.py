"""Requests released together from several threads, each with its own client (and so its own
session and connection): on PostgreSQL their transactions truly overlap."""

from __future__ import annotations

import threading


def release_together(app, n: int, request) -> list:
    """``request(client, i)`` in ``n`` threads started at one barrier; the answers in thread order."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i):
        client = app.test_client()
        barrier.wait(30)
        results[i] = request(client, i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results
