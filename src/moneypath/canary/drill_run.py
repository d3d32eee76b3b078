"""A canary drill: releases shipped through a canary beside a baseline, with the load split by weight, each judged
by the canary judge until it has a verdict (moneypath.canary.drill_file says what the file holds).

For each release: the canary starts clean (restarted, when the target can), the release's faults go on in the
canary only, payments flow at the drill's rate with `weight` of them to the canary (the drills' load generator,
moneypath.drills.baseline_load, with a weighted split), and the judge looks every `judge_every` seconds at what
both tracks did since the release started, until it says pass or fail or the release's budget runs out
(inconclusive). Each release records its verdict, the time to it, the canary's and the baseline's sample, and for
a money fault the time from the first duplicate the canary's series show to the fail, which must be at most one
scrape interval plus one judge interval. The journal (journal.json) and report.md go to reports/<drill>-<time>/.

The judge is moneypath.canary.judge, called in one place (`judge_look`).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from moneypath._common.verdict import FAIL, NOT_MEASURED, PASS, Check, jsonable, register, verdict
from moneypath.canary import arms
from moneypath.canary.drill_file import CanaryDrill, Release, ReleaseFault
from moneypath.canary.results import WORDS
from moneypath.catalog import Catalog
from moneypath.catalog.conventions import Key
from moneypath.check import conservation
from moneypath.drills import hooks, scraped_preflight
from moneypath.drills.baseline_load import Load, Mix, major_text, payment_values, probe
from moneypath.drills.context import api_headers
from moneypath.drills.endpoints import DrillPrometheus, TargetError
from moneypath.drills.journal import write_journal
from moneypath.formats.fault_specs import fault_specs

INCONCLUSIVE = WORDS[NOT_MEASURED]  # the judge's word for a verdict not measured (moneypath canary judge, exit 3)
GRACE_S = 120.0  # a fault API's own end comes this long after the release's budget
WARM_PROBES = 8  # payments one at a time to a fresh canary before its release is judged
# No payments for this long before a release starts: the judge's window is whole seconds (it may reach back almost
# one before the start), and what came just before (the warm-up, the probes, the previous release's faults on a
# canary that is not restarted) must not count as the release's own.
QUIET_S = 1.5


@dataclass
class CanaryTarget:
    """Where the tracks run: each one's service, the Prometheus that scrapes both, the label selectors that tell
    their series apart, and (the reference service's tracks) each one's provider simulator. `restart_canary`, when
    the target can, starts the canary afresh and returns its new addresses ({"service", "providersim", "metrics":
    the host:port Prometheus scrapes})."""

    baseline: str
    canary: str
    prometheus: str
    baseline_selector: str
    canary_selector: str
    scrape_interval_s: float = 1.0
    providersims: dict[str, str] = field(default_factory=dict)  # "canary"/"baseline" → simulator URL
    admin_token: str | None = None
    payments_token: str = ""
    restart_canary: Callable[[], dict[str, str]] | None = None
    env: dict[str, str] = field(default_factory=dict)  # more ${NAME}s for hook faults

    def describe(self) -> dict:
        return {"baseline": self.baseline, "canary": self.canary, "prometheus": self.prometheus,
                "baseline_selector": self.baseline_selector, "canary_selector": self.canary_selector,
                "scrape_interval_s": self.scrape_interval_s, "canary_restarted_per_release": bool(self.restart_canary)}


@dataclass
class JudgeLook:
    t_s: float  # from the release's start, when the judge evaluated
    verdict: str
    reason: str
    answer_s: float  # how long the judge took to answer


@dataclass
class ReleaseResult:
    release: str
    expect: str
    verdict: str = INCONCLUSIVE  # the judge's last word: pass, fail or inconclusive
    status: str = NOT_MEASURED  # the release's objective: the verdict it expected (PASS), not (FAIL), or none
    reason: str = ""
    faults: list[dict] = field(default_factory=list)
    started_at: float = 0.0
    time_to_verdict_s: float | None = None
    budget_s: float = 0.0
    looks: list[JudgeLook] = field(default_factory=list)
    canary_payments: int = 0  # what the load sent to each track during the release
    baseline_payments: int = 0
    canary_authorizations: int = 0  # acknowledged by each track
    baseline_authorizations: int = 0
    judge_report: dict = field(default_factory=dict)  # the judge's last answer, as it gave it
    first_occurrence: bool = False
    first_duplicate_s: float | None = None  # from the start: the first scrape showing the canary's duplicate
    duplicate_to_fail_s: float | None = None  # worst case: from a scrape interval before it to the fail
    duplicate_bound_s: float | None = None  # one scrape interval plus one judge interval
    duplicate_samples: list[list[float]] = field(default_factory=list)  # (T+s, the canary's duplicates) scraped
    conservation: dict = field(default_factory=dict)  # each arm's reconciliation of counts (moneypath.canary.arms)


def judge_look(catalog: Catalog, prometheus: str, canary: str, baseline: str, since: float, policy: dict,
               state: dict) -> dict:
    """One look of the canary judge (moneypath.canary.judge.Judge) at both tracks since `since` (Unix
    seconds), with the drill's policy over the catalog's: its answer as a rollout tool reads it (the verdict's JSON:
    "verdict" pass, fail or inconclusive, "reason", "metrics", "invariants"). `state` is the release's own: {"dir": a
    directory} where the judge keeps its sequential tests between looks (each call one more look of the same
    tests)."""
    from moneypath.canary.judge import Judge

    judge = state.get("judge")
    if judge is None:
        judge = state["judge"] = Judge(with_policy(catalog, policy), prometheus,
                                       state_path=Path(state["dir"]) / "canary-state.json")
    return judge.judge(canary, baseline, since=since).as_json(history=False)


def with_policy(catalog: Catalog, overrides: dict) -> Catalog:
    """The catalog with its `canary:` policy overridden by the drill's (top-level keys replaced)."""
    from moneypath.catalog.canary_policy import CanaryPolicy

    merged = {**catalog.canary.model_dump(exclude_unset=True), **overrides}
    return catalog.model_copy(update={"canary": CanaryPolicy.model_validate(merged)})


def _release_status(expect: str, seen: str | None, first_occurrence_ok: bool | None = True) -> tuple[str, str]:
    """A release's objective: PASS when the judge gave the verdict it expected (and, for a money fault, at its first
    occurrence), FAIL when it gave the other one or was late, NOT_MEASURED without a verdict."""
    if seen not in (PASS, FAIL):
        return NOT_MEASURED, "not measured: the judge gave no verdict (inconclusive) within the budget"
    if seen != expect:
        return FAIL, f"expected {expect}, the judge said {seen}"
    if first_occurrence_ok is None:
        return NOT_MEASURED, "not measured: the canary's series never showed the duplicate the fail is timed from"
    if first_occurrence_ok is False:
        return FAIL, "failed, but later than one scrape interval plus one judge interval after the first duplicate"
    return PASS, f"{seen}, as expected"


release_status = register("canary.release", _release_status)


class CanaryDrillRun:
    def __init__(self, drill: CanaryDrill, catalog: Catalog, target: CanaryTarget, say: Callable[[str], None] = print,
                 judge: Callable[..., dict] = judge_look, clock: Callable[[], float] = time.time):
        self.drill, self.catalog, self.target, self.say, self.judge, self.clock = drill, catalog, target, say, judge, clock
        self.http = httpx.Client(timeout=10)
        self.prom = DrillPrometheus(target.prometheus)
        self.started_at = clock()
        self.results: list[ReleaseResult] = []
        self.interrupted = False
        self.canary_scraped: str | None = None  # a restarted canary's host:port, which Prometheus must have scraped
        self.refused: str | None = None  # an identity a track answered as that Prometheus does not scrape

    def log(self, text: str) -> None:
        self.say(f"[{self.clock() - self.started_at:6.1f} s] {text}")

    # ------------------------------------------------------------ the run

    def run(self) -> dict:
        d = self.drill
        self.log(f"canary drill {d.name}: {d.title}: {d.rate:g} payments/s, {d.weight:.0%} to the canary, the judge "
                 f"every {d.judge_every:g} s; {len(d.releases)} release(s)")
        try:
            try:
                self._wait_scraped()  # a track not yet scraped would read as another instance's
            except TargetError:
                pass  # each release waits again and says so
            self._instruments()
            self._warm_up()
            for i, release in enumerate(d.releases):
                try:
                    self.results.append(self._release(release, fresh=i == 0))
                except Exception as exc:  # noqa: BLE001 - a release that cannot run is not measured; the rest run
                    why = f"not measured: the release could not run: {type(exc).__name__}: {' '.join(str(exc).split())}"
                    self.log(why[:300])
                    self.results.append(ReleaseResult(release.name, release.expect, reason=why[:500],
                                                      budget_s=release.budget))
        except KeyboardInterrupt:
            self.interrupted = True
            self.log("interrupted: the journal keeps the releases judged so far")
        finally:
            self.http.close()
            self.prom.close()
        return self.journal()

    def _load(self, rate: float) -> Load:
        spec = self.drill.load
        mix = Mix(spec.providers, spec.currencies, dict(spec.methods), spec.amounts.min, spec.amounts.max, spec.capture)
        return Load([self.target.baseline, self.target.canary], api_headers(spec.requests, self.target.payments_token),
                    spec.requests, mix, rate, major_text(self.catalog), spec.concurrency,
                    prefix=f"canary-{self.drill.name}", weights=self.drill.weights)

    def _warm_up(self) -> None:
        """Both tracks under the drill's load for warm_up seconds: a fresh service's first requests are slow."""
        if not self.drill.warm_up or self.refused:
            return
        self.log(f"warm-up: {self.drill.warm_up:g} s of load on both tracks")
        load = self._load(self.drill.rate)
        load.start()
        time.sleep(self.drill.warm_up)
        load.stop()

    def _probe_canary(self) -> None:
        self._probe(self.target.canary, WARM_PROBES)

    def _probe(self, url: str, payments: int, seen: set[str] | None = None) -> None:
        spec = self.drill.load
        providers = [p for p, w in spec.providers.items() if w > 0]
        currency = next(c for c, w in spec.currencies.items() if w > 0)
        method = next(m for m, w in spec.methods.items() if w > 0)
        for i in range(payments):
            values = payment_values(f"canary-warm-{i}", i, providers[i % len(providers)], currency, spec.amounts.min,
                                    method, os.urandom(8).hex(), major_text(self.catalog))
            probe(url, api_headers(spec.requests, self.target.payments_token), spec.requests, values,
                  capture=spec.capture > 0, identities=seen)

    def _instruments(self) -> None:
        """Before any load: each track's answers name processes Prometheus scrapes (moneypath.drills.scraped_preflight);
        one that is not leaves every release not measured with that line."""
        for url in (self.target.baseline, self.target.canary):
            seen: set[str] = set()
            try:
                self._probe(url, 1, seen)
            except Exception as exc:  # noqa: BLE001 - the releases say what a track that cannot answer does
                self.log(f"instruments: not measured: {url} did not answer the probe: {exc}"[:300])
                return
            check = scraped_preflight.proof_at(self.catalog, self.target.prometheus, url, seen, "the canary drill")
            if check.outcome is FAIL:
                self.refused = f"not measured: {check.why}"
                self.log(self.refused)
                return
            if not check.ok:
                self.log(f"instruments: {check.why}")

    def _release(self, release: Release, fresh: bool) -> ReleaseResult:
        d, target = self.drill, self.target
        result = ReleaseResult(release.name, release.expect, budget_s=release.budget,
                               first_occurrence=release.first_occurrence,
                               faults=[f.model_dump(by_alias=True, exclude_none=True) for f in release.faults])
        if self.refused:  # another instance's series: nothing this release would be judged on is the track's
            result.reason = self.refused
            return result
        self.log(f"=== release {release.name}: {self._faults_text(release)}; expected {release.expect}")
        if not fresh and target.restart_canary is not None:
            urls = target.restart_canary()
            target.canary = urls["service"]
            if "providersim" in urls:
                target.providersims["canary"] = urls["providersim"]
            self.canary_scraped = urls.get("metrics")
            self.log(f"canary restarted clean: {target.canary}")
            self._probe_canary()
        time.sleep(QUIET_S)
        set_faults: list[ReleaseFault] = []
        load, since = None, self.clock()
        try:
            for fault in release.faults:
                self._switch(fault, on=True, budget=release.budget)
                set_faults.append(fault)
            self._wait_scraped()
            load = self._load(d.rate)
            result.started_at = since = self.clock()
            load.start()
            self._judge_until_verdict(release, result, since)
        except TargetError as exc:
            result.reason = f"not measured: the release could not run: {exc}"
            self.log(result.reason)
        finally:
            if load is not None:
                load.stop()
                self._count(load, result)
            for fault in reversed(set_faults):
                try:
                    self._switch(fault, on=False)
                except TargetError as exc:
                    self.log(f"fault {fault.name} not cleared: {exc} (it ends by itself)")
        if release.first_occurrence and result.verdict == FAIL:
            self._time_duplicate(result, since)
        ok = None if not release.first_occurrence else (
            None if result.duplicate_to_fail_s is None else result.duplicate_to_fail_s <= result.duplicate_bound_s)
        result.status, why = release_status(release.expect, result.verdict if result.verdict != INCONCLUSIVE else None,
                                            ok if release.first_occurrence else True)
        result.reason = f"{why}; {result.reason}" if result.reason else why
        if load is not None:  # the judge's metrics are evidence only if each arm's counter saw the arm's payments
            arms.apply(result, self._reconcile(load, since))
        self.log(f"release {release.name}: {result.verdict.upper()} after {_secs(result.time_to_verdict_s)} "
                 f"(canary {result.canary_authorizations} authorizations, baseline {result.baseline_authorizations})"
                 + (f"; duplicate → fail {result.duplicate_to_fail_s:.1f} s (bound {result.duplicate_bound_s:g} s)"
                    if result.duplicate_to_fail_s is not None else "") + f": {result.status.upper()}")
        return result

    def _judge_until_verdict(self, release: Release, result: ReleaseResult, since: float) -> None:
        with tempfile.TemporaryDirectory(prefix="canary-judge-") as work:
            self._looks(release, result, since, {"dir": work})

    def _looks(self, release: Release, result: ReleaseResult, since: float, state: dict) -> None:
        d, target = self.drill, self.target
        next_at, deadline = since + d.judge_every, since + release.budget
        while True:
            time.sleep(max(0.0, next_at - self.clock()))
            at = self.clock()
            next_at += d.judge_every
            try:
                answer = self.judge(self.catalog, target.prometheus, target.canary_selector, target.baseline_selector,
                                    since, d.policy, state)
            except TargetError as exc:
                answer = {"verdict": INCONCLUSIVE, "reason": f"the judge could not read Prometheus: {exc}"}
            except Exception as exc:  # noqa: BLE001 - the judge failing ends the release as not measured, not the drill
                result.reason = f"not measured: the judge failed: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
                self.log(result.reason)
                return
            look = JudgeLook(round(at - since, 2), str(answer.get("verdict", INCONCLUSIVE)), str(answer.get("reason", "")),
                             round(self.clock() - at, 3))
            result.looks.append(look)
            result.judge_report = {k: v for k, v in answer.items() if k != "history"}  # the looks are ours
            self.log(f"{release.name}: look {len(result.looks)} T+{look.t_s:.0f} s: {look.verdict}: "
                     f"{' '.join(look.reason.split())[:160]}")
            if look.verdict in (PASS, FAIL):
                result.verdict, result.time_to_verdict_s = look.verdict, look.t_s
                return
            if self.clock() >= deadline:
                result.reason = f"no verdict within the budget of {release.budget:g} s"
                return

    def _reconcile(self, load: Load, since: float) -> dict[str, Check]:
        """Each arm's conservation of counts over the release, read once the scrape lag settled."""
        time.sleep(conservation.settle_s(self.target.scrape_interval_s))
        checks = {}
        for arm, (name, selector) in enumerate((("baseline", self.target.baseline_selector),
                                                 ("canary", self.target.canary_selector))):
            checks[name] = arms.reconcile(self.prom, self.catalog, self.drill.load.requests, load, arm, name,
                                          selector, since)
            self.log(f"conservation of counts ({name}): {checks[name].outcome.value.upper()}: {checks[name].why}")
        return checks

    def _count(self, load: Load, result: ReleaseResult) -> None:
        for o in load.snapshot():
            canary = o.instance == 1
            result.canary_payments += canary
            result.baseline_payments += not canary
            if o.payment_id is not None:
                result.canary_authorizations += canary
                result.baseline_authorizations += not canary

    # ------------------------------------------------------------ faults on the canary

    def _faults_text(self, release: Release) -> str:
        if not release.faults:
            return "no fault (a good release)"
        return ", ".join(f"{f.where} {f.name}" + (f" on {f.target}" if f.target else "")
                         + (f" {f.params}" if f.params else "") for f in release.faults) + " in the canary"

    def _switch(self, fault: ReleaseFault, on: bool, budget: float = 0.0) -> None:
        """Set (or clear) one fault on the canary's own fault API or through the team's hook; TargetError."""
        target = self.target
        if fault.where == "hook":
            hook = fault.set if on else fault.clear
            env = {**os.environ, **target.env, "CANARY_URL": target.canary, "BASELINE_URL": target.baseline}
            ok, detail = hooks.call(self.http, hook.method, hooks.expand(hook.url, env), hooks.expand(hook.headers, env),
                                    hooks.expand(hook.json_body, env), hook.expect_status)
            if not ok:
                raise TargetError(f"fault hook {'set' if on else 'clear'}: {detail}")
            return
        base = target.canary if fault.where == "service" else target.providersims.get("canary")
        if not base:
            raise TargetError(f"{fault.where} fault {fault.name}: the canary has no {fault.where} of its own to set "
                              "it on (a provider simulator shared with the baseline would break both)")
        url = f"{base.rstrip('/')}/admin/faults/{fault.name}"
        spec = fault_specs(fault.where, self.catalog)[fault.name]
        headers = {"authorization": f"Bearer {target.admin_token}"}
        try:
            if on:
                body = dict(fault.params) | {"duration_s": round(budget + GRACE_S, 1)}
                if spec.target:
                    body[spec.target] = fault.target
                r = self.http.put(url, json=body, headers=headers)
            else:
                r = self.http.delete(url, params={spec.target: fault.target} if spec.target else None, headers=headers)
        except httpx.HTTPError as exc:
            raise TargetError(f"{url}: {type(exc).__name__}") from None
        if r.status_code != 200:
            raise TargetError(f"{'PUT' if on else 'DELETE'} {url} → {r.status_code}: {r.text[:200]}")

    def _wait_scraped(self, timeout_s: float = 30.0) -> None:
        """Until Prometheus has scraped both tracks since they last (re)started: a judge reading a track not yet
        scraped would see nothing."""
        deadline = self.clock() + timeout_s
        canary = self.target.canary_selector + (f',instance="{self.canary_scraped}"' if self.canary_scraped else "")
        while True:
            try:
                ups = [self.prom.query(f"max(up{{{sel}}})") for sel in (canary, self.target.baseline_selector)]
            except TargetError:
                ups = []
            if ups and all(u and u[0][1] == 1 for u in ups):
                return
            if self.clock() > deadline:
                raise TargetError(f"Prometheus has not scraped both tracks after {timeout_s:.0f} s")
            time.sleep(0.5)

    # ------------------------------------------------------------ a money fault's first occurrence

    def _time_duplicate(self, result: ReleaseResult, since: float) -> None:
        """When the canary's duplicate-charge counter first moved (the first scrape showing it, from its raw
        samples), and from a scrape interval before it (the earliest the duplicate can have happened) to the fail."""
        scrape = self.target.scrape_interval_s
        result.duplicate_bound_s = scrape + self.drill.judge_every
        window = int(self.clock() - since) + 10
        expr = f"{self.catalog.metric(Key.DUPLICATE_CHARGES_TOTAL)}{{{self.target.canary_selector}}}[{window}s]"
        try:
            rows = self.prom.instant(expr)
        except TargetError as exc:
            self.log(f"the first duplicate could not be read: {exc}")
            return
        totals: dict[float, float] = {}
        for row in rows:
            for t, v in row.get("values", []):
                totals[float(t)] = totals.get(float(t), 0.0) + float(v)
        points = sorted(totals.items())
        start = next((v for t, v in points if t >= since), None) if points else None
        before = [v for t, v in points if t < since]
        floor = before[-1] if before else (0.0 if start is None else min(start, 0.0))
        first = next((t for t, v in points if v > floor), None)
        result.duplicate_samples = [[round(t - since, 2), v] for t, v in points if t >= since - 3][:40]
        if first is None:
            return
        result.first_duplicate_s = round(first - since, 2)
        result.duplicate_to_fail_s = round(result.time_to_verdict_s - result.first_duplicate_s + scrape, 2)

    # ------------------------------------------------------------ the journal

    def journal(self) -> dict:
        statuses = [(r.status, "fail") for r in self.results]
        if self.interrupted or len(self.results) < len(self.drill.releases):
            statuses.append((NOT_MEASURED, "fail"))
        return {"kind": "canary", "drill": self.drill.name, "title": self.drill.title, "path": self.drill.path,
                "started_at": self.started_at, "finished_at": self.clock(), "rate": self.drill.rate,
                "weight": self.drill.weight, "judge_every_s": self.drill.judge_every, "policy": self.drill.policy,
                "target": self.target.describe(), "interrupted": self.interrupted,
                "verdict": verdict(statuses) if self.results else NOT_MEASURED,
                "releases": [asdict(r) for r in self.results]}


def _secs(v: float | None) -> str:
    return "—" if v is None else f"{v:.0f} s"


def markdown(journal: dict) -> str:
    """report.md: one row per release, then each release's looks."""
    lines = [f"# Canary drill: {journal['title']}", "",
             f"{journal['rate']:g} payments/s, {journal['weight']:.0%} to the canary, the judge every "
             f"{journal['judge_every_s']:g} s (scrape every {journal['target']['scrape_interval_s']:g} s); "
             f"canary `{journal['target']['canary_selector']}`, baseline `{journal['target']['baseline_selector']}`. "
             f"Verdict: **{journal['verdict'].upper()}**.", "",
             "| release | expected | judge's verdict | time to verdict | canary sample (authorizations) | "
             "baseline sample | duplicate → fail | result |", "|---|---|---|---|---|---|---|---|"]
    for r in journal["releases"]:
        dup = (f"{r['duplicate_to_fail_s']:.1f} s (≤ {r['duplicate_bound_s']:g} s)"
               if r.get("duplicate_to_fail_s") is not None else "—")
        lines.append(f"| {r['release']} | {r['expect']} | {r['verdict']} | {_secs(r['time_to_verdict_s'])} | "
                     f"{r['canary_authorizations']} | {r['baseline_authorizations']} | {dup} | "
                     f"{r['status'].upper()}: {r['reason']} |")
    for r in journal["releases"]:
        lines += ["", f"## {r['release']}", "", "Faults in the canary: "
                  + (", ".join(f"{f['where']} {f['name']}" for f in r["faults"]) or "none"), "",
                  *(f"- conservation of counts ({arm}): {c['outcome'].upper()}: {c['line']}"
                    for arm, c in (r.get("conservation") or {}).items()), "",
                  *(f"- T+{lk['t_s']:.0f} s: {lk['verdict']}: {' '.join(lk['reason'].split())}" for lk in r["looks"])]
    return "\n".join(lines) + "\n"


def write_report(journal: dict, reports_dir: Path) -> Path:
    """journal.json and report.md under reports/<drill>-<time>/; the directory."""
    from moneypath._common import atomic

    journal = jsonable(journal)  # a judge's NaN (a share of nothing) is null in JSON
    path = write_journal(journal, reports_dir)
    atomic.write_text(path.parent / "report.md", markdown(journal))
    return path.parent


def summary(journal: dict) -> list[dict[str, Any]]:
    """One row per release for a summary table."""
    return [{"release": r["release"], "expected": r["expect"], "verdict": r["verdict"],
             "time_to_verdict": _secs(r["time_to_verdict_s"]), "canary": r["canary_authorizations"],
             "result": r["status"]} for r in journal["releases"]]
