# Two commands for people: `make run` (everything, on a fresh machine) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
IDP := $(BIN)/idp
INSTALLED := $(VENV)/.installed
BENCH_INSTALLED := $(VENV)/.installed-bench
# Test processes (pytest-xdist); each has its own databases, ports and rate-limit keys.
TEST_WORKERS ?= 2

.PHONY: run test test-postgres test-tools lint format install lock migrate seed bench screenshots clean

# Runtime dependencies at the versions of constraints.txt, as in the Docker image.
$(INSTALLED): pyproject.toml setup.py constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --constraint constraints.txt -e ".[dev]"
	touch $(INSTALLED)

install: $(INSTALLED)

migrate: install
	$(IDP) db upgrade

seed: migrate
	$(IDP) keys ensure
	$(IDP) demo seed --reset-password

# idp on :5000 and the demo benefits portal on :5001; Ctrl-C stops both.
run: seed
	@bash scripts/run_demo.sh

# Debian's chromium and nginx: installed with apt-get when missing and run as root,
# otherwise one line says what to install.
test-tools:
	@bash scripts/ensure_test_tools.sh

# The whole suite on SQLite. With IDP_TEST_DATABASE_URL set, the suite on that PostgreSQL,
# less the tests marked backend_independent (browser, unit, the always-PostgreSQL multi-process
# tests, the wheel), which the SQLite pass has run already.
ONLY_BACKEND_DEPENDENT := $(if $(IDP_TEST_DATABASE_URL),-m "not backend_independent")
test: install test-tools
	$(BIN)/python -m pytest -n $(TEST_WORKERS) $(ONLY_BACKEND_DEPENDENT)

# ruff: lint rules and formatting (configured in pyproject.toml); CI runs this before the tests.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Fix what ruff can fix by itself, and format the tree.
format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test-postgres: install test-tools
	IDP_TEST_DATABASE_URL=$${IDP_TEST_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test} $(BIN)/python -m pytest -n $(TEST_WORKERS) -m "not backend_independent"

# Pin every runtime dependency at what a fresh install of the package resolves to today.
lock:
	@bash scripts/lock_dependencies.sh


# docs/screenshots/: the login page on a phone and a desktop, in both languages.
screenshots: install
	$(BIN)/python scripts/screenshots.py


$(BENCH_INSTALLED): $(INSTALLED)
	$(BIN)/pip install --quiet --constraint constraints.txt -e ".[dev,bench]"
	touch $(BENCH_INSTALLED)

# Throughput and latency against their floors, on SQLite and PostgreSQL (bench/README.md).
# Options through BENCH_ARGS, e.g. make bench BENCH_ARGS="--database sqlite --duration 30".
bench: $(BENCH_INSTALLED)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) instance .pytest_cache
