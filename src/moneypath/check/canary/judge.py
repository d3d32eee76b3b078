"""One pass of the canary judge: query Prometheus for the canary's and the baseline's counts since the canary
started, feed each metric's sequential test (alpha split evenly over the tests: Bonferroni), check the money
invariants, and combine.

Verdicts: fail when a test crossed its boundary or an invariant broke; pass when every test reached its planned
sample without crossing (none skipped for lack of traffic in both arms counts, and at least one passed); otherwise
inconclusive, saying how many more canary events (and minutes at the current rate) it needs. Past the policy's
max_inconclusive an inconclusive verdict is held or failed as the policy says. Whatever returned nothing or could
not be asked (a selector matching no series, a signal the catalog lacks, a Prometheus that does not answer) is one
"not measured" line naming the resolved query, and makes the verdict inconclusive: never a pass.

The tests' state lives in a JSON file between passes (keyed by canary, baseline, start and policy), so each
call of the CLI, each HTTP request and each `--watch` round is one more look of the same tests.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from dataclasses import asdict
from pathlib import Path

from moneypath._common.atomic import write_json
from moneypath._common.prometheus import Prometheus, PrometheusError
from moneypath._common.verdict import EXIT_CODES, FAIL, NOT_MEASURED, PASS, not_measured, register
from moneypath.catalog import Catalog, duration_seconds
from moneypath.catalog.conventions import PROCESS_START_METRIC
from moneypath.catalog.moments import parse_moment, rfc3339
from moneypath.check.canary import invariants
from moneypath.check.canary.metrics import RATIO_OF_SUMS, BadUsage, metric_queries, parse_selector, selected_metrics
from moneypath.check.canary.sequential import SequentialTest

INCONCLUSIVE, SKIPPED = "inconclusive", "skipped"
VERDICT_EXIT = {PASS: EXIT_CODES[PASS], FAIL: EXIT_CODES[FAIL], INCONCLUSIVE: EXIT_CODES[NOT_MEASURED]}
HISTORY_LOOKS = 240  # looks kept per state for the report's plots
STATES_KEPT = 50  # canaries whose tests the state file keeps
_STATE_LOCK = threading.Lock()


def parse_time(text: str | float | None, now: float) -> float | None:
    """Unix seconds of a canary's start as the judge is told it (moneypath.catalog.moments); None stays None."""
    if text is None or text == "":
        return None
    try:
        return parse_moment(text, now)
    except ValueError as exc:
        raise BadUsage(f"since {exc}") from None


def _vector(prom: Prometheus, query: str, by: str | None, at: float) -> dict[str, float]:
    return {(s["metric"].get(by, "") if by else ""): float(s["value"][1]) for s in prom.instant(query, at=at)}


def _state_key(canary: str, baseline: str, since: float, fingerprint: str) -> str:
    return hashlib.sha256(f"{canary}\n{baseline}\n{since:.0f}\n{fingerprint}".encode()).hexdigest()[:20]


def _load_state(path: Path | None) -> dict:
    if path is None or not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # a state that cannot be read starts the tests afresh (more looks, never fewer)
    return data if isinstance(data, dict) else {}


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"


class Judge:
    """`Judge(catalog, prometheus_url, state_path).judge(canary, baseline, since)` → the result dict."""

    def __init__(self, catalog: Catalog, prometheus: str, state_path: Path | None = None,
                 database: str | None = None, timeout_s: float = 10.0):
        self.catalog, self.prometheus, self.state_path = catalog, prometheus, state_path
        self.database, self.timeout_s = database, timeout_s

    def judge(self, canary: str, baseline: str, since: str | float | None = None, metrics: list[str] | None = None,
              now: float | None = None) -> dict:
        """One pass. BadUsage for a selector, metric key or time the judge cannot use."""
        now = time.time() if now is None else now
        arms = {"canary": parse_selector(canary, "canary selector"),
                "baseline": parse_selector(baseline, "baseline selector")}
        if set(arms["canary"]) == set(arms["baseline"]):
            raise BadUsage("the canary and baseline selectors are the same: the judge would compare a release with itself")
        chosen = selected_metrics(self.catalog, metrics)
        start = parse_time(since, now)
        if start is not None and start >= now:
            raise BadUsage(f"since {rfc3339(start)} is not in the past")
        policy = self.catalog.canary
        out: dict = {"verdict": INCONCLUSIVE, "reason": "", "canary": canary, "baseline": baseline,
                     "since": rfc3339(start) if start is not None else None, "at": rfc3339(now), "window_s": None,
                     "prometheus": self.prometheus, "catalog": self.catalog.path,
                     "policy": {"alpha": policy.alpha, "power": policy.power, "min_sample": policy.min_sample,
                                "interval": policy.interval, "max_inconclusive": policy.max_inconclusive,
                                "on_inconclusive": policy.on_inconclusive},
                     "metrics": [], "invariants": [], "not_measured": [], "needs": None, "held": False,
                     "history": []}
        with Prometheus(self.prometheus, timeout_s=self.timeout_s) as prom:
            if not self._preflight(prom, arms, now, out):
                return self._finish(out)
            if start is None:
                start = self._canary_start(prom, arms["canary"], now, out)
                if start is None:
                    return self._finish(out)
                out["since"] = rfc3339(start)
            window_s = max(1, math.ceil(now - start))
            out["window_s"] = window_s
            fingerprint = json.dumps([[asdict(m) for m in chosen], policy.model_dump(), list(self.catalog.providers)],
                                     sort_keys=True, default=str)
            with _STATE_LOCK:
                state = _load_state(self.state_path)
                key = _state_key(canary, baseline, start, fingerprint)
                entry = state.get(key) or {"tests": {}, "history": []}
                n_tests = sum(len(self.catalog.providers) if m.spec.per_provider else 1 for m in chosen
                              if m.key in self._measurable(chosen))
                alpha = policy.alpha / max(n_tests, 1)
                look_values: dict = {}
                for metric in chosen:
                    self._metric(prom, metric, arms, window_s, now, alpha, policy.power, entry["tests"], out,
                                 look_values)
                out["invariants"] = [r.to_dict() for r in self._invariants(prom, arms["canary"], window_s, now, start)]
                entry["history"] = (entry["history"] + [{"at": now, "tests": look_values}])[-HISTORY_LOOKS:]
                out["history"] = entry["history"]
                if self.state_path is not None:
                    state[key] = entry
                    for stale in sorted(state, key=lambda k: (state[k].get("history") or [{"at": 0}])[-1]["at"])[
                            :max(0, len(state) - STATES_KEPT)]:
                        del state[stale]  # the canaries judged longest ago
                    self.state_path.parent.mkdir(parents=True, exist_ok=True)
                    write_json(self.state_path, finite(state))
        return self._finish(out, now - start, duration_seconds(policy.max_inconclusive), policy.on_inconclusive)

    # ------------------------------------------------------------------ measuring

    def _measurable(self, chosen) -> set[str]:
        ok = set()
        for m in chosen:
            try:
                if metric_queries(self.catalog, m).test != RATIO_OF_SUMS:
                    ok.add(m.key)
            except KeyError:
                pass
        return ok

    def _preflight(self, prom: Prometheus, arms: dict, now: float, out: dict) -> bool:
        for arm, matchers in arms.items():
            query = f'count({{__name__=~"{self.catalog.namespace}_.+",{",".join(matchers)}}})'
            try:
                found = prom.instant(query, at=now)
            except PrometheusError as exc:
                out["not_measured"].append(not_measured(f"Prometheus does not answer: {exc}"))
                return False
            if not found:
                out["not_measured"].append(not_measured(
                    f"the {arm} selector {{{','.join(matchers)}}} matches no series of the catalog's metrics ({query})"))
        return not out["not_measured"]

    def _canary_start(self, prom: Prometheus, canary: tuple[str, ...], now: float, out: dict) -> float | None:
        query = f"max({PROCESS_START_METRIC}{{{','.join(canary)}}})"
        try:
            found = prom.instant(query, at=now)
        except PrometheusError as exc:
            out["not_measured"].append(not_measured(f"when the canary started: {exc}"))
            return None
        value = float(found[0]["value"][1]) if found else math.nan
        if math.isnan(value) or value >= now:
            out["not_measured"].append(not_measured(f"when the canary started: {query} returned nothing; give --since"))
            return None
        return value

    def _metric(self, prom, metric, arms, window_s, now, alpha, power, tests, out, look_values) -> None:
        try:
            mq = metric_queries(self.catalog, metric)
        except KeyError as exc:
            line = not_measured(f"{metric.key}: the catalog has no signal {exc.args[0]} (or its feature is off)")
            out["not_measured"].append(line)
            out["metrics"].append({"metric": metric.key, "provider": None, "status": NOT_MEASURED, "reason": line})
            return
        queries = {arm: {"bad": mq.bad(m, window_s), "total": mq.total(m, window_s)} for arm, m in arms.items()}
        values: dict = {}
        problem = None
        for arm, pair in queries.items():
            for part, query in pair.items():
                try:
                    values[arm, part] = _vector(prom, query, mq.by, now)
                except PrometheusError as exc:
                    problem = problem or f"{query}: {exc}"
        for group in mq.groups:
            test_id = mq.test_id(group)
            row = {"metric": metric.key, "id": test_id, "provider": group or None, "test": mq.test, "unit": mq.unit,
                   "description": metric.spec.description, "queries": queries, "min_effect": metric.min_effect,
                   "min_sample": metric.min_sample, "alpha": alpha if mq.test != RATIO_OF_SUMS else None}
            out["metrics"].append(row)
            counts, missing = {}, None
            for (arm, part), vector in values.items():
                value = vector.get(group, math.nan)
                if math.isnan(value) and missing is None:
                    missing = queries[arm][part]
                counts[arm, part] = value
            if problem or missing or len(counts) < 4:
                what = problem or f"{missing} returned nothing{f' for provider {group}' if group else ''}"
                row.update(status=NOT_MEASURED, reason=not_measured(f"{test_id}: {what}"))
                out["not_measured"].append(row["reason"])
                continue
            cb, ct = counts["canary", "bad"], counts["canary", "total"]
            bb, bt = counts["baseline", "bad"], counts["baseline", "total"]
            cb, bb = min(max(cb, 0.0), ct), min(max(bb, 0.0), bt)  # extrapolated increases may stray past the total
            row["canary"] = {"bad": cb, "total": ct, "ratio": cb / ct if ct else None}
            row["baseline"] = {"bad": bb, "total": bt, "ratio": bb / bt if bt else None}
            if ct <= 0 and bt <= 0:
                row.update(status=SKIPPED, reason=f"no {mq.unit} in either arm{f' for {group}' if group else ''}: "
                                                  "nothing to compare (shown, not judged)")
                continue
            if mq.test == RATIO_OF_SUMS:
                self._ratio_of_sums(row, metric, cb, ct, bb, bt)
            else:
                test = (SequentialTest.from_dict(tests[test_id]) if test_id in tests else
                        SequentialTest(alpha=alpha, power=power, min_effect=metric.min_effect,
                                       min_sample=metric.min_sample))
                try:
                    look = test.look(cb, ct, bb, bt)
                except (ValueError, ZeroDivisionError) as exc:
                    row.update(status=NOT_MEASURED, reason=not_measured(f"{test_id}: the test refused the counts: {exc}"))
                    out["not_measured"].append(row["reason"])
                    continue
                tests[test_id] = test.to_dict()
                row.update({k: v for k, v in asdict(look).items() if k != "verdict"})
                row["status"] = INCONCLUSIVE if look.verdict == NOT_MEASURED else look.verdict
            row["rate_per_s"] = ct / window_s
            look_values[test_id] = {k: row.get(k) for k in ("canary_ratio", "baseline_ratio", "effect", "z",
                                                              "boundary", "p_value")}

    @staticmethod
    def _ratio_of_sums(row: dict, metric, cb: float, ct: float, bb: float, bt: float) -> None:
        """Cost per transaction: canary over baseline mean, failed past 1 + min_effect once both arms have min_sample."""
        canary, baseline = (cb / ct if ct else None), (bb / bt if bt else None)
        row.update(canary_ratio=canary, baseline_ratio=baseline, z=None, p_value=None, boundary=1 + metric.min_effect,
                   effect=(canary / baseline - 1) if canary is not None and baseline else None,
                   needed_canary=max(0, math.ceil(metric.min_sample - ct)))
        if min(ct, bt) < metric.min_sample or canary is None or baseline is None:
            row.update(status=INCONCLUSIVE, reason=f"needs {metric.min_sample} {row['unit']} in each arm "
                                                   f"(canary {ct:.0f}, baseline {bt:.0f})")
        elif baseline == 0:
            row.update(status=PASS if canary == 0 else FAIL, reason="baseline costs nothing per transaction")
        elif canary > baseline * (1 + metric.min_effect):
            row.update(status=FAIL, reason=f"canary costs {row['effect']:+.1%} per transaction, past "
                                           f"+{metric.min_effect:.0%}")
        else:
            row.update(status=PASS, reason=f"canary costs {row['effect']:+.1%} per transaction, within "
                                           f"+{metric.min_effect:.0%}")

    def _invariants(self, prom, canary, window_s, now, start) -> list[invariants.InvariantResult]:
        results = invariants.prometheus_invariants(self.catalog, prom, canary, window_s, now)
        if self.catalog.money_checks.breaks is not None:
            results.append(invariants.writes_lost(self.database is not None))
        breaks, why_not = None, None
        if self.database is not None:
            try:
                breaks = invariants.read_breaks(self.catalog, self.database, start)
            except Exception as exc:  # noqa: BLE001 - a database that cannot be read is one line, never a crash
                why_not = f"payments not named: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        invariants.name_payments(results, breaks, why_not)
        return results

    def _finish(self, out: dict, elapsed: float | None = None, max_inconclusive: float | None = None,
                on_inconclusive: str = "hold") -> dict:
        out["verdict"], out["reason"], out["needs"] = combine(out["metrics"], out["invariants"], out["not_measured"])
        if out["verdict"] == INCONCLUSIVE and elapsed is not None and max_inconclusive is not None \
                and elapsed > max_inconclusive:
            past = f"inconclusive {_minutes(elapsed)} after the canary started, past max_inconclusive " \
                   f"{out['policy']['max_inconclusive']}"
            if on_inconclusive == "fail":
                out["verdict"], out["reason"] = FAIL, f"{past}: the policy fails it ({out['reason']})"
            else:
                out["held"], out["reason"] = True, f"{past}: the policy holds the rollout ({out['reason']})"
        out["exit_code"] = VERDICT_EXIT[out["verdict"]]
        return finite(out)


def finite(value):
    """The result with every infinite or NaN number as None and numpy scalars as Python's: strict JSON for the
    report, the state file and the HTTP answers (a test's z is infinite when one arm has no variance)."""
    if hasattr(value, "item") and not isinstance(value, dict | list | tuple | str):  # a numpy scalar from the test
        value = value.item()
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def combine(metrics: list[dict], gates: list[dict], not_measured: list[str]) -> tuple[str, str, dict | None]:
    """(verdict, reason, needs) of one pass: fail when a test or a judged invariant failed; inconclusive when
    something was not measured (a judged invariant's not-measured reason joins `not_measured`) or a test still
    needs data; pass only when every test that had traffic passed, and at least one did."""
    gates = [g for g in gates if g["judged"]]
    not_measured.extend(g["reason"] for g in gates if g["status"] == NOT_MEASURED and g["reason"] not in not_measured)
    failed = [r for r in metrics if r["status"] == FAIL] + [g for g in gates if g["status"] == FAIL]
    tested = [r for r in metrics if r["status"] != SKIPPED]
    if failed:
        return FAIL, "; ".join(f"{r.get('id') or r.get('invariant')}: {r['reason']}" for r in failed), None
    if not_measured:
        return INCONCLUSIVE, "; ".join(not_measured), None
    if tested and all(r["status"] == PASS for r in tested):
        return PASS, (f"every metric reached its planned sample without crossing its boundary ({len(tested)} tests) "
                      "and every money invariant held"), None
    waiting = [r for r in tested if r["status"] == INCONCLUSIVE]
    if not waiting:
        return INCONCLUSIVE, "no metric could be tested: no traffic in either arm", None
    worst = max(waiting, key=lambda r: r.get("needed_canary") or 0)
    n, rate = int(worst.get("needed_canary") or 0), worst.get("rate_per_s") or 0
    when = f", ~{_minutes(n / rate)} at the current rate" if rate else ", and the canary has none yet"
    needs = {"canary_events": n, "unit": worst["unit"], "metric": worst["id"], "seconds": round(n / rate) if rate else None}
    return INCONCLUSIVE, f"needs ~{n} more canary {worst['unit']} ({worst['id']}){when}", needs


def canary_status(metrics: list[dict], gates: list[dict], not_measured: list[str] | None = None) -> str:
    """The pass's result in moneypath's three statuses (inconclusive is not measured)."""
    verdict = combine(metrics, gates, list(not_measured or []))[0]
    return NOT_MEASURED if verdict == INCONCLUSIVE else verdict


register("check.canary", canary_status)
