# make demo — check the catalog and generated rules, show the catalog, print what the instrumentation exports
# make test — run the whole test suite (installs what it needs first)
# make bench — instrumentation benchmarks (figures, not pass/fail)
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test bench lint clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml scripts/setup.sh
	VENV=$(VENV) bash scripts/setup.sh
	touch $@

demo: setup
	$(BIN)/moneypath catalog check
	$(BIN)/moneypath build --check
	$(BIN)/moneypath catalog show
	$(BIN)/moneypath metrics sample --payments 50 | grep -E '^# (HELP|TYPE) moneypath_authorization|^moneypath_authorization_duration_seconds_bucket.*# \{' | head -n 8

test: setup
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python benchmarks/bench_instrument.py

lint: setup
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache build src/*.egg-info
