"""What the service's own instrumentation counted as lost or wrong: `<namespace>_instrumentation_errors_total`
(moneypath.instrument._failures): a label value outside the catalog, a declared route recorded as "other", a route
the app serves that the catalog does not declare, several gunicorn workers or processes behind one port without
PROMETHEUS_MULTIPROC_DIR (each logged once by the service), each under its `reason` label where the catalog
declares it (catalog.conventions.ErrorReason).

Read by `moneypath lint --prometheus` (a problem per instance that counted any, naming each reason) and by drills
(a timeline note before the fault). The counter's largest value over the window, by target and reason: each of
several unshared workers counts its own, and a scrape reads one of them, so the largest seen is what to report,
not an increase.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from moneypath._common.verdict import Check, not_measured, register
from moneypath.catalog import Catalog
from moneypath.catalog.conventions import ERROR_REASON_LABEL, ErrorReason, Key

NAME = "instrumentation_errors"
Query = Callable[[str], list[tuple[dict, float]]]  # an instant query: (labels, value) pairs
WHAT = ("a label value outside the catalog, a declared route recorded as \"other\", a route the catalog does not "
        "declare, or several workers behind one port without PROMETHEUS_MULTIPROC_DIR")
# What each reason means, and what to do, in the lint's line.
REASONS = {
    ErrorReason.FAILURE: "a recording call failed inside the instrumentation",
    ErrorReason.UNKNOWN_VALUE: "a label value outside the catalog, recorded as \"other\"",
    ErrorReason.UNMATCHED: "a route or operation the catalog declares, recorded as \"other\" by the integration",
    ErrorReason.SEVERAL_PROCESSES: "several workers behind one port without PROMETHEUS_MULTIPROC_DIR",
    ErrorReason.UNDECLARED_ROUTE: f"a route the app serves that the catalog does not declare: add it to "
                                  f"signals.{Key.HTTP_REQUESTS_TOTAL}.labels.route",
}


def expression(catalog: Catalog, window: str) -> str:
    metric = catalog.metric(Key.INSTRUMENTATION_ERRORS_TOTAL)
    return f"max by (job, instance, {ERROR_REASON_LABEL}) (max_over_time({metric}[{window}]))"


def _target(labels: Mapping[str, str]) -> str:
    return f"{labels.get('instance', '?')} (job {labels.get('job', '?')})"


def by_reason(query: Query, catalog: Catalog, window: str) -> dict[str, dict[str, float]] | None:
    """Each target's count by reason ("" where the catalog has no `reason` label); None when no target exports
    the counter (the service does not use moneypath's instrumentation, or is not scraped)."""
    found: dict[str, dict[str, float]] = {}
    for labels, value in query(expression(catalog, window)):
        if value == value:
            found.setdefault(_target(labels), {})[labels.get(ERROR_REASON_LABEL, "")] = value
    return found or None


def counted(query: Query, catalog: Catalog, window: str) -> dict[str, float] | None:
    """Each target's count ("<instance> (job <job>)" -> the largest value in the window, summed over reasons);
    None when no target exports the counter."""
    found = by_reason(query, catalog, window)
    return None if found is None else {target: sum(reasons.values()) for target, reasons in found.items()}


def line(target: str, n: float, metric: str, reasons: Mapping[str, float] | None = None) -> str:
    """One target's count, with what each reason means (the catalog's `reason` label), else every possible cause."""
    named = {r: v for r, v in sorted((reasons or {}).items()) if v > 0 and r in REASONS}
    if not named:
        return f"{target} counted {n:g} in {metric} ({WHAT}): its log names which, once each"
    causes = ", ".join(f"{v:g} {r} ({REASONS[r]})" for r, v in named.items())
    return f"{target} counted {n:g} in {metric}: {causes}; its log names each, once"


def judge(counts: Mapping[str, float] | None, metric: str, window: str,
          reasons: Mapping[str, Mapping[str, float]] | None = None) -> Check:
    """pass: every target exports the counter at 0; fail: one counted (named with its count, and by reason when
    `reasons` has them); not measured: none exports it."""
    if counts is None:
        return Check.judged(NAME, None, not_measured(f"no target exports {metric} in the last {window}"))
    bad = {target: n for target, n in sorted(counts.items()) if n > 0}
    if not bad:
        return Check.judged(NAME, True, f"{metric} is 0 on {len(counts)} target(s) in the last {window}")
    return Check.judged(NAME, False, "; ".join(line(target, n, metric, (reasons or {}).get(target))
                                               for target, n in bad.items()), counts=dict(bad))


register("check.instrumentation_errors", judge)


def problems(query: Query, catalog: Catalog, window: str) -> list[str]:
    """`moneypath lint --prometheus`'s lines: one per target that counted an instrumentation error; none when the
    counter is 0 or not exported (the lint's coverage says whether the service is scraped at all)."""
    found = by_reason(query, catalog, window) or {}
    metric = catalog.metric(Key.INSTRUMENTATION_ERRORS_TOTAL)
    return [f"instrumentation: {line(target, sum(reasons.values()), metric, reasons)}"
            for target, reasons in sorted(found.items()) if sum(reasons.values()) > 0]
