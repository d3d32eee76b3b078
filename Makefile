# make demo — check the catalog and generated rules, then a provider outage end to end (about 4 minutes)
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
	$(BIN)/moneypath demo

test: setup
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python benchmarks/bench_instrument.py

lint: setup
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache build src/*.egg-info
