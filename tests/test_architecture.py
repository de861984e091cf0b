"""The shape of the code, checked from its source: only the unit of work commits."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("app", "sync", "field_api", "appointments", "compose", "doorstep_protocol")
UNIT_OF_WORK = {Path("app/unit_of_work.py")}


def _commit_calls(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (
            (isinstance(node.func, ast.Attribute) and node.func.attr == "commit")
            or (isinstance(node.func, ast.Name) and node.func.id == "commit")
        )
    ]


def test_only_the_unit_of_work_commits():
    """Services flush; a request, a job run, a CLI command or a pushed mutation commits at its
    edge through ``app.unit_of_work`` (``commit_now(reason)`` for a deliberate early commit)."""
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if relative in UNIT_OF_WORK:
                continue
            found += [f"{relative}:{line}" for line in _commit_calls(path)]
    assert found == [], "commit() outside app/unit_of_work.py: " + ", ".join(found)


def test_the_scan_sees_a_commit(tmp_path):
    """The check above would notice one (it is not vacuous)."""
    sample = tmp_path / "service.py"
    sample.write_text("def f(db, tx):\n    db.session.commit()\n    tx.commit()\n", encoding="utf-8")
    assert _commit_calls(sample) == [2, 3]
