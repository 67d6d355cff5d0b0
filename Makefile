# Developer entry points. `make demo` runs the demo shop; `make test` runs every check CI runs.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
HOST ?= 127.0.0.1
PORT ?= 5000
# Marks a venv that has the package and its dev extras installed; redone when they change.
STAMP := $(VENV)/.installed-dev

# Under CI the PostgreSQL and browser tests must run: a missing server or browser fails the
# suite instead of skipping. Locally both default to whatever the environment says.
ifeq ($(CI),true)
export JOBS_ADMIN_TEST_DATABASE_URL ?= postgresql+psycopg://root@127.0.0.1:5432/postgres
export JOBS_ADMIN_REQUIRE_ALL ?= 1
endif

.PHONY: help venv demo demo-reset test lint docs messages translations format bench bench-load clean

help:
	@echo "make demo        set up and run the demo shop on SQLite at http://$(HOST):$(PORT)/admin/"
	@echo "make demo-reset  delete the demo database and result files"
	@echo "make test        lint, type-check, build and twine-check the package, run every test"
	@echo "make lint        ruff check, ruff format --check, mypy"
	@echo "make messages    extract jobs_admin's strings and update the de/fr catalogues"
	@echo "make translations compile the catalogues (.po -> .mo)"
	@echo "make docs        build the documentation site into docs/_build/html (warnings fail)"
	@echo "make format      ruff format and ruff check --fix"
	@echo "make bench       run every benchmark script in bench/"
	@echo "make bench-load  only the Locust load test (bench/load/; 1M-job history on PostgreSQL)"

venv: $(STAMP)

# The demo signs its sessions with a random key made on first run in instance/secret_key
# (the app refuses to start outside debug without a key of its own); FLASK_SECRET_KEY wins.
demo: export FLASK_SECRET_KEY_FILE ?= secret_key

$(STAMP): setup.cfg pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

demo: venv
	@if [ -f migrations/env.py ]; then \
	  $(FLASK) db upgrade || { echo "flask db upgrade failed; a demo database made before the migrations? try: make demo-reset" >&2; exit 1; }; \
	fi
	$(FLASK) demo init
	$(FLASK) demo seed --if-empty
	@echo
	@echo "Open http://$(HOST):$(PORT)/admin/ — logins: admin/admin, operator/operator, viewer/viewer"
	@echo
	$(FLASK) run --host $(HOST) --port $(PORT)

demo-reset:
	rm -f instance/shop.sqlite instance/shop.sqlite-wal instance/shop.sqlite-shm
	rm -rf instance/jobs_results

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The sdist and the wheel, built into a temporary folder (the wheel from the sdist, as a
# release would), checked by twine; then the whole suite on SQLite (the slow scale-out and the
# migration tests cover both engines themselves; tests/test_packaging.py reads that wheel's
# file list), then again with every app on PostgreSQL.
test: lint docs
	@dist=$$(mktemp -d) && trap 'rm -rf "$$dist"' EXIT && \
	$(BIN)/python -m build --outdir "$$dist" . && \
	$(BIN)/twine check --strict "$$dist"/* && \
	JOBS_ADMIN_WHEEL="$$(ls "$$dist"/*.whl)" $(BIN)/python -m pytest
	JOBS_ADMIN_TEST_BACKEND=postgresql $(BIN)/python -m pytest -m "not slow" --deselect tests/test_migrations.py

# jobs_admin's own gettext domain: extract every string (Python, templates, scripts) into the
# template, merge it into each language's catalogue, compile them. tests/test_i18n.py fails when
# a string is missing from a catalogue or untranslated, or a .mo is older than its .po.
TRANSLATIONS := jobs_admin/translations
messages: venv
	$(BIN)/pybabel extract -F babel.cfg -k _ja -k _jan:1,2 -k _n:1,2 -k lazy_gettext --sort-by-file \
	  --project jobs_admin --msgid-bugs-address "" -o $(TRANSLATIONS)/jobs_admin.pot .
	$(BIN)/pybabel update -D jobs_admin -i $(TRANSLATIONS)/jobs_admin.pot -d $(TRANSLATIONS) --no-fuzzy-matching
	$(MAKE) translations

translations: venv
	$(BIN)/pybabel compile -D jobs_admin -d $(TRANSLATIONS) --statistics

# The Sphinx site, with every warning an error (a broken link or reference fails the build).
docs: venv
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html
	@echo "docs: open docs/_build/html/index.html"

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Runs bench/*.py (and bench/*.sh); files starting with an underscore are helpers.
bench: venv
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	@shopt -s nullglob; ran=0; \
	for f in bench/*.py bench/*.sh; do \
	  case "$$(basename "$$f")" in _*) continue;; esac; \
	  echo "== $$f"; ran=1; \
	  case "$$f" in *.py) $(BIN)/python "$$f";; *) bash "$$f";; esac || exit 1; \
	done; \
	[ "$$ran" = 1 ] || echo "no benchmarks in bench/ yet"

# The Locust load test alone (make bench runs it too, as bench/load_test.py).
bench-load: venv
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python bench/load_test.py

clean:
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache test-results docs/_build
