"""The fleet bench at its smallest: two tablets, one round, through a real gunicorn, on the run's
kind of database (a throwaway database of its own on PostgreSQL). What it prints is what the
project's performance figures are read from, so it must work: every tablet converges, no errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from app import clock
from tests.fixtures.clock import TEST_NOW_ENV

ROOT = Path(__file__).resolve().parent.parent


def test_two_tablets_work_a_round_and_converge(tmp_path):
    # The bench runs on the wall clock, as a fleet does: a pinned test clock would date the server
    # ahead of its tablets, whose first proofs it would then refuse as stale.
    env = {k: v for k, v in os.environ.items() if k not in (clock.OFFSET_ENV, TEST_NOW_ENV)}
    env["TMPDIR"] = str(tmp_path)
    args = ["--tablets", "2", "--rounds", "1", "--pulls", "1", "--registrations", "2", "--residents", "100"]
    args += ["--think", "0", "--ramp", "0", "--workers", "1", "--threads", "2", "--processes", "1"]
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "fleet.py"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr[-3000:]
    last = out.strip().splitlines()[-1]
    assert last.startswith("fleet_2: p95=")
    assert " errors=0 converged=yes ratio=" in last
    assert "convergence 2/2 tablets" in out
    steps = {line.split()[0] for line in out.splitlines()}
    assert {"login", "push", "photo"} <= steps
    assert "photos" in out and ", 4 photos," in out  # two people each, a photo each
