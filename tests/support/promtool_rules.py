"""The generated rules under `promtool test rules`: one alert's case (input series, when, what it says), when an
alert first fires on given series, and how long an SLO burn alert takes to page at a given error share."""

from __future__ import annotations

import re
import shutil
import subprocess

import yaml

from moneypath.catalog.conventions import slo_alert_key
from tests.conftest import ROOT

RULE_FILES = [str(ROOT / "collector" / "recording-rules.yaml"), str(ROOT / "alerts" / "moneypath-alerts.yaml")]


def promtool(tmp_path, tests: list[dict], evaluation_interval: str = "15s",
             rule_files: list[str] = RULE_FILES) -> subprocess.CompletedProcess:
    exe = shutil.which("promtool")
    assert exe, "promtool missing: `make test` installs the Debian package prometheus"
    path = tmp_path / "rules.test.yaml"
    path.write_text(yaml.safe_dump({"rule_files": rule_files, "evaluation_interval": evaluation_interval,
                                    "tests": tests}, sort_keys=False))
    return subprocess.run([exe, "test", "rules", str(path)], capture_output=True, text=True,
                          timeout=300)  # 26 hours of series took over 120 s on a slow VM


def case(catalog, key, series, eval_time, labels, description, interval="15s", fires=True):
    """One promtool test: `series` maps signal key (+ label matcher text) to promtool values."""
    input_series = []
    for selector, values in series:
        signal, _, matchers = selector.partition("{")
        name = catalog.metric(signal) if signal in catalog.signals else signal  # else a series moneypath serves
        input_series.append({"series": name + ("{" + matchers if matchers else ""),
                             "values": values})
    alert = catalog.alerts[key]
    expected = []
    if fires:
        expected.append({
            "exp_labels": {"severity": alert.severity, **({"money_loss": "true"} if alert.money_loss else {}),
                           **labels},
            "exp_annotations": {"summary": alert.summary, "description": description,
                                "runbook_url": catalog.runbook_url(key),
                                "dashboard_url": f"{catalog.links.dashboard_base_url}{catalog.links.overview_dashboard}"},
        })
    return {"interval": interval, "input_series": input_series,
            "alert_rule_test": [{"eval_time": eval_time, "alertname": catalog.alert_name(key), "exp_alerts": expected}]}


_GO_DURATION = re.compile(r"(\d+)([wdhms])")  # promtool prints Prometheus durations: 1d2h8m


def _seconds(go: str) -> int:
    return sum(int(n) * {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}[u] for n, u in _GO_DURATION.findall(go))


def fired_at(tmp_path, series: list[dict], alertname: str, eval_seconds, interval: str = "15s",
             rule_files: list[str] = RULE_FILES, window: str = "1h", evaluation_interval: str = "15s") -> list[int]:
    """The evaluation times (s) at which the `window`-long burn rule of `alertname` (any rule with window="")
    fired: promtool is told
    to expect silence at every time, and reports exactly the times it was wrong."""
    checks = [{"eval_time": f"{t}s", "alertname": alertname, "exp_alerts": []} for t in eval_seconds]
    result = promtool(tmp_path, [{"interval": interval, "input_series": series, "alert_rule_test": checks}],
                      evaluation_interval, rule_files=rule_files)
    assert result.returncode == 0 or "alertname: " in result.stdout + result.stderr, result.stdout + result.stderr
    fired = []
    for block in (result.stdout + result.stderr).split("alertname: ")[1:]:
        time_text = block.split("time: ", 1)[1].split(",", 1)[0]
        got = block.split("got:", 1)[1]
        if not window or f'long_window="{window}"' in got:
            fired.append(_seconds(time_text))
    return sorted(fired)


def auth_series(catalog, labels: dict[str, str] | None = None) -> tuple[str, dict[str, str]]:
    """The authorizations counter and a label set of the catalog's first provider and method."""
    values = catalog.signals["authorizations_total"].labels
    labels = labels or {name: values[name][0] for name in ("provider", "method") if name in values}
    return catalog.metric("authorizations_total"), labels


def selector(metric: str, labels: dict[str, str], outcome: str) -> str:
    return metric + "{" + ",".join(f'{k}="{v}"' for k, v in {**labels, "outcome": outcome}.items()) + "}"


def detection_seconds(catalog, tmp_path, slo: str, error_share: float, outage_at_min: int = 75,
                      watch_min: int = 14, per_step: float = 100, rule_files: list[str] = RULE_FILES) -> float | None:
    """Seconds from the start of an error rate until the 1h/5m page fires, evaluating the rules every 15 s;
    `per_step` payments every 15 s."""
    errors = per_step * error_share
    good = per_step - errors
    steps_before, steps_after = outage_at_min * 4, watch_min * 4
    total = steps_before + steps_after
    auth, labels = auth_series(catalog)
    series = [
        {"series": selector(auth, labels, "approved"),
         "values": f"0+{per_step:g}x{steps_before} {per_step * steps_before:g}+{good:g}x{steps_after}"},
        {"series": selector(auth, labels, "error"), "values": f"0x{steps_before} 0+{errors:g}x{steps_after}"},
    ]
    fired = fired_at(tmp_path, series, catalog.alert_name(slo_alert_key(slo)),
                     [s * 15 for s in range(steps_before + 1, total + 1)], rule_files=rule_files)
    return min(fired) - outage_at_min * 60 if fired else None
