#!/usr/bin/env bash
# Install what moneypath needs on a fresh Debian machine: the Prometheus tools (promtool,
# prometheus, alertmanager), Graphviz (`moneypath map`), VictoriaMetrics (remote-write test), a PostgreSQL server (ledger
# tests start their own throwaway cluster), Chromium (tests open the HTML pages headless), Redis (the
# Django shop's Celery broker in tests), iproute2 (network namespaces for distributed load tests) and a
# virtual environment with the package, its test tools and the docs tools (MkDocs). `setup.sh --demo`
# installs only what `make demo` runs (Prometheus, Alertmanager, the package without test or docs
# tools), so a first demo stays quick.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
demo=false
case "${1:-}" in
  "") ;;
  --demo) demo=true ;;
  *) echo "usage: setup.sh [--demo]" >&2; exit 2 ;;
esac

need_apt=()
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || need_apt+=(prometheus-alertmanager)
command -v dot >/dev/null 2>&1 || need_apt+=(graphviz)  # lays out `moneypath map` (docs/decisions/0022)
# PostgreSQL server for the ledger tests; Debian keeps initdb out of PATH, under /usr/lib/postgresql/<major>/bin.
have_initdb() {
  command -v initdb >/dev/null 2>&1 && return 0
  local b
  for b in /usr/lib/postgresql/*/bin/initdb; do [ -x "$b" ] && return 0; done
  return 1
}
if ! $demo; then
  command -v victoria-metrics >/dev/null 2>&1 || need_apt+=(victoria-metrics)  # scale-out test; vmalert -dryRun (export)
  have_initdb || need_apt+=(postgresql)
  command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)  # reports and snapshot pages are checked in it
  # Celery's broker for the Django shop (tests/integration/foreign/test_djangoshop.py starts its own on a free port)
  command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
  # network namespaces: load-test workers on hosts of a test's own (tests/support/netns.py)
  command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV"
  python3 -m venv "$VENV"
fi
# Exact versions from constraints.txt, so every run installs the same thing; users get pyproject's ranges.
if $demo; then
  echo "setup: installing moneypath[all] into $VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[all]"
else
  echo "setup: installing moneypath[all], its test tools and the docs tools into $VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[all,dev,docs]"
fi
