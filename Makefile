# Ping'an Points — the two commands are `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 2
export FLASK_APP := wsgi

.PHONY: run test bench translations extract-messages clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.runtime $@

## translations: compile the message catalogues (.po → .mo)
translations: $(VENV)/.runtime
	$(BIN)/pybabel compile --use-fuzzy -d core/translations --statistics

## extract-messages: refresh the template and the catalogues after changing texts
extract-messages: $(VENV)/.runtime
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --no-location --sort-output \
	  --project "Pingan Points" --ignore-dirs=".venv instance node_modules" \
	  -o core/translations/messages.pot .
	$(BIN)/pybabel update -i core/translations/messages.pot -d core/translations --no-fuzzy-matching

## run: install, migrate SQLite, load demo data, serve under gunicorn on http://$(HOST):$(PORT)/
run: $(VENV)/.runtime translations
	$(BIN)/flask db upgrade
	$(BIN)/flask seed-demo
	@echo
	@echo "Ping'an Points is at http://$(HOST):$(PORT)/  (API docs: http://$(HOST):$(PORT)/api/v1/docs)"
	@echo
	$(BIN)/gunicorn --bind $(HOST):$(PORT) --workers $(WORKERS) --access-logfile - wsgi:app

## test: install test tools and run every test (SQLite and PostgreSQL, browser tests in Chromium)
test: $(VENV)/.dev translations
	$(BIN)/python -m pytest

## bench: benchmark the service under gunicorn beside a bare-Flask floor (SQLite and PostgreSQL);
## BENCH_SECONDS, BENCH_MEMBERS, BENCH_CONNECTIONS, BENCH_WORKERS… tune it (see bench/README.md)
bench: $(VENV)/.dev translations
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
