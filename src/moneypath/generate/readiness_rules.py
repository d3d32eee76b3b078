"""Catalog → the readiness ticket rules, over the series `moneypath readiness serve` exports (names in
moneypath.catalog.conventions.READINESS_METRICS, selected by the catalog's `service`):

- ReadinessLapsed: a paging alert's last passing drill is older than its policy (reason="stale"), or it was never
  rehearsed (reason="never_rehearsed": its policy is exported but no last pass). Never rehearsed tickets too: a
  paging alert nobody has seen page is the least ready of all, and a silence would read as ready.
- TimeToPageCreeping: the median time to page of the last `trend.runs` runs is over the deadline
  (reason="over_deadline"), or over the median of the runs before by more than `trend.creep`
  (reason="slower_than_before"). With fewer runs than that the rule cannot fire (not measured, never creeping).

Generated only while the catalog declares `readiness:`; the time is Prometheus' own (`time()`), so a drill goes
stale on the real clock without the exporter changing.
"""

from __future__ import annotations

from moneypath.catalog import Catalog
from moneypath.catalog.conventions import READINESS_ALERT_LABEL, READINESS_METRICS, READINESS_RUN_LABEL, AlertKey
from moneypath.generate.rule_text import annotations, num

GROUP = "moneypath-readiness"


def runs_matcher(first: int, last: int) -> str:
    """The run label values first..last (1 is the newest run) as a regex."""
    return "|".join(str(i) for i in range(first, last + 1))


def series(c: Catalog, which: str, matchers: str = "") -> str:
    extra = f", {matchers}" if matchers else ""
    return f'{READINESS_METRICS[which]}{{service="{c.service}"{extra}}}'


def readiness_rules(c: Catalog) -> list[dict]:
    if c.readiness is None:
        return []
    on = f"on (service, {READINESS_ALERT_LABEL})"
    by = f"by (service, {READINESS_ALERT_LABEL})"
    n, creep = c.readiness.trend.runs, c.readiness.trend.creep
    recent = series(c, "time_to_page", f'{READINESS_RUN_LABEL}=~"{runs_matcher(1, n)}"')
    before = series(c, "time_to_page", f'{READINESS_RUN_LABEL}=~"{runs_matcher(n + 1, 2 * n)}"')
    both = series(c, "time_to_page", f'{READINESS_RUN_LABEL}=~"{runs_matcher(1, 2 * n)}"')
    who = "{{ $labels." + READINESS_ALERT_LABEL + " }}"
    lapsed, creeping = AlertKey.READINESS_LAPSED, AlertKey.TIME_TO_PAGE_CREEPING

    def rule(key: str, expr: str, reason: str, summary: str, description: str) -> dict:
        text = annotations(c, key, summary, description)
        text["dashboard_url"] = f"{c.links.dashboard_base_url}{c.namespace}-readiness"
        return {"alert": c.alert_name(key), "expr": expr, "labels": {"severity": "ticket", "reason": reason},
                "annotations": text}

    return [
        rule(lapsed, f"time() - max {by} ({series(c, 'last_pass')})\n> {on}\nmax {by} ({series(c, 'policy')})", "stale",
             f"{who}: no passing drill within its readiness policy.",
             f"{who} last passed a drill " + "{{ $value | humanizeDuration }}" + " ago, longer than its readiness "
             "policy: nobody has seen it page, the runbook work and the roles answer recently. Run its drill "
             "(`moneypath readiness` names the drill file)."),
        rule(lapsed, f"max {by} ({series(c, 'policy')})\nunless {on}\n{series(c, 'last_pass')}", "never_rehearsed",
             f"{who}: never rehearsed.",
             f"No drill on record has paged {who}: whether it pages, whether its runbook finds the evidence and who "
             "answers are not measured. Write or run its drill (`moneypath readiness` lists what it has)."),
        rule(creeping,
             f"quantile {by} (0.5, {recent})\n> {on}\nmax {by} ({series(c, 'page_deadline')})\n"
             f"and {on}\ncount {by} ({recent}) == {n}",
             "over_deadline", f"{who}: time to page over its deadline.",
             f"The median time to page of {who}'s last {n} drills is " + "{{ $value | humanizeDuration }}"
             ", over its deadline: on-call would hear of the incident later than the plan says."),
        rule(creeping,
             f"quantile {by} (0.5, {recent})\n> {on}\n{num(1 + creep)} * quantile {by} (0.5, {before})\n"
             f"and {on}\ncount {by} ({both}) == {2 * n}",
             "slower_than_before", f"{who}: time to page creeping up.",
             f"The median time to page of {who}'s last {n} drills is " + "{{ $value | humanizeDuration }}"
             f", more than {creep:.0%} over the {n} drills before: thresholds, `for:` or routing slowed it down."),
    ]
