VENV ?= .venv
PY := $(VENV)/bin/python
export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/tayori
export REDIS_URL ?= redis://127.0.0.1:6379/0

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

.PHONY: test
test: $(VENV)/.installed
	$(PY) -m pytest
