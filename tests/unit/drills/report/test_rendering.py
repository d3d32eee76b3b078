"""The drill report renders from a journal alone: passing and failing drills, a failed run, escaping, atomic writes."""

from __future__ import annotations

import copy
import json
import struct

import pytest

from moneypath.catalog import load_catalog
from moneypath.drills.report import charts
from moneypath.drills.report.rendering import ReportError, load_journal, render, rerender
from tests.conftest import ROOT
from tests.docs_examples import args_of, code_block, shell
from tests.support.drill_journal import CLEAR, INJECT, T0, passing_journal, points

EVIL = '<script>alert("x")</script>'






def failing_journal() -> dict:
    j = passing_journal()
    j["drill"] = "duplicate-charge-broken"
    j["verdict"] = "fail"
    j["classification_at"] = None
    j["timings"] = {"detect_s": None, "page_s": None, "diagnose_s": 61.5, "recover_s": None}
    j["money"]["writes_lost"] = 3
    j["objectives"][1] = {"name": "detected", "ok": False,
                          "reason": "MoneyPathDuplicateChargeDetected never fired within its 120 s deadline"}
    j["alerts"][0].update(first_firing_at=None, paged_at=None, resolved_at=None, ok=False,
                          reason="did not fire within 120 s")
    j["alerts"].append({"alert": "MoneyPathLedgerWriteFailures", "expectation": "unexpected", "deadline_s": None,
                        "first_firing_at": INJECT + 50, "paged_at": INJECT + 55, "resolved_at": None,
                        "receivers": ["payments-oncall"], "ok": False, "reason": "paged but not expected"})
    j["evidence"][0].update(query=f'sum(rate(x{{provider="{EVIL}"}}[5m]))', result="no data", ok=False)
    j["roles"][0].update(answered_by="Mallory <mallory@example.test>", answer=EVIL + " & more",
                         answered_at=T0 + 1000, ok=False, late=True)
    j["roles"][1].update(ok=False, note="no answer: input closed")  # what the tabletop records on EOF
    for r in j["regulatory"]:
        r["due_at"] = None
    return j


def failed_run_journal() -> dict:
    """What a run that stopped early leaves: no series, null timings, no pages, no fault injected."""
    return {"schema": 1, "drill": "fraud-spike", "file": "runbooks/drills/fraud-spike.yaml", "title": "Fraud spike",
            "runbook": "runbooks/moneypathfraudspike.md", "target": {"service": "http://127.0.0.1:1"},
            "started_at": T0, "finished_at": None,
            "fault": {"where": "service", "name": "fraud_spike", "params": {}, "target": None, "injected_at": None,
                      "cleared_at": None, "halted": "steady state before the fault failed: 2 alerts firing"},
            "classification_at": None, "timeline": [{"t": T0, "kind": "halt", "text": "halted"}],
            "objectives": [{"name": "steady_state_before", "ok": False, "reason": "2 alerts firing"}],
            "timings": {"detect_s": None, "page_s": None, "diagnose_s": None, "recover_s": None},
            "money": {}, "alerts": [], "evidence": [], "roles": [], "regulatory": [],
            "series": {"Empty": {"query": "up", "unit": "short", "points": {}}}, "verdict": "fail"}


def _png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_passing_drill_report_has_every_section(tmp_path):
    (tmp_path / "runbooks").mkdir()  # the report under the repository: the runbook is found above it
    (tmp_path / "runbooks" / "moneypathduplicatechargedetected.md").write_text("# runbook")
    out = tmp_path / "reports" / "duplicate-charge-20260314-090000"
    md_path = render(passing_journal(), out)
    assert md_path == out / "report.md"
    md = md_path.read_text()
    page = (out / "index.html").read_text()
    assert "# Drill report: duplicate-charge — A customer is charged twice" in md
    assert "**Verdict: ✅ PASS**" in md and "FAIL" not in md.split("## Objectives")[0]
    assert "[runbooks/moneypathduplicatechargedetected.md](<../../runbooks/moneypathduplicatechargedetected.md>)" in md
    assert "| started | 2026-03-14 09:00:00 UTC |" in md
    assert "| detect | 35.0 | 35 s |" in md and "| recover | 185.0 | 3 min 05 s |" in md
    assert "| payments affected | 17 |" in md and "| duplicate amount | EUR 841.50 |" in md
    assert "| unreconciled difference | EUR 0.00 |" in md
    assert "| writes lost (must be 0) | ✅ 0 |" in md
    # alert matrix: one row per alert with expectation, deadline, firing/page/resolve relative to the fault
    row = next(line for line in md.splitlines() if line.startswith("| `MoneyPathDuplicateChargeDetected`"))
    assert row == ("| `MoneyPathDuplicateChargeDetected` | expected | 2 min 00 s | T+35 s (09:01:05) | T+42 s (09:01:12) "
                   "| T+3 min 05 s (09:03:35) | payments-oncall, compliance | ✅ ok | paged within 42 s |")
    assert "| `MoneyPathAuthorizationAvailabilityBudgetBurn` | must\\_not\\_page" not in md  # underscores kept as is
    assert "| `MoneyPathAuthorizationAvailabilityBudgetBurn` | must_not_page | — | — | — | — | — | ✅ ok |" in md
    # evidence and roles
    assert "`promql: sum by (provider) (increase(moneypath_duplicate_charges_total[1h]))`" in md
    assert "| engineering | T+15m: say where the second charge comes from | T+15 min 00 s | _not run interactively_" in md
    # regulatory: the journal's due_at (4 h after the page at 09:01:12); a clock without a fixed deadline has none
    assert "| DORA initial notification | 4 h from classification | 2026-03-14 13:01:12 UTC |" in md
    assert "| PCI DSS incident response | no fixed deadline | — | if card data may be compromised |" in md
    # timeline in order, relative to the fault
    tl = md.split("## Timeline")[1]
    assert tl.index("steady state checks") < tl.index("fault cleared") < tl.index("resolved")
    assert "| 09:01:12 | T+42 s | page | payments-oncall, compliance paged |" in tl
    # plots: one per series, linked from both formats, valid PNGs of a sensible size
    pngs = sorted(out.glob("*.png"))
    assert [p.name for p in pngs] == ["plot-01-duplicate-charges.png", "plot-02-authorizations-per-second.png"]
    for p in pngs:
        w, h = _png_size(p)
        assert 500 <= w <= 1600 and 200 <= h <= 900, (p.name, w, h)
        assert p.stat().st_size > 10_000
        assert f"]({p.name})" in md
        assert f'<img src="{p.name}"' in page
    assert '<span class="verdict pass">PASS</span>' in page
    assert json.loads((out / "journal.json").read_text())["drill"] == "duplicate-charge"
    assert not [p for p in tmp_path.rglob(".*.tmp")]


def test_failing_drill_report_names_the_reason_and_escapes_people_input(tmp_path):
    out = tmp_path / "r"
    md = render(failing_journal(), out).read_text()
    page = (out / "index.html").read_text()
    assert "**Verdict: ❌ FAIL**" in md and '<span class="verdict failv">FAIL</span>' in page
    assert ("| detected (expected alerts fired) | ❌ **fail** | MoneyPathDuplicateChargeDetected never fired within "
            "its 120 s deadline |") in md
    assert "| detect | — | _not reached_ |" in md
    assert "| writes lost (must be 0) | ⚠️ **3** |" in md
    assert "3 acknowledged write(s) LOST" in md and '<p class="bad">3 acknowledged write(s) LOST' in page
    assert "| `MoneyPathLedgerWriteFailures` | unexpected | — | T+50 s (09:01:20) | T+55 s (09:01:25) | — " in md
    assert "not classified" in md and "no clock started" in md
    # nothing a person typed or a query carried reaches the page as markup
    assert EVIL not in page and "<mallory@" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more" in page
    assert "Mallory &lt;mallory@example.test&gt;" in page
    assert "provider=&quot;&lt;script&gt;" in page
    # markdown: text is escaped (no raw tag), the query stays verbatim inside a code span
    assert EVIL + " & more" not in md and "\\<script\\>alert(\"x\")\\</script\\> & more" in md
    assert '`promql: sum(rate(x{provider="<script>alert("x")</script>"}[5m]))`' in md
    assert "T+16 min 40 s (09:16:40) LATE" in md
    assert "_Due and answer times count from 2026-03-14 09:00:00 UTC (the drill start)._" in md
    assert ("| compliance | T+60m: classify (DORA major incident or not) | T+1 h 00 min | — | _no answer: input closed_ "
            "| — | ❌ **not met** |") in md


def test_failed_run_renders_without_series_timings_or_pages(tmp_path):
    out = tmp_path / "r"
    md = render(failed_run_journal(), out).read_text()
    assert "**Verdict: ❌ FAIL**" in md
    assert "⚠️ **steady state before the fault failed: 2 alerts firing**" in md
    assert "_no alert expected and none fired_" in md and "_no diagnosis step ran_" in md
    assert "| fault injected | — |" in md
    assert "| duplicate amount | — (not measured) |" in md and "| writes lost (must be 0) | _—_ |" not in md
    assert "| writes lost (must be 0) | — |" in md
    assert _png_size(out / "plot-01-empty.png")[0] > 0
    # not even series or money: still a report
    bare = {"schema": 1, "drill": "x"}
    md = render(bare, tmp_path / "bare").read_text()
    assert "**Verdict: ❌ FAIL**" in md and "_no objective was evaluated (the run stopped early)_" in md
    assert "no series in the journal" in md


def test_an_error_mid_render_leaves_no_partial_directory(tmp_path, monkeypatch):
    calls = []

    def boom(*args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real(*args, **kwargs)

    real = charts._plot_signal
    monkeypatch.setattr(charts, "_plot_signal", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        render(passing_journal(), tmp_path / "new")
    assert list(tmp_path.iterdir()) == []  # neither the report directory nor a temporary one
    # into an existing directory (where the runner put journal.json): nothing changes
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "journal.json").write_text("{}")
    (existing / "report.md").write_text("old report")
    calls.clear()
    with pytest.raises(RuntimeError, match="disk full"):
        render(passing_journal(), existing)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing"]
    assert sorted(p.name for p in existing.iterdir()) == ["journal.json", "report.md"]
    assert (existing / "report.md").read_text() == "old report"
    monkeypatch.setattr(charts, "_plot_signal", real)
    render(passing_journal(), existing)
    assert "old report" not in (existing / "report.md").read_text()
    assert (existing / "journal.json").read_text() == "{}"  # the runner's journal is not rewritten


def test_rerender_from_a_saved_journal(tmp_path):
    src = tmp_path / "run"
    src.mkdir()
    (src / "journal.json").write_text(json.dumps(failing_journal()))
    path = rerender(src / "journal.json")
    assert path == src / "report.md" and (src / "index.html").exists()
    other = rerender(src / "journal.json", tmp_path / "elsewhere")
    assert "duplicate-charge-broken" in other.read_text() and (tmp_path / "elsewhere" / "index.html").exists()
    assert json.loads((tmp_path / "elsewhere" / "journal.json").read_text())["drill"] == "duplicate-charge-broken"
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ReportError, match="not JSON"):
        load_journal(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[1]")
    with pytest.raises(ReportError, match="not a drill journal"):
        rerender(tmp_path / "list.json")
    with pytest.raises(ReportError, match="no such file"):
        rerender(tmp_path / "missing.json")


def test_rendering_leaves_the_journal_as_it_was(tmp_path):
    for journal in (passing_journal(), failing_journal(), failed_run_journal()):
        before = copy.deepcopy(journal)
        render(journal, tmp_path / journal["drill"])
        assert journal == before


def test_drill_report_command_rerenders_or_says_why_in_one_line(tmp_path, capsys):
    """docs/drills.md's `drill report`, its placeholder path a journal written here."""
    from moneypath.cli import main

    report = args_of(shell(code_block("docs/drills.md", "Drills", "sh"))[3])
    src = tmp_path / "run"
    src.mkdir()
    (src / "journal.json").write_text(json.dumps(passing_journal()))
    argv = [str(src / "journal.json") if a == "reports/<drill>-<time>/journal.json" else a for a in report]
    assert argv == ["drill", "report", str(src / "journal.json")]
    assert main(argv) == 0  # beside the journal
    assert capsys.readouterr().out.strip() == f"wrote {src / 'report.md'}"
    assert (src / "index.html").exists()
    assert main([*argv, "--out", str(tmp_path / "again")]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {tmp_path / 'again' / 'report.md'}"
    assert (tmp_path / "again" / "index.html").exists()
    (tmp_path / "list.json").write_text("[1]")
    assert main(["drill", "report", str(tmp_path / "list.json")]) == 2
    err = capsys.readouterr().err
    assert err == f"moneypath drill report: {tmp_path / 'list.json'}: not a drill journal (no schema/drill keys)\n"
    assert not (tmp_path / "report.md").exists()


def test_the_first_page_mark_is_the_first_expected_page_not_a_ticket(tmp_path, monkeypatch):
    j = passing_journal()
    j["alerts"].append({"alert": "MoneyPathReconciliationLagHigh", "expectation": "unexpected", "deadline_s": None,
                        "first_firing_at": INJECT + 5, "paged_at": INJECT + 10, "resolved_at": None,
                        "receivers": ["payments-tickets"], "ok": True, "reason": "a ticket, not judged"})
    figures = []
    real = charts.save
    monkeypatch.setattr(charts, "save", lambda fig, path: (figures.append(fig), real(fig, path)))
    render(j, tmp_path / "r")
    marks = [t.get_text().strip() for t in figures[0].axes[0].texts]
    assert "first page T+42 s" in marks and "first page T+10 s" not in marks
    j["classification_at"] = None  # no expected page: no first-page mark at all
    figures.clear()
    render(j, tmp_path / "r2")
    assert not [t for t in figures[0].axes[0].texts if "first page" in t.get_text()]


def test_the_runbook_link_does_not_depend_on_the_current_directory(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    (repo / "runbooks").mkdir(parents=True)
    (repo / "runbooks" / "moneypathduplicatechargedetected.md").write_text("# runbook")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    (elsewhere / "runbooks").mkdir()  # a decoy: the current directory has the same relative path
    (elsewhere / "runbooks" / "moneypathduplicatechargedetected.md").write_text("# not this one")
    j = passing_journal()
    j["root"] = str(repo)  # what the runner records: the repository root (the catalog's directory)
    md = render(j, tmp_path / "out" / "r").read_text()
    assert "(<../../repo/runbooks/moneypathduplicatechargedetected.md>)" in md
    # an older journal without "root", rendered outside the repository: no link rather than a wrong one
    del j["root"]
    md = render(j, tmp_path / "out" / "r2").read_text()
    assert "| runbook | runbooks/moneypathduplicatechargedetected.md |" in md


# ---------------------------------------------------------------- money in its currency (a foreign catalog)

FOREIGN_PATH = ROOT / "tests" / "foreign" / "moneypath.yaml"


@pytest.fixture(scope="module")
def foreign():
    """A ticket shop's catalog: Komoju and KNET, JPY (no minor unit) and KWD (three decimals)."""
    return load_catalog(FOREIGN_PATH)


def foreign_journal() -> dict:
    """The passing journal as the ticket shop's drill writes it: its providers, its currencies, a money plot."""
    j = passing_journal()
    j["money"] = {"payments_affected": 4, "duplicate_amount_minor": {"JPY": 6235, "KWD": 6235},
                  "unreconciled_minor": {"KWD": 1500}, "writes_lost": 0}
    j["series"] = {"Money charged twice": {
        "query": "sum by (currency) (increase(shop_duplicate_charged_minor_total[10s]))", "unit": "minor",
        "points": {"currency=KWD": points(T0, T0 + 260, lambda t: 6235.0 if INJECT < t < CLEAR else 0.0)}}}
    return j


def test_money_reads_in_each_currencys_own_exponent(tmp_path, foreign):
    out = tmp_path / "r"
    md = render(foreign_journal(), out, foreign).read_text()
    page = (out / "index.html").read_text()
    assert "| duplicate amount | JPY 6,235, KWD 6.235 |" in md
    assert "<td>JPY 6,235, KWD 6.235</td>" in page
    assert "| unreconciled difference | KWD 1.500 |" in md
    assert "minor units" not in md and "minor units" not in page


def test_the_report_takes_the_exponents_from_the_catalog_it_is_given(tmp_path, foreign):
    # the catalog's currency_exponents override ISO 4217: it is the catalog, not a table, that says how money reads
    other = foreign.model_copy(update={"currency_exponents": {"KWD": 2}})
    md = render(foreign_journal(), tmp_path / "r", other).read_text()
    assert "| duplicate amount | JPY 6,235, KWD 62.35 |" in md
    # without a catalog (an old journal re-rendered anywhere): ISO 4217's exponents
    md = render(foreign_journal(), tmp_path / "iso").read_text()
    assert "| duplicate amount | JPY 6,235, KWD 6.235 |" in md


def test_a_money_plot_is_drawn_in_the_currency_not_in_minor_units(tmp_path, monkeypatch, foreign):
    figures = []
    real = charts.save
    monkeypatch.setattr(charts, "save", lambda fig, path: (figures.append(fig), real(fig, path)))
    render(foreign_journal(), tmp_path / "r", foreign)
    ax = figures[0].axes[0]
    assert max(ax.lines[0].get_ydata()) == pytest.approx(6.235)  # 6235 minor units of KWD
    assert ax.get_legend().get_texts()[0].get_text() == "KWD"
    assert ax.yaxis.get_major_formatter()(6.235, 0) == "KWD 6.235"
    # two currencies: an axis each (KWD 6.235 would be a flat line on a JPY 6,235 scale), each in its currency
    j = foreign_journal()
    j["series"]["Money charged twice"]["points"]["currency=JPY"] = points(T0, T0 + 260, lambda t: 6235.0)
    figures.clear()
    render(j, tmp_path / "r2", foreign)
    jpy, kwd = figures[0].axes
    assert [jpy.get_title(), kwd.get_title()] == ["Money charged twice: JPY", "Money charged twice: KWD"]
    assert max(jpy.lines[0].get_ydata()) == 6235.0 and max(kwd.lines[0].get_ydata()) == pytest.approx(6.235)
    assert jpy.yaxis.get_major_formatter()(6235.0, 0) == "JPY 6,235"
    assert kwd.yaxis.get_major_formatter()(6.235, 0) == "KWD 6.235"


def test_drill_report_command_shows_money_in_the_catalogs_currencies(tmp_path, capsys):
    from moneypath.cli import main

    src = tmp_path / "run"
    src.mkdir()
    j = foreign_journal()
    j["money"]["duplicate_amount_minor"] = {"KWD": 6235}
    (src / "journal.json").write_text(json.dumps(j))
    assert main(["drill", "report", str(src / "journal.json"), "--catalog", str(FOREIGN_PATH)]) == 0
    assert "| duplicate amount | KWD 6.235 |" in (src / "report.md").read_text()
    capsys.readouterr()


def test_a_steady_state_that_was_not_clean_is_said_near_the_top(tmp_path, foreign):
    j = foreign_journal()
    j["already_firing"] = ["ShopProviderPartialOutage", "ShopApprovalRateDrop"]
    md = render(j, tmp_path / "r", foreign).read_text()
    top = md.split("## ")[1].splitlines()  # the first section: the drill
    assert top[2] == ("**⚠️ Steady state not clean: already firing before the fault: ShopProviderPartialOutage, "
                      "ShopApprovalRateDrop; their pages before it are not counted as its detection.**")
    assert "Steady state not clean" not in render(foreign_journal(), tmp_path / "clean", foreign).read_text()


def test_payments_affected_is_defined_where_it_is_shown(tmp_path, foreign):
    md = render(foreign_journal(), tmp_path / "r", foreign).read_text()
    money = md[md.index("## Money impact"):].split("## ")[1]
    assert "| payments affected | 4 |" in money
    assert "Payments affected: payments started while the fault was on (plus a settling margin) that did not get " \
           "through" in money


def test_a_resolve_never_precedes_its_page_in_the_timeline(tmp_path, foreign):
    j = foreign_journal()
    j["timeline"] = [{"t": INJECT + 30, "kind": "resolved", "text": "RESOLVED ShopProviderPartialOutage → shop-oncall"},
                     {"t": INJECT + 30, "kind": "page", "text": "PAGE ShopProviderPartialOutage → shop-oncall"},
                     {"t": INJECT + 31, "kind": "ticket", "text": "TICKET ShopLatencyBudgetBurn → shop-tickets"},
                     {"t": INJECT - 1, "kind": "fault", "text": "injecting"}]
    md = render(j, tmp_path / "r", foreign).read_text()
    rows = [line for line in md[md.index("## Timeline"):].splitlines() if line.startswith("| ") and ":" in line]
    assert [r.split(" | ")[-1].split(" →")[0].rstrip(" |") for r in rows] == [
        "injecting", "PAGE ShopProviderPartialOutage", "RESOLVED ShopProviderPartialOutage",
        "TICKET ShopLatencyBudgetBurn"]


def test_the_report_shows_the_load_per_flow_and_step_and_why_flows_failed(tmp_path):
    j = passing_journal()
    j["load"] = {"rate": 3, "peak": None, "started": 40, "acknowledged": 30, "failed": 10, "captured": 0,
                 "behind": 2, "statuses": {"200": 120}, "flow": "checkout", "in_flight_cap": 8, "most_in_flight": 5,
                 "steps": {"checkoutCreate": {"sent": 40, "failed": 0}, "checkoutComplete": {"sent": 40, "failed": 10}},
                 "failures": {"checkoutComplete: data.checkoutComplete.errors is not empty (PAYMENT_ERROR)": 10}}
    md = render(j, tmp_path / "r").read_text()
    assert ("3 checkouts/s: 40 started, 30 acknowledged, 10 failed, 2 not started (all slots busy); at most 5 in "
            "flight (cap 8)") in md
    assert "checkoutCreate 40 (0 failed), checkoutComplete 40 (10 failed)" in md
    j["load"] |= {"answered": 30, "acknowledged": 26}  # 4 answered 2xx declined: not acknowledged (the money line's)
    md = render(j, tmp_path / "r2").read_text()
    assert "40 started, 26 acknowledged (and 4 answered in a state not approved), 10 failed" in md
    assert "10 × checkoutComplete: data.checkoutComplete.errors is not empty (PAYMENT_ERROR)" in md


def test_duplicates_from_a_detector_never_seen_running_are_not_a_figure(tmp_path):
    j = passing_journal()
    j["money"] |= {"duplicate_amount_minor": {}, "not_checked": {"duplicates": "no duplicates reported, detector "
                                                                              "not seen running"}}
    md = render(j, tmp_path / "r").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| duplicate amount"))
    assert "not checked: no duplicates reported, detector not seen running" in row and "none" not in row.split("|")[2]


def test_the_report_prints_each_stretchs_reconciliation_and_marks_series_that_are_not_data(tmp_path):
    j = passing_journal()
    line = ("the metrics counted 97 of 212 authorizations sent to 127.0.0.1:8000 (0.46; 188 acknowledged): several "
            "workers without multiprocess mode, or another instance scraped")
    j["conservation"] = [{"phase": "baseline", "target": "127.0.0.1:8000", "status": "fail", "line": line,
                          "figures": {"sent": 212, "acknowledged": 188, "counted": 97}}]
    title = next(iter(j["series"]))
    j["series"][title]["not_data"] = line
    md = render(j, tmp_path / "r").read_text()
    row = next(r for r in md.splitlines() if r.startswith("| counted (baseline, 127.0.0.1:8000)"))
    assert f"fail: {line}" in row
    assert f"Not measured: {line}" in md
