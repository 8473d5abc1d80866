# One entry point for people and CI. Every target bootstraps the virtualenv it needs.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: test lint typecheck unit serve bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

## The whole test suite: lint, types, then pytest (the README's test command).
test: lint typecheck unit

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(BIN)/.installed
	$(BIN)/mypy

unit: $(BIN)/.installed
	$(BIN)/pytest

## Run the gateway with its embedded defaults.
serve: $(BIN)/.installed
	$(BIN)/jt808 serve

## Benchmarks print figures; they are never part of the test suite.
bench: $(BIN)/.installed
	$(BIN)/python -m benchmarks.codec

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
