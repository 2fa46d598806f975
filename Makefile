# Tayori: the newcomer's commands are `make run` and `make test` (see README.md).
#
# Every target first makes sure .venv exists and holds the project's dependencies; it
# re-installs only when pyproject.toml is newer than the stamp file .venv/.installed.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000

# The test suite runs against real PostgreSQL and Redis; these are the defaults when the
# environment does not name others. `make run` deliberately does NOT get them: with no
# DATABASE_URL/REDIS_URL it runs on SQLite and the filesystem broker under var/.
TEST_DATABASE_URL := $(or $(DATABASE_URL),postgres://postgres@127.0.0.1:5432/tayori)
TEST_REDIS_URL := $(or $(REDIS_URL),redis://127.0.0.1:6379/0)
# Extra pytest arguments, e.g. `make test PYTEST_ARGS="-k healthz -x"`. The suite runs in
# one process: tests share Redis keys (health heartbeats), so pytest-xdist is not used.
PYTEST_ARGS ?=

.DEFAULT_GOAL := help

.PHONY: help
help:
	@echo "make run               start web, worker, beat and the SMTP sink (demo data, no services needed)"
	@echo "make test              run the test suite (needs PostgreSQL and Redis on 127.0.0.1)"
	@echo "make lint              ruff check + ruff format --check"
	@echo "make format            ruff format + ruff check --fix"
	@echo "make migrations-check  fail if a model change has no migration"
	@echo "make messages          update and compile the Japanese translations"
	@echo "make ci                lint + migrations-check + test (what .ci/run runs)"

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

.PHONY: install
install: $(VENV)/.installed

# Translations are compiled from locale/*/LC_MESSAGES/*.po (compilemessages skips a
# catalogue whose .mo is newer). msgfmt comes from gettext.
HAVE_PO = $(wildcard locale/*/LC_MESSAGES/*.po)

.PHONY: compile-messages
compile-messages: $(VENV)/.installed
ifneq ($(HAVE_PO),)
	@command -v msgfmt >/dev/null || { echo "msgfmt not found: install gettext (apt-get install gettext)" >&2; exit 1; }
	$(PY) manage.py compilemessages --ignore='.venv/*' --verbosity 0
endif

.PHONY: run
run: $(VENV)/.installed
	@$(MAKE) --no-print-directory compile-messages || echo "make run: translations not compiled; the Japanese UI falls back to English" >&2
	PORT=$(PORT) $(PY) -m config.dev

.PHONY: check-services
check-services: $(VENV)/.installed
	DATABASE_URL='$(TEST_DATABASE_URL)' REDIS_URL='$(TEST_REDIS_URL)' $(PY) scripts/check_services.py

.PHONY: test
test: check-services compile-messages
	DATABASE_URL='$(TEST_DATABASE_URL)' REDIS_URL='$(TEST_REDIS_URL)' $(PY) -m pytest $(PYTEST_ARGS)

.PHONY: lint
lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

.PHONY: format
format: $(VENV)/.installed
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

# makemigrations reads settings only; SQLite under a throwaway directory keeps it from
# needing (or touching) any database.
.PHONY: migrations-check
migrations-check: $(VENV)/.installed
	@tmp=$$(mktemp -d) && TAYORI_VAR_DIR=$$tmp DATABASE_URL= REDIS_URL= \
		$(PY) manage.py makemigrations --check --dry-run; status=$$?; rm -rf "$$tmp"; exit $$status

.PHONY: messages
messages: $(VENV)/.installed
	$(PY) manage.py makemessages -l ja --ignore='.venv/*' --ignore='var/*' --ignore='tests/*' --ignore='bench/*' --no-obsolete
	$(PY) manage.py compilemessages -l ja --ignore='.venv/*'

.PHONY: ci
ci: lint migrations-check test
