# Two commands for a fresh machine: `make demo` and `make test`.
# Each creates .venv and installs what it needs the first time.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# What ruff lints and formats (docs/conf.py is the only Python file under docs/).
LINTED := flask_qbo demo_app tests benchmarks docs/conf.py

.PHONY: demo test check docs screenshots emulator clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,docs,demo,celery,postgres]"
	touch $(STAMP)

## Run the demo CRM on SQLite with the embedded QBO emulator.
demo: $(STAMP)
	$(BIN)/python -m demo_app

## The static checks, in order: the layer rule, types, lint, formatting.
check: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

## The static checks, then the whole test suite, then the docs with warnings as errors.
test: check
	$(BIN)/python -m pytest
	$(BIN)/python -m sphinx -W --keep-going -q -b html docs docs/_build/html

## Build the docs only.
docs: $(STAMP)
	$(BIN)/python -m sphinx -W --keep-going -q -b html docs docs/_build/html

## Re-take the docs' screenshots (docs/_static/screenshots/*.png) with the browser tests.
## Only this target writes them: a plain test run saves its screenshots in a temporary folder.
screenshots: $(STAMP)
	QBO_SCREENSHOTS=1 $(BIN)/python -m pytest tests/e2e -p no:cacheprovider

## Run the standalone QBO emulator.
emulator: $(STAMP)
	$(BIN)/python -m flask_qbo.emulator

clean:
	rm -rf $(VENV) docs/_build build dist *.egg-info
