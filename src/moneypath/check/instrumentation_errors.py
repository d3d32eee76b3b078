"""What the service's own instrumentation counted as lost or wrong: `<namespace>_instrumentation_errors_total`
(moneypath.instrument._failures): a label value outside the catalog, a declared route recorded as "other", several
gunicorn workers or processes behind one port without PROMETHEUS_MULTIPROC_DIR (each logged once by the service).

Read by `moneypath lint --prometheus` (a problem per instance that counted any) and by drills (a timeline note
before the fault). The counter's largest value over the window, by target: each of several unshared workers counts
its own, and a scrape reads one of them, so the largest seen is what to report, not an increase.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from moneypath._common.verdict import FAIL, Check, not_measured, register
from moneypath.catalog import Catalog
from moneypath.catalog.conventions import Key

NAME = "instrumentation_errors"
Query = Callable[[str], list[tuple[dict, float]]]  # an instant query: (labels, value) pairs
WHAT = ("a label value outside the catalog, a declared route recorded as \"other\", or several workers behind one "
        "port without PROMETHEUS_MULTIPROC_DIR")


def expression(catalog: Catalog, window: str) -> str:
    return f"max by (job, instance) (max_over_time({catalog.metric(Key.INSTRUMENTATION_ERRORS_TOTAL)}[{window}]))"


def counted(query: Query, catalog: Catalog, window: str) -> dict[str, float] | None:
    """Each target's count ("<instance> (job <job>)" -> the largest value in the window); None when no target
    exports the counter (the service does not use moneypath's instrumentation, or is not scraped)."""
    found = {f"{labels.get('instance', '?')} (job {labels.get('job', '?')})": value
             for labels, value in query(expression(catalog, window)) if value == value}
    return found or None


def judge(counts: Mapping[str, float] | None, metric: str, window: str) -> Check:
    """pass: every target exports the counter at 0; fail: one counted (named with its count); not measured: none
    exports it."""
    if counts is None:
        return Check.judged(NAME, None, not_measured(f"no target exports {metric} in the last {window}"))
    bad = {target: n for target, n in sorted(counts.items()) if n > 0}
    if not bad:
        return Check.judged(NAME, True, f"{metric} is 0 on {len(counts)} target(s) in the last {window}")
    return Check.judged(NAME, False, "; ".join(
        f"{target} counted {n:g} in {metric} ({WHAT}): its log names which, once each" for target, n in bad.items()),
        counts=dict(bad))


register("check.instrumentation_errors", judge)


def problems(query: Query, catalog: Catalog, window: str) -> list[str]:
    """`moneypath lint --prometheus`'s lines: one per target that counted an instrumentation error; none when the
    counter is 0 or not exported (the lint's coverage says whether the service is scraped at all)."""
    check = judge(counted(query, catalog, window), catalog.metric(Key.INSTRUMENTATION_ERRORS_TOTAL), window)
    return [f"instrumentation: {part}" for part in check.why.split("; ")] if check.outcome is FAIL else []
