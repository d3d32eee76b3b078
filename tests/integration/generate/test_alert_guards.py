"""What a generic SLO alert gets wrong on a money path, evaluated by promtool on the generated rules:
low traffic never pages by itself, a quiet window inside an outage does not resolve the page (no
NaN-driven flapping), and ApprovalRateDrop sees issuers declining — which an availability SLO counts
as answers — only with enough volume, and not when the provider fails instead. Shown on the shipped
catalog and on the ticket shop's (other providers, methods and currencies)."""

from __future__ import annotations

import pytest
import yaml

from moneypath.catalog.conventions import BURN_RATE_PAIRS, sli_error_record, slo_alert_key
from moneypath.generate.rules import alert_rules, recording_rules
from tests.support.promtool_rules import (
    RULE_FILES,
    auth_series,
    case,
    detection_seconds,
    fired_at,
    promtool,
    selector,
)

AVAILABILITY = "authorization-availability"


def counted_slo(catalog) -> str:
    """The catalog's first SLO counted from good/total counters (the availability of answers)."""
    return next(key for key, slo in catalog.slos.items() if slo.sli.latency is None)


def burn_alert(catalog) -> str:
    return catalog.alert_name(slo_alert_key(counted_slo(catalog)))


def rule_files(catalog, tmp_path) -> list[str]:
    """The catalog's rules, generated as `moneypath build` would, into tmp_path."""
    out = []
    for name, doc in (("recording.yaml", recording_rules(catalog)), ("alerts.yaml", alert_rules(catalog))):
        (tmp_path / name).write_text(yaml.safe_dump(doc, sort_keys=False))
        out.append(str(tmp_path / name))
    return out


def without_guard(catalog):
    plain = catalog.model_copy(deep=True)
    for slo in plain.slos.values():
        slo.min_events = 0
    return plain


def night(catalog) -> list[dict]:
    """03:00: two payments approved and three failed in one hour, nothing else."""
    auth, labels = auth_series(catalog)
    return [{"series": selector(auth, labels, "approved"), "values": "0x70 1x20 2x30"},
            {"series": selector(auth, labels, "error"), "values": "0x75 1x3 2x3 3x40"}]


NIGHT_CHECKS = [m * 60 for m in range(77, 121)]


@pytest.fixture(params=["catalog", "foreign"])
def any_catalog(request):
    return request.getfixturevalue(request.param)


def test_three_failures_out_of_five_at_night_do_not_page(any_catalog, tmp_path):
    files = rule_files(any_catalog, tmp_path)
    name = burn_alert(any_catalog)
    assert fired_at(tmp_path, night(any_catalog), name, NIGHT_CHECKS, interval="1m", rule_files=files) == []
    # The same night without the guard pages: the test above can fail.
    plain = tmp_path / "plain"
    plain.mkdir()
    loud = fired_at(plain, night(any_catalog), name, NIGHT_CHECKS, interval="1m",
                    rule_files=rule_files(without_guard(any_catalog), plain))
    assert loud and min(loud) <= 80 * 60


def test_the_same_error_ratio_at_normal_volume_pages_in_the_workbook_time(any_catalog, tmp_path):
    files = rule_files(any_catalog, tmp_path)
    slo = counted_slo(any_catalog)
    _, long_w, _, factor = BURN_RATE_PAIRS[0]
    assert long_w == "1h"
    # 14.4x a 0.1 % budget is 1.44 % over 1h: at 60 % errors that is 0.0144 / 0.6 h = 86 s (99.5 %: 432 s).
    workbook = 3600 * factor * any_catalog.slos[slo].error_budget / 0.6
    seconds = detection_seconds(any_catalog, tmp_path, slo, 0.6, watch_min=round(workbook / 60) + 3,
                                rule_files=files)
    print(f"\n{slo}: 60% errors at 400 payments/min → page after {seconds} s (SRE Workbook: {workbook:.0f} s)")
    assert seconds is not None and workbook - 15 <= seconds <= workbook + 45


def test_the_guard_keeps_workbook_detection_times(catalog, tmp_path):
    """Figures for the note: with the guard on, a full outage and a 10 % error rate page when the burn-rate
    math says, at normal volume and at a volume just above the guard (2 payments a minute: 120 per hour)."""
    figures = {}
    for per_step, label in ((100, "400/min"), (0.5, "2/min")):
        for share in (1.0, 0.1):
            run = tmp_path / f"{per_step}-{share}"
            run.mkdir()
            figures[(label, share)] = detection_seconds(catalog, run, AVAILABILITY, share, per_step=per_step,
                                                        watch_min=4 if share == 1.0 else 14)
    for (label, share), seconds in figures.items():
        print(f"\n{share:.0%} errors at {label} → page after {seconds} s "
              f"(SRE Workbook: {'~52 s' if share == 1.0 else '~8.6 min'})")
    assert 45 <= figures[("400/min", 1.0)] <= 90 and 8 * 60 <= figures[("400/min", 0.1)] <= 10 * 60
    assert 45 <= figures[("2/min", 1.0)] <= 90 and 8 * 60 <= figures[("2/min", 0.1)] <= 10 * 60


def test_a_quiet_window_in_an_outage_keeps_the_page(catalog, tmp_path):
    """Full outage at normal volume for 3 minutes, then no traffic at all (clients gave up). The 5-minute
    error ratio has no value (not NaN) while nothing arrives, and the page stays up instead of resolving."""
    auth, labels = auth_series(catalog)
    before, outage, silence = 75 * 4, 3 * 4, 10 * 4
    approved_total = 100 * before
    series = [{"series": selector(auth, labels, "approved"),
               "values": f"0+100x{before} {approved_total}x{outage + silence}"},
              {"series": selector(auth, labels, "error"),
               "values": f"0x{before} 100+100x{outage - 1} {100 * outage}x{silence}"}]
    name = burn_alert(catalog)
    start = before * 15
    checks = [start + s * 15 for s in range(1, outage + silence + 1)]
    fired = fired_at(tmp_path, series, name, checks)
    assert fired and min(fired) <= start + 90
    in_silence = [t for t in checks if t >= start + (outage + 21) * 15]  # the 5m window is empty from here
    assert set(in_silence) <= set(fired), f"resolved during the silence at {sorted(set(in_silence) - set(fired))}"
    quiet_ratio = {"interval": "15s", "input_series": series, "promql_expr_test": [
        {"expr": f'{sli_error_record("5m")}{{slo="{AVAILABILITY}"}}', "eval_time": f"{in_silence[-1]}s",
         "exp_samples": []}]}
    result = promtool(tmp_path, [quiet_ratio])
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------- ApprovalRateDrop


# Quiet cases, series a minute apart, evaluated each minute: 15 s evaluations over hours took most of these tests'
# time. Not where an annotation's figure is compared: promtool evaluates the rule groups in no fixed order, so an
# alert may read a recorded ratio one evaluation old, and a minute old shows in the figure.
MINUTE = "1m"


def _approval_case(catalog, labels, approved: str, declined: str, extra=(), fires=False, description=""):
    metric_key = "authorizations_total"
    series = [(_key_selector(metric_key, labels, "approved"), approved),
              (_key_selector(metric_key, labels, "declined"), declined), *extra]
    return case(catalog, "ApprovalRateDrop", series, "270m", labels if fires else {}, description,
                interval="1m", fires=fires)


def _key_selector(key: str, labels: dict[str, str], outcome: str) -> str:
    return key + "{" + ",".join(f'{k}="{v}"' for k, v in {**labels, "outcome": outcome}.items()) + "}"


def test_an_approval_drop_pages_per_provider_and_method_on_the_ticket_shop(foreign, tmp_path):
    _, labels = auth_series(foreign, {"provider": "knet", "method": "debit"})
    firing = _approval_case(foreign, labels, "0+95x240 22845+45x59", "0+5x240 1255+55x59", fires=True,
                            description="knet (debit) approved 45% of the payments it answered over 30m, more than "
                                        "25% below its share over the last 1d (at least 40 answers). Declines count "
                                        "as answers, so the availability SLO does not see this: customers are being "
                                        "turned away.")
    result = promtool(tmp_path, [firing], rule_files=rule_files(foreign, tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_approval_drop_below_the_volume_floor_does_not_page(any_catalog, tmp_path):
    """One payment a minute (30 answers in 30 minutes, under 50) collapsing to 40 % approved: no page."""
    _, labels = auth_series(any_catalog)
    quiet = _approval_case(any_catalog, labels, "0+1x240 240.4+0.4x59", "0x240 0.6+0.6x59")
    loud_catalog = any_catalog.model_copy(deep=True)
    loud_catalog.alerts["ApprovalRateDrop"].min_events = 10
    # 30 answers in the 30 minutes: under either catalog's floor (50 shipped, 40 in the shop)
    assert any_catalog.alerts["ApprovalRateDrop"].min_events > 30
    files = rule_files(any_catalog, tmp_path)
    assert promtool(tmp_path, [quiet], MINUTE, rule_files=files).returncode == 0
    loud = tmp_path / "loud"
    loud.mkdir()
    assert promtool(loud, [quiet], MINUTE, rule_files=rule_files(loud_catalog, loud)).returncode != 0


def test_a_failing_provider_is_not_an_approval_drop(catalog, tmp_path):
    """Half the calls error out (ProviderPartialOutage's business); the answers it gives are approved as ever."""
    _, labels = auth_series(catalog)
    errors = (_key_selector("authorizations_total", labels, "error"), "0x240 100+100x59")
    quiet = _approval_case(catalog, labels, "0+95x300", "0+5x300", extra=[errors])
    assert promtool(tmp_path, [quiet], MINUTE, rule_files=RULE_FILES).returncode == 0


# ---------------------------------------------------------------- business alerts at night


def test_a_single_failed_call_at_night_is_not_a_provider_outage(any_catalog, tmp_path):
    """One call every 12 minutes, each failing: 100 % errors, 1 call in 5 minutes, under the floor (10)."""
    provider = next(iter(any_catalog.providers))
    base = f'provider_requests_total{{provider="{provider}",operation="authorize",outcome='
    quiet = case(any_catalog, "ProviderPartialOutage", [(base + '"error"}', "0x11 1x12 2x12 3x12 4x12"),
                                                        (base + '"success"}', "0x60")],
                 "41m", {}, "", interval="1m", fires=False)  # 3 minutes after the failure at 38m
    files = rule_files(any_catalog, tmp_path)
    assert promtool(tmp_path, [quiet], rule_files=files).returncode == 0
    loud = tmp_path / "loud"
    loud.mkdir()
    floorless = any_catalog.model_copy(deep=True)
    floorless.alerts["ProviderPartialOutage"].min_events = 1
    assert promtool(loud, [quiet], rule_files=rule_files(floorless, loud)).returncode != 0


def test_a_quiet_night_is_not_silence_but_a_stop_after_a_busy_hour_is(catalog, tmp_path):
    auth, labels = auth_series(catalog)
    night = [{"series": selector(auth, labels, "approved"), "values": "0x11 1x12 2x12 3x12 4x40"}]
    name = catalog.alert_name("AuthorizationsSilent")
    assert fired_at(tmp_path, night, name, [m * 60 for m in range(20, 90, 5)], interval="1m", window="") == []
    busy = tmp_path / "busy"
    busy.mkdir()
    # 10 a minute for 26 hours, then nothing for 2 hours: silent from ~8 minutes after the stop (the 5m
    # window, then for: 2m), and still silent long after, because the same minutes a day ago were busy.
    stop = [{"series": selector(auth, labels, "approved"), "values": "0+10x1560 15600x120"}]
    checks = [m * 60 for m in range(1556, 1680, 4)]
    fired = fired_at(busy, stop, name, checks, interval="1m", window="", evaluation_interval=MINUTE)
    assert fired and min(fired) <= 1570 * 60
    assert set(fired) >= {t for t in checks if t >= 1570 * 60}
