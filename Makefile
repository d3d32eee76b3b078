# make demo — check the catalog, generated rules, runbooks and drill files, then every drill end to end with a summary (about 7 minutes)
# make test — the import contracts, the docs site (mkdocs build --strict), the unit tier, then the integration tier (installs what it needs first)
# make docs — fill in the docs' generated sections (command help, catalog reference, module list) from the code
# make test-unit — the unit tier alone (under 2 minutes: one pytest worker per core)
# make bench — instrumentation, fault proxy and alert backtest benchmarks (figures, not pass/fail)
# make bench-service — the reference service end to end, instrumented vs not (about 3 minutes)
# make bench-otel — the OTel backend per OpenTelemetry SDK version, one throwaway venv each under /tmp (about 15 minutes)
VENV ?= .venv
BIN := $(VENV)/bin
# Compiled modules are kept (__pycache__, ignored by git): the tests start hundreds of Python processes, and
# pytest rewrites ~400 test modules, each of which would otherwise compile everything again.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: setup demo docs test test-unit bench bench-service bench-otel lint clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt scripts/setup.sh
	VENV=$(VENV) bash scripts/setup.sh
	touch $@

# the demo needs less than the tests (no PostgreSQL, VictoriaMetrics or test tools)
$(VENV)/.installed-demo: pyproject.toml constraints.txt scripts/setup.sh
	VENV=$(VENV) bash scripts/setup.sh --demo
	touch $@

demo: $(VENV)/.installed-demo
	$(BIN)/moneypath catalog check
	$(BIN)/moneypath build --check
	$(BIN)/moneypath lint
	$(BIN)/moneypath demo

# The docs site and the unit tier first (no process started, so one worker per core; under 2 minutes); stop
# there on a failure, then the integration tier, also on every core: its tests mostly wait for servers and
# clocks; a module stays on one worker, and every `exclusive` test (the drills, the capacity runs) on one, one after
# the other (tests/conftest.py). It prints its 25 slowest tests: CI's budget is 30 minutes and this tier takes
# most of it. The unit tier's workers steal work from each other at the end (worksteal), so none sits idle.
# Why, with the figures: docs/decisions/0015-test-tier-scheduling.md.
UNIT_TIER := -m "not integration and not timing" -n auto --dist worksteal

test: setup
	$(BIN)/lint-imports --no-cache
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet
	$(BIN)/python -m pytest $(UNIT_TIER)
	$(BIN)/python -m pytest -m "integration or timing" -n auto --dist loadfile --durations=25

# The generated sections of README.md and docs/**/*.md are committed filled in; tests/unit/test_docs.py fails
# while one is stale (scripts/docs_hooks.py --check).
docs: setup
	$(BIN)/python scripts/docs_hooks.py --write

test-unit: setup
	$(BIN)/python -m pytest $(UNIT_TIER)

bench: setup
	$(BIN)/python benchmarks/bench_instrument.py
	$(BIN)/python benchmarks/bench_faultproxy.py
	$(BIN)/python benchmarks/bench_backtest.py

bench-service: setup
	$(BIN)/python benchmarks/bench_service.py

bench-otel: setup
	$(BIN)/python benchmarks/bench_otel_versions.py

lint: setup
	$(BIN)/ruff check src tests benchmarks loadtests

clean:
	rm -rf $(VENV) .pytest_cache build src/*.egg-info
