# One entry point for people and CI. Every target bootstraps the virtualenv it needs: `serve`
# only the gateway's runtime dependencies, the others the dev toolchain on top.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
# The venv is made without a pip of its own (ensurepip alone takes seconds); $(PYTHON)'s pip
# installs into it (--python).
PIP := $(PYTHON) -m pip --python $(BIN)/python install --quiet

.PHONY: test lint proto proto-check dashboard dashboard-check typecheck unit serve native bench bench-peer clean

$(BIN)/python:
	$(PYTHON) -m venv --without-pip $(VENV)

## What the gateway needs to run: its runtime dependencies only.
$(BIN)/.runtime: pyproject.toml | $(BIN)/python
	$(PIP) -e .
	touch $@

## The runtime and the dev toolchain (pytest, mypy, ruff, grpcio-tools, ...) for everything else.
$(BIN)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) -e '.[dev]'
	touch $(BIN)/.runtime $@

## The whole test suite: lint, types, then pytest (the README's test command).
test: lint proto-check dashboard-check typecheck unit

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

## The dashboard's page is built from clients/dashboard/frontend (npm, locked) into
## clients/dashboard/static, which is committed: `make dashboard` rebuilds it, and
## `make test` fails when the committed build is not what the sources give.
DASHBOARD := clients/dashboard/frontend
$(DASHBOARD)/node_modules/.package-lock.json: $(DASHBOARD)/package-lock.json
	cd $(DASHBOARD) && npm ci --no-audit --no-fund

dashboard: $(DASHBOARD)/node_modules/.package-lock.json
	cd $(DASHBOARD) && node build.mjs

dashboard-check: $(DASHBOARD)/node_modules/.package-lock.json
	rm -rf $(DASHBOARD)/build-check
	cd $(DASHBOARD) && node build.mjs build-check > /dev/null
	diff -r $(DASHBOARD)/build-check clients/dashboard/static > /dev/null || \
		{ rm -rf $(DASHBOARD)/build-check; \
		  echo "clients/dashboard/static is stale: run make dashboard and commit it"; exit 1; }
	rm -rf $(DASHBOARD)/build-check

## What the tests need beyond Python: the Node example's packages (exactly as locked), and
## Debian's chromium for the dashboard's browser test (CI runs as root on a fresh machine).
NODE_EXAMPLE := clients/auth-examples/node
$(NODE_EXAMPLE)/node_modules/.package-lock.json: $(NODE_EXAMPLE)/package-lock.json
	cd $(NODE_EXAMPLE) && npm ci --no-audit --no-fund

CHROMIUM ?= /usr/bin/chromium
$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

## The hot modules of the protocol core compiled with mypyc, in place (gateway/native.py says
## which; the manifest records their sources, and a stale build is never used). The suite runs
## on the compiled core and compares it with the pure-Python one (tests/test_native.py).
NATIVE := gateway/protocol/native-manifest.json
$(NATIVE): $(wildcard gateway/protocol/*.py) gateway/events.py gateway/hub.py gateway/store/blob.py gateway/store/rows.py \
		controlplane/location_wire.py gateway/server/connection.py gateway/auth/base.py \
		gateway/server/logline.py \
		gateway/native.py scripts/build_native.py | $(BIN)/.installed
	$(BIN)/python scripts/build_native.py

native: $(NATIVE)

## pytest-xdist: one worker a core; no test depends on another's order or timing.
unit: $(BIN)/.installed $(NATIVE) $(NODE_EXAMPLE)/node_modules/.package-lock.json $(CHROMIUM)
	$(BIN)/pytest -n auto --dist worksteal

## Run the gateway with its embedded defaults.
serve: $(BIN)/.runtime
	$(BIN)/jt808 serve

## Benchmarks print figures; they are never part of the test suite.
bench: $(BIN)/.installed $(NATIVE)
	$(BIN)/python -m benchmarks.codec
	$(BIN)/python -m benchmarks.control_plane
	$(BIN)/python -m benchmarks.tls

## Our gateway beside go-jt808 through the peer's load generator (../shared/peer-bench): about
## 15-20 minutes for 3 rounds; every figure also goes to build/peer-bench.json.
PEER_ROUNDS ?= 3
bench-peer: $(BIN)/.installed $(NATIVE)
	mkdir -p build
	$(BIN)/python -m benchmarks.peer --rounds $(PEER_ROUNDS) --json build/peer-bench.json

clean:
	-$(BIN)/python scripts/build_native.py --clean
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build
