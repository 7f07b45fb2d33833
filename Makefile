# Preflight: `make gate` runs the release gate, `make test` the project's own tests.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
PY := $(VENV)/bin/python
# Explicit plugins instead of entry-point autoloading: faster start, same set everywhere.
PYTEST := PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 $(PY) -m pytest -p xdist.plugin -p allure_pytest.plugin
export ALLURE_NO_ANALYTICS := true
export PACT_DO_NOT_TRACK := true

.PHONY: help setup lint format test unit gate stack-up stack-down clean

help:
	@echo "make gate    run the release gate against the embedded stack (reports/ and exit code)"
	@echo "make test    the project's own tests: lint, unit, every suite against the embedded stack"
	@echo "make setup   install what is missing (Debian packages, locked Python and npm deps)"
	@echo "make lint    ruff check, ruff format --check, mypy --strict"

setup:
	@bash deploy/ci/setup.sh

lint: setup
	$(VENV)/bin/ruff check preflight reference_services fixtures tests bench load
	$(VENV)/bin/ruff format --check preflight reference_services fixtures tests bench load
	$(VENV)/bin/mypy --strict preflight reference_services

format: setup
	$(VENV)/bin/ruff format preflight reference_services fixtures tests bench load
	$(VENV)/bin/ruff check --fix preflight reference_services fixtures tests bench load

unit: setup
	$(PYTEST) tests/unit -q

test: lint
	$(PYTEST) -n auto --dist loadgroup -q tests

gate: setup
	$(VENV)/bin/preflight gate

stack-up: setup
	$(VENV)/bin/preflight stack up --keep

stack-down: setup
	$(VENV)/bin/preflight stack down

clean:
	rm -rf reports .preflight .mypy_cache .ruff_cache
