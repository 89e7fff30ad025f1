# Motio developer commands. `make run` and `make test` are the two commands in the README.
VENV   ?= .venv
PY     := $(VENV)/bin/python
FLASK  := $(VENV)/bin/flask --app app
PYTEST := $(VENV)/bin/pytest
HOST   ?= 127.0.0.1
PORT   ?= 5000

.PHONY: setup run test test-pg lint format translations extract-messages clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

setup: $(VENV)/.installed translations

translations: $(VENV)/.installed
	$(VENV)/bin/pybabel compile --use-fuzzy -d translations

## Set up, migrate the SQLite database in instance/, load demo data and serve on http://$(HOST):$(PORT)
run: setup
	$(FLASK) db upgrade
	$(FLASK) demo load
	$(PY) -m devserver --host $(HOST) --port $(PORT)

## The test suite (SQLite; set TEST_DATABASE_URL=postgresql://... for PostgreSQL)
test: setup
	$(PYTEST) -q -n 2

test-pg: setup
	TEST_DATABASE_URL=$${TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/motio_test} $(PYTEST) -q -n 2

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

extract-messages: $(VENV)/.installed
	$(VENV)/bin/pybabel extract -F babel.cfg -k _l -o translations/messages.pot .
	$(VENV)/bin/pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching --ignore-obsolete

clean:
	rm -rf $(VENV) instance .pytest_cache
