# Quick start: `make backtest` (install + default backtest) and `make test` (install + every test).
# Both create .venv when missing and reinstall only when the packaging or Rust sources changed.
PYTHON ?= $(shell command -v python3.12 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
RUST_SRC := $(shell find rust_ext/src -name '*.rs' 2>/dev/null) rust_ext/Cargo.toml
BASE_STAMP := $(VENV)/.installed-base
TEST_STAMP := $(VENV)/.installed-test

.PHONY: backtest test install lint bench catalog system-deps golden

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 12), "quant-scalper needs Python 3.12, found " + sys.version.split()[0] + ": set PYTHON=/path/to/python3.12"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip "maturin>=1.7,<2"

$(BASE_STAMP): $(BIN)/python pyproject.toml $(RUST_SRC)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pip install --quiet --no-build-isolation -e .
	touch $@

$(TEST_STAMP): $(BASE_STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pip install --quiet --no-build-isolation -e ".[test]"
	touch $@

install: $(BASE_STAMP)

backtest: $(BASE_STAMP)
	$(BIN)/quant-scalper backtest

# Debian packages the tests need, as package[:file]: installed (apt-get, as root) when the file
# is missing; without ":file" the package name is a command looked up on PATH.
SYSTEM_DEPS := redis-server postgresql:/usr/lib/postgresql/15/bin/initdb chromium
system-deps:
	@missing=""; for dep in $(SYSTEM_DEPS); do pkg=$${dep%%:*}; file=$${dep#*:}; \
	  if [ "$$file" = "$$dep" ]; then command -v $$pkg >/dev/null || missing="$$missing $$pkg"; \
	  else [ -e "$$file" ] || missing="$$missing $$pkg"; fi; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing$$missing (apt-get)"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq$$missing >/dev/null) \
	      || echo "warning: could not install$$missing: the tests that need it will skip"; \
	  else echo "note:$$missing not installed and not root: the tests that need it will skip"; fi; \
	fi

test: $(TEST_STAMP) system-deps
	cargo test --quiet --manifest-path rust_ext/Cargo.toml
	$(BIN)/python -m pytest -q

lint: $(TEST_STAMP)
	$(BIN)/ruff check quant_scalper tests benchmarks
	$(BIN)/ruff format --check quant_scalper tests benchmarks
	cargo fmt --manifest-path rust_ext/Cargo.toml --check
	cargo clippy --quiet --manifest-path rust_ext/Cargo.toml --all-targets --features python -- -D warnings
	cargo clippy --quiet --manifest-path rust_ext/Cargo.toml --all-targets -- -D warnings

bench: $(BASE_STAMP)
	$(BIN)/python benchmarks/bench_zscore.py
	$(BIN)/python benchmarks/bench_backtest.py
	$(BIN)/python benchmarks/bench_telegram.py
	$(BIN)/python benchmarks/bench_sweep.py
	$(BIN)/python benchmarks/bench_prescreen.py

catalog: $(BASE_STAMP)
	$(BIN)/quant-scalper catalog build

# Regenerate tests/golden/backtest_summary.json (every fill and statistic of the bundled
# backtest), sweep_12.json and walkforward.json (a 12-point sweep and a walk-forward):
# only when a change to the results is meant.
golden: $(BASE_STAMP)
	$(BIN)/python -m tests.golden_summary
	$(BIN)/python -m tests.golden_research
