# Two commands do all the set-up: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; \
	then echo $$p; break; fi; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_STUDIOS ?= 12

.PHONY: install demo serve test test-smoke lint format schema screens clean

$(BIN)/python:
	@if [ -z "$(PYTHON)" ]; then echo "Python 3.11 or newer is required (none found on PATH)."; exit 1; fi
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,mlflow]"
	@touch $(STAMP)

install: $(STAMP)

# Embedded default: SQLite file + in-process cache + in-process jobs; DEBUG on.
demo: export DEBUG ?= true
demo: install
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py demo_bootstrap --studios $(DEMO_STUDIOS) --base-url http://$(HOST):$(PORT)
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

# Production server: gunicorn with gunicorn.conf.py (BIND, WEB_CONCURRENCY) and the
# settings of the environment or .env (SECRET_KEY, DATABASE_URL, ...). Migrations,
# collectstatic and training are the operator's steps: see "Running in production".
serve: install
	$(BIN)/python -m gunicorn --config gunicorn.conf.py studiosim.wsgi:application

# The tests need a secret key; this one is for tests only.
test: export SECRET_KEY ?= insecure-key-for-the-test-suite-only
test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/python -m pytest

test-smoke: export SECRET_KEY ?= insecure-key-for-the-test-suite-only
test-smoke: install
	$(BIN)/python -m pytest -m smoke

# The committed SDL (schema.graphql); tests/api/test_schema_sdl.py fails when stale.
schema: export DEBUG ?= true
schema: install
	$(BIN)/python manage.py export_schema studiosim.schema --path schema.graphql

# Screenshots of every screen for the README (docs/screens/*.png), taken from a
# running `make demo` on HOST:PORT with Debian's Chromium (apt-get install chromium).
screens: install
	$(BIN)/python docs/screens/take.py --base-url http://$(HOST):$(PORT)

lint: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) db.sqlite3* var .pytest_cache
