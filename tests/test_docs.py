"""The README is the newcomer's contract: it must keep its two commands first and describe
every setting the code reads."""

from pathlib import Path

from app.config import SETTINGS

ROOT = Path(__file__).resolve().parent.parent


def test_readme_opens_with_the_two_commands():
    head = (ROOT / "README.md").read_text().splitlines()[:6]
    assert any(line.startswith("make run") for line in head)
    assert any(line.startswith("make test") for line in head)


def test_readme_documents_every_setting():
    readme = (ROOT / "README.md").read_text()
    assert [s.env for s in SETTINGS if f"`{s.env}`" not in readme] == []


def test_ci_runs_the_readme_test_command_on_both_databases_and_on_pinned_clocks():
    ci = "\n".join(
        line for line in (ROOT / ".ci" / "run").read_text().splitlines() if not line.lstrip().startswith("#")
    )
    # make test once (lint, suite, coverage); the pinned-clock and PostgreSQL runs are the bare suite
    assert ci.count("make test") == 1 and ci.count("make suite") == 2 and "postgresql+psycopg://" in ci
    assert 'DOORSTEP_TEST_NOW="$NEW_YEARS_EVE" make suite' in ci and 'DOORSTEP_TEST_NOW="$MONDAY_MORNING"' in ci
    assert "NEW_YEARS_EVE=2026-12-31T23:30:00+08:00" in ci and "MONDAY_MORNING=2026-12-07T08:59:00+08:00" in ci


def test_readme_documents_the_test_clock():
    readme = (ROOT / "README.md").read_text()
    assert "`DOORSTEP_TEST_NOW`" in readme and "`DOORSTEP_CLOCK_OFFSET_SECONDS`" in readme
