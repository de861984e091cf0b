# The two commands of the README, and their helpers. Python 3.11 is all a fresh machine needs.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 5000
export FLASK_APP := wsgi

.PHONY: run test suite lint lock contract install install-dev db-upgrade clean translations

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)

# Installs come from the locks: every package, transitive ones included, pinned with its hashes.
# requirements*.txt are the inputs (the direct dependencies); `make lock` turns them into locks.
$(VENV)/.installed: requirements.lock $(VENV)/bin/activate
	$(PY) -m pip install --quiet --require-hashes -r requirements.lock
	touch $@

$(VENV)/.installed-dev: requirements-dev.lock $(VENV)/.installed
	$(PY) -m pip install --quiet --require-hashes -r requirements-dev.lock
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

db-upgrade: install
	$(PY) -m flask db upgrade

## make run: the API on http://127.0.0.1:$(PORT) with a migrated SQLite database and a demo seed,
## and the scheduler in the same process (production runs `flask --app wsgi scheduler` on its own)
run: db-upgrade
	$(PY) -m flask seed-demo --if-empty
	@echo "== the station console: http://127.0.0.1:$(PORT)/ (log in as demo.staff with the password printed at the first run)"
	DOORSTEP_SCHEDULER_IN_PROCESS=1 $(PY) -m flask run --host 127.0.0.1 --port $(PORT)

## make lock: regenerate requirements.lock and requirements-dev.lock (exact versions and hashes of
## everything requirements.txt / requirements-dev.txt pull in); commit them with the inputs
PIP_COMPILE = $(PY) -m piptools compile --quiet --generate-hashes --allow-unsafe --strip-extras \
	--no-emit-index-url --no-emit-find-links
lock: install-dev
	$(PIP_COMPILE) --output-file=requirements.lock requirements.txt
	$(PIP_COMPILE) --output-file=requirements-dev.lock requirements-dev.txt

## make lint: ruff's rules, ruff's formatting, mypy (settings in pyproject.toml) and the import
## contracts (.importlinter: the kernel imports no feature, the layers, no cycles)
lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

## make test: make lint first (ruff, ruff format, mypy, the import contracts: any finding fails the
## run before a test starts), then the whole suite with branch coverage (the report lists the files
## not fully covered; below [tool.coverage.report] fail_under fails the run). SQLite unless
## DOORSTEP_DATABASE_URL names a PostgreSQL database; DOORSTEP_TEST_NOW=2026-12-31T23:30:00+08:00
## runs it with the clock pinned there, ticking.
## The tests run in one pytest-xdist worker per core (PYTEST_WORKERS=1 for one process); on
## PostgreSQL each worker uses its own database, <name>_gw0, <name>_gw1… (tests/conftest.py).
PYTEST_WORKERS ?= auto
test: install-dev lint
	$(PY) -m pytest -n $(PYTEST_WORKERS) --cov --cov-report=term-missing:skip-covered $(PYTEST_ARGS)

## make suite: the suite alone, without the lint and without coverage (what CI runs again on
## PostgreSQL and with the clock pinned, once `make test` has linted and measured coverage)
suite: install-dev
	$(PY) -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

## make contract: the OpenAPI document through Schemathesis (all checks, stateful) against a fresh,
## seeded app on SQLite, as the station's staff and then as the sub-bureau's administrator (who
## reaches stations, areas and accounts); any failure fails the target (tests/contract/run.py).
## The budgets (90 s, then 45 s) keep CI under 20 minutes on a slow 2-core machine: every operation
## and every phase is still run at least once (60 s as staff: 106 operations, 6,090 cases; 45 s
## as administrator: 3,856); what the time buys beyond that is more rounds of fuzzing and links.
contract: install-dev
	CONTRACT_USER=demo.staff CONTRACT_MAX_TIME=$${CONTRACT_MAX_TIME:-90} $(PY) -m tests.contract.run
	CONTRACT_USER=demo.admin CONTRACT_MAX_TIME=$${CONTRACT_ADMIN_MAX_TIME:-45} $(PY) -m tests.contract.run

## make translations: collect new messages into app/translations/*/messages.po (translate the
## zh_Hans_CN one), then compile the .mo files the app reads; commit both
translations: install
	$(PY) -m compose.catalogue update
	$(PY) -m compose.catalogue compile

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache .coverage build
