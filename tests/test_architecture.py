"""The shape of the code, checked from its source: only the unit of work commits, and an import
inside a function says why it is not at the top of its module."""

from __future__ import annotations

import ast
import configparser
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


IMPORTING = (*PACKAGES, "citizen", "tablet", "doorstep_client")


def _unexplained_imports(path: Path) -> list[int]:
    """Imports inside a function whose block carries no comment: the comment (on the line, or on
    the line above the run of imports it opens) says why the import waits (a cycle, a heavy
    optional library), so whoever moves it to the top knows what breaks."""
    lines = path.read_text(encoding="utf-8").splitlines()
    tree = ast.parse("\n".join(lines), filename=str(path))
    found = []
    for function in ast.walk(tree):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(function):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            first = node.lineno - 1
            while first > 0 and lines[first - 1].strip().startswith(("import ", "from ")):
                first -= 1  # the run of imports this one belongs to
            said = "#" in lines[node.lineno - 1] or (first > 0 and lines[first - 1].strip().startswith("#"))
            if not said:
                found.append(node.lineno)
    return found


def test_an_import_inside_a_function_says_why():
    found = []
    for package in IMPORTING:
        for path in sorted((ROOT / package).rglob("*.py")):
            found += [f"{path.relative_to(ROOT)}:{line}" for line in _unexplained_imports(path)]
    assert found == [], "imports inside functions without a reason: " + ", ".join(found)


def test_the_scan_sees_an_unexplained_import(tmp_path):
    sample = tmp_path / "module.py"
    sample.write_text(
        "def f():\n    import json\n\n\ndef g():\n    # deferred: heavy\n    import csv\n    import io\n",
        encoding="utf-8",
    )
    assert _unexplained_imports(sample) == [2]


# A feature's public surface (decisions 94, 96): what the other features may import from it, its
# ``services`` (and package ``__init__``) and these modules, each one purpose-built for outside use.
PUBLIC = {
    "appointments.dispatch.states",  # the visit's state machine, which delivery drives too
    "appointments.booking.reference",  # the reference as a citizen types it, with its check character
    "appointments.booking.progress",  # 进度查询 of a booking, for the H5
    "field_api.permits.progress",  # 进度查询 of an application, for the H5
    "field_api.delivery.receipts",  # reading and publicly verifying handover receipts
}
# The features whose internals are private to them, and the packages held to the public surfaces
# (the H5 has no surface of its own: nothing imports it but the composition root).
FEATURES = (
    "appointments.booking",
    "appointments.dispatch",
    "appointments.rating",
    "appointments.windows",
    "field_api.delivery",
    "field_api.permits",
    "field_api.residency",
)
SOURCES = (*FEATURES, "citizen")
# The domain packages' own modules, above their features (decision 101), are held to the same
# surfaces; ``register`` is the package's composition, which wires the features' internals.
DOMAINS = ("appointments", "field_api")
COMPOSITION = {"__init__", "register"}


def _package_level(package: str) -> set[str]:
    return {f"{package}.{p.stem}" for p in (ROOT / package).glob("*.py") if p.stem not in COMPOSITION}


def _internals(feature: str) -> set[str]:
    folder = ROOT / feature.replace(".", "/")
    modules = {p.stem for p in folder.glob("*.py")} | {p.parent.name for p in folder.glob("*/__init__.py")}
    return {f"{feature}.{m}" for m in modules - {"__init__", "services"}} - PUBLIC


def test_the_public_surfaces_contract_forbids_every_internal_module():
    """The contract names modules one by one (import-linter has no "all but services"), so a new
    module in a feature has to be added to it; this says which. One contract serves every feature:
    import-linter skips a source's imports of its own modules (they overlap), so each feature may
    use its own internals and none of another's. A new module directly in ``appointments/`` or
    ``field_api/`` has to join the sources, or it could reach any feature's internals unseen."""
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter")
    section = config["importlinter:contract:public-surfaces"]
    forbidden = set(section["forbidden_modules"].split())
    expected = set().union(*(_internals(feature) for feature in FEATURES))
    assert forbidden == expected, f"add {sorted(expected - forbidden)}, drop {sorted(forbidden - expected)}"
    package_level = set().union(*(_package_level(package) for package in DOMAINS))
    sources, wanted = set(section["source_modules"].split()), set(SOURCES) | package_level
    assert sources == wanted, f"add sources {sorted(wanted - sources)}, drop {sorted(sources - wanted)}"
    assert section["allow_indirect_imports"] == "True"


def test_every_public_module_exists():
    """A name left in PUBLIC after its module moved would quietly widen nothing and mislead."""
    assert [m for m in sorted(PUBLIC) if not (ROOT / (m.replace(".", "/") + ".py")).is_file()] == []
