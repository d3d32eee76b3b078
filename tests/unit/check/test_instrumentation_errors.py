"""What the service's instrumentation counted as lost or wrong (moneypath.check.instrumentation_errors): the lint's
lines name each target that counted any, a clean or unexporting target adds none; the drill names it once in its
timeline before the fault (no stack: Prometheus' answers are given). The real service (gunicorn, two workers, no
multi-process directory) read by a real Prometheus: tests/integration/instrument/test_workers_flask.py."""

from __future__ import annotations

import pytest

from moneypath.catalog.conventions import Key
from moneypath.check import instrumentation_errors as ie
from tests.support.drill_fakes import duplicate_charge_run

WORKER = {"job": "shop", "instance": "127.0.0.1:8000"}


def asked(answer):
    seen = []

    def query(expr):
        seen.append(expr)
        return answer
    return query, seen


def test_the_lint_names_each_target_that_counted_and_reads_the_catalogs_metric(catalog):
    query, seen = asked([(WORKER, 1.0), ({"job": "shop", "instance": "127.0.0.1:8001"}, 0.0)])
    lines = ie.problems(query, catalog, "1d")
    metric = catalog.metric(Key.INSTRUMENTATION_ERRORS_TOTAL)
    assert seen == [f"max by (job, instance, reason) (max_over_time({metric}[1d]))"]
    assert len(lines) == 1 and lines[0].startswith(f"instrumentation: 127.0.0.1:8000 (job shop) counted 1 in {metric}")
    assert "PROMETHEUS_MULTIPROC_DIR" in lines[0] and "its log names which" in lines[0]


def test_the_lint_names_each_reason_with_what_to_do(catalog):
    metric = catalog.metric(Key.INSTRUMENTATION_ERRORS_TOTAL)
    query, _ = asked([({**WORKER, "reason": "undeclared_route"}, 2.0), ({**WORKER, "reason": "unknown_value"}, 1.0),
                      ({**WORKER, "reason": "failure"}, 0.0)])
    assert ie.problems(query, catalog, "1d") == [
        f"instrumentation: 127.0.0.1:8000 (job shop) counted 3 in {metric}: 2 undeclared_route (a route the app "
        "serves that the catalog does not declare: add it to signals.http_requests_total.labels.route), "
        "1 unknown_value (a label value outside the catalog, recorded as \"other\"); its log names each, once"]
    check = ie.judge(ie.counted(query, catalog, "1d"), metric, "1d")
    assert check.outcome == "fail" and check.figures["counts"] == {"127.0.0.1:8000 (job shop)": 3.0}


def test_every_reason_the_library_counts_has_its_words():
    from moneypath.catalog.conventions import ERROR_REASONS

    assert sorted(ie.REASONS) == sorted(ERROR_REASONS)


@pytest.mark.parametrize("answer", [[], [(WORKER, 0.0)], [(WORKER, float("nan"))]], ids=["absent", "zero", "nan"])
def test_a_clean_or_silent_target_adds_no_line(catalog, answer):
    assert ie.problems(asked(answer)[0], catalog, "1d") == []


def test_not_exported_is_not_measured_never_a_pass(catalog):
    check = ie.judge(ie.counted(asked([])[0], catalog, "1h"), "m", "1h")
    assert check.outcome == "not measured" and "no target exports m" in check.why


@pytest.fixture
def drill_run(catalog):
    with duplicate_charge_run(catalog) as (run, said):
        yield run, said


def test_the_drill_notes_a_target_that_counted_before_the_fault(drill_run):
    run, said = drill_run
    run.prom.answer = lambda expr: [(WORKER, 2.0)] if "instrumentation_errors_total" in expr else []
    run._instrumentation_note()
    notes = [line for line in said if "instrumentation errors before the fault" in line]
    assert len(notes) == 1 and "127.0.0.1:8000 (job shop) counted 2" in notes[0]


def test_the_drill_says_nothing_of_a_clean_target(drill_run):
    run, said = drill_run
    run.prom.answer = lambda expr: [(WORKER, 0.0)]
    run._instrumentation_note()
    assert not any("instrumentation errors" in line for line in said)
