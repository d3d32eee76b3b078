"""A second team's own service, through the CLI only: tests/charges (a charges API with in-process
providers, no circuit breaker, no webhooks, USD/JPY/KWD, its own tables `charges` and `journal_entries`,
an admin hook to make a provider fail). What would make a team stop trusting moneypath must not happen:

- the money checks read the team's tables through the catalog's `money_checks:` queries (the team has a
  double-entry journal: init with `--features ledger`), the lint prepares
  them on the team's database (a wrong table is one line naming the key), and the drill's report judges
  the ledger from them: balanced in every currency, no acknowledged charge lost;
- a drill through the team's own hook passes: detected, paged, diagnosed, recovered, nothing else paged;
- what the first trial found is one line at the moment it happens: a regex typo in the team's alert, a
  provider the code has and the catalog lacks (counted on the first scrape), a target that does not
  answer at `up`, the catalog found from a drill file's directory; and nothing generated reads the
  circuit breaker the service does not have.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, free_port, http_ok, stop_process, wait_for
from tests.docs_examples import args_of, code_block, fill, shell, substitute
from tests.foreign.harness import moneypath, uvicorn

pytestmark = pytest.mark.integration
DRILLS = ROOT / "tests" / "charges" / "drills"
LEDGER = """
money_checks:
  balance: SELECT ccy AS currency, SUM(minor) AS total FROM journal_entries GROUP BY ccy
  payments: SELECT charge_id AS id FROM charges WHERE charge_id IN :ids
"""
TYPO_ALERT = """
  AdyenFailing:
    severity: ticket
    for: 10m
    summary: Adyen fails charges.
    expr: sum(rate(charges_authorizations_total{provider="adyen", outcome=~"error|timout"}[5m])) > 1
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("charges") / "ops"
    moneypath("init", str(root), "--service", "charges", "--providers", "stripe,adyen", "--currencies",
              "USD,JPY,KWD", "--features", "ledger", "--routes", "/v2/charges,/v2/charges/{charge_id},/admin/chaos",
              "--oncall", "charges-oncall")
    catalog = root / "moneypath.yaml"
    catalog.write_text(catalog.read_text() + LEDGER)
    shutil.copytree(DRILLS, root / "runbooks" / "drills", dirs_exist_ok=True)
    return root


@pytest.fixture(scope="module")
def service(project, tmp_path_factory):
    port = free_port()
    db = tmp_path_factory.mktemp("db") / "charges.db"
    proc = uvicorn("tests.charges.service:app", port, {"CHARGES_CATALOG": str(project / "moneypath.yaml"),
                                                       "CHARGES_DB": str(db)})
    try:
        wait_for(lambda: http_ok(f"http://127.0.0.1:{port}/healthz"), 30, "the charges service to start")
        yield {"url": f"http://127.0.0.1:{port}", "db_url": f"sqlite:///{db}"}
    finally:
        stop_process(proc)


def test_the_lint_prepares_the_teams_ledger_queries_on_its_database(project, service):
    """docs/getting-started.md's `lint --db-url` (step 4's third line) on this project and the service's database."""
    line = args_of(shell(code_block("docs/getting-started.md", "Your own service in 10 minutes", "sh", nth=1))[2])
    lint = moneypath(*fill(substitute(line, {"ops": str(project)}), db_url=service["db_url"]), check=False)
    assert lint.returncode == 0 and "lint: no problems" in lint.stdout, lint.stdout + lint.stderr
    without = moneypath("lint", "--root", str(project))
    assert "lint: 2 money-check queries not checked (give --db-url to check them against your database)" in without.stdout

    wrong = project.parent / "wrong.yaml"  # a table name the team mistyped: one line naming the key
    wrong.write_text((project / "moneypath.yaml").read_text().replace("FROM journal_entries", "FROM journal_entry"))
    lint = moneypath("lint", "--root", str(project), "--catalog", str(wrong), "--db-url", service["db_url"],
                     check=False)
    assert lint.returncode == 1, lint.stdout + lint.stderr
    assert f"{wrong}: money_checks.balance: does not run on the --db-url database: no such table: journal_entry" \
        in lint.stderr.splitlines()


def test_a_hook_drill_passes_and_judges_the_ledger_from_the_teams_tables(project, service, tmp_path):
    catalog = project / "moneypath.yaml"
    state_dir = tmp_path / "stack"
    try:
        up = moneypath("up", "--catalog", str(catalog), "--state-dir", str(state_dir), "--target",
                       service["url"].removeprefix("http://"), "--fast", "--time-factor", "60")
        stack = dict(re.findall(r"(Prometheus|Alertmanager) (http://\S+?),", up.stdout))
        pager = re.search(r"pages (http://\S+)/pages", up.stdout)[1]
        run = moneypath("drill", "run", str(project / "runbooks" / "drills" / "adyen-failing.yaml"),
                        "--catalog", str(catalog), "--reports", str(project / "reports"),
                        "--target-service", service["url"], "--target-prometheus", stack["Prometheus"],
                        "--target-pager", pager, "--target-alertmanager", stack["Alertmanager"],
                        "--db-url", service["db_url"], "--time-factor", "60", check=False,
                        env={"CHARGES_URL": service["url"]}, timeout=600)
    finally:
        moneypath("down", "--state-dir", str(state_dir), check=False)
    print(run.stdout[-4000:])
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr
    [journal_file] = (project / "reports").glob("adyen-failing*/journal.json")
    journal = json.loads(journal_file.read_text())
    objectives = {o["name"]: o for o in journal["objectives"]}
    assert all(o["ok"] for o in journal["objectives"]), objectives
    ledger = objectives["ledger_balanced"]["reason"]
    assert ledger.startswith("all ") and "; postings sum to 0 in JPY, KWD, USD; " in ledger, ledger
    money = journal["money"]
    assert money["writes_lost"] == 0 and money["acknowledged_payments"] > 100
    assert money["not_checked"] == {"unreconciled": "the catalog declares no money_checks.breaks query",
                                    "duplicates": "no duplicates reported, detector not seen running"}
    report = (journal_file.parent / "report.md").read_text()
    assert "LOST" not in report
    assert "| unreconciled difference | _not checked: the catalog declares no money_checks.breaks query_ |" in report


def test_what_the_first_trial_found_is_one_line_at_the_moment_it_happens(project, service, tmp_path):
    catalog = project / "moneypath.yaml"
    generated = "".join((project / rel).read_text() for rel in ("alerts/moneypath-alerts.yaml",
                                                                "collector/recording-rules.yaml"))
    assert "circuit" not in generated  # no breaker declared: no rule reads one

    typo = project.parent / "typo.yaml"
    typo.write_text(catalog.read_text().replace("\nalerts:\n", "\nalerts:" + TYPO_ALERT, 1))
    check = moneypath("catalog", "check", "--catalog", str(typo), check=False)
    assert check.returncode == 3 and "'timout' is not a declared value of outcome" in check.stderr, check.stderr
    assert "did you mean timeout?" in check.stderr and check.stderr.startswith(f"{typo}:")

    charged = httpx.post(f"{service['url']}/v2/charges", json={"psp": "klarna", "ccy": "USD", "amount": 500},
                         timeout=5)
    assert charged.status_code == 201
    scraped = httpx.get(f"{service['url']}/metrics", timeout=5).text
    errors = sum(float(line.rsplit(" ", 1)[1]) for line in scraped.splitlines()
                 if line.startswith("charges_instrumentation_errors_total"))
    assert errors >= 1 and 'provider="other"' in scraped

    drill = project / "runbooks" / "drills" / "adyen-failing.yaml"
    unset = moneypath("drill", "check", str(drill), check=False)  # its hook's ${CHARGES_URL}: refused unset
    assert unset.returncode == 2 and "fault.set.url: ${CHARGES_URL} is not set" in unset.stderr, unset.stderr
    found = moneypath("drill", "check", str(drill), check=False,  # no --catalog: ops/moneypath.yaml, walked up to
                      env={"CHARGES_URL": service["url"]})
    assert found.returncode == 0, found.stdout + found.stderr

    closed = free_port()
    state_dir = tmp_path / "stack"
    try:
        up = moneypath("up", "--catalog", str(catalog), "--state-dir", str(state_dir), "--target",
                       f"127.0.0.1:{closed}", "--target-wait", "0", check=False)
        assert up.returncode == 0, up.stderr
        assert f"warning: target 127.0.0.1:{closed} does not answer (connection refused)" in up.stderr
    finally:
        moneypath("down", "--state-dir", str(state_dir), check=False)
