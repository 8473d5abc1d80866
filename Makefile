# One entry point for people and CI. Every target bootstraps the virtualenv it needs.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: test lint proto proto-check typecheck unit serve bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

## The whole test suite: lint, types, then pytest (the README's test command).
test: lint proto-check typecheck unit

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## The gRPC contracts: buf STANDARD lint, and the generated code in jt808/ must be fresh.
BUF := npx --yes @bufbuild/buf@1.75.0
proto-check: $(BIN)/.installed
	$(BUF) lint
	$(BIN)/python scripts/gen_proto.py --check

## Regenerate jt808/ from proto/ (commit the result).
proto: $(BIN)/.installed
	$(BIN)/python scripts/gen_proto.py

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
	$(BIN)/python -m benchmarks.control_plane
	$(BIN)/python -m benchmarks.tls

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
