# Ping'an Points — the two commands are `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 2
export FLASK_APP := wsgi
#: Packages with their own message catalogue (as TRANSLATED_PACKAGES in app.py).
TRANSLATED := core points rewards admin
#: The application's code, scanned by bandit in `make test`.
SCANNED := app.py wsgi.py gunicorn.conf.py core points rewards admin

.PHONY: run test lint format settings-table bench bench-city audit translations extract-messages clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.runtime $@

## translations: compile the message catalogues (.po → .mo), one per package
translations: $(VENV)/.runtime
	@for package in $(TRANSLATED); do \
	  $(BIN)/pybabel compile --use-fuzzy -d $$package/translations --statistics || exit 1; done

## extract-messages: refresh each package's template and catalogue after changing texts
extract-messages: $(VENV)/.runtime
	@for package in $(TRANSLATED); do \
	  sources=$$package; [ $$package = core ] && sources="core app.py"; mkdir -p $$package/translations; \
	  $(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k lazy_ngettext:1,2 --no-location --sort-output \
	    --project "Pingan Points" -o $$package/translations/messages.pot $$sources || exit 1; \
	  if [ -f $$package/translations/zh/LC_MESSAGES/messages.po ]; then \
	    $(BIN)/pybabel update -i $$package/translations/messages.pot -d $$package/translations \
	      --no-fuzzy-matching || exit 1; \
	  else \
	    $(BIN)/pybabel init -l zh -i $$package/translations/messages.pot -d $$package/translations \
	      || exit 1; fi; done

## run: install, migrate SQLite, load demo data, serve under gunicorn on http://$(HOST):$(PORT)/
run: $(VENV)/.runtime translations
	$(BIN)/flask db upgrade
	$(BIN)/flask seed-demo
	@echo
	@echo "Ping'an Points is at http://$(HOST):$(PORT)/  (API docs: http://$(HOST):$(PORT)/api/v1/docs)"
	@echo
	$(BIN)/gunicorn --bind $(HOST):$(PORT) --workers $(WORKERS) wsgi:app

## lint: ruff's rules (pyproject.toml) and its formatting, checked without changing anything
lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## format: apply ruff's safe fixes and its formatting (then `make lint` shows what needs a hand)
format: $(VENV)/.dev
	-$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## test: install test tools, lint, and run every test (SQLite and PostgreSQL, browser tests in Chromium)
test: $(VENV)/.dev translations lint
	$(BIN)/bandit --quiet --configfile pyproject.toml --recursive $(SCANNED)
	$(BIN)/python -m pytest

## settings-table: write the README's table of settings again from core/config.py's SETTINGS
settings-table: $(VENV)/.runtime
	$(BIN)/python -c "import pathlib; from core.config import with_settings_table as table; \
	  readme = pathlib.Path('README.md'); readme.write_text(table(readme.read_text()))"

## bench: benchmark the service under gunicorn beside a bare-Flask floor (SQLite and PostgreSQL);
## BENCH_SECONDS, BENCH_MEMBERS, BENCH_CONNECTIONS, BENCH_WORKERS… tune it (see bench/README.md)
bench: $(VENV)/.dev translations
	$(BIN)/python -m bench

## bench-city: the city layout (nginx over three app servers, PgBouncer, a streaming replica) beside
## one app server, and the drill, on 2,000,000 members (BENCH_MEMBERS=20000 for a small run; docs/scale.md)
bench-city: $(VENV)/.dev translations
	$(BIN)/python -m bench.city

## audit: look the pinned packages up in the vulnerability database (needs the network;
## pip-audit lives in its own virtualenv so the test environment stays as pinned)
audit:
	test -x .venv-audit/bin/pip-audit || ($(PYTHON) -m venv .venv-audit && \
	  .venv-audit/bin/pip install --quiet pip-audit==2.10.1)
	.venv-audit/bin/pip-audit --strict --disable-pip --no-deps --progress-spinner off \
	  --requirement requirements.txt --requirement requirements-dev.txt

clean:
	rm -rf $(VENV) .venv-audit .pytest_cache .hypothesis
