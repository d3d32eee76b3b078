"""`up --target` holds the alert rules until each target answered a first scrape (moneypath.stack.first_scrape):
what runs meanwhile, how a target's state is read from /api/v1/targets, the progress lines and the timeout."""

from __future__ import annotations

import pytest

from moneypath.catalog.load import load_catalog
from moneypath.generate.rules import alert_rules
from moneypath.stack import first_scrape
from moneypath.stack.spec import StackSpec
from moneypath.stack.state import StackError
from tests.conftest import CATALOG_PATH

REFUSED = 'Get "http://127.0.0.1:8000/metrics": dial tcp 127.0.0.1:8000: connect: connection refused'


def target(instance, health, error=""):
    return {"labels": {"instance": instance}, "scrapeUrl": f"http://{instance}/metrics", "health": health,
            "lastError": error}


def test_while_held_only_the_watchdog_alerts():
    c = load_catalog(CATALOG_PATH)
    held = first_scrape.held_rules(alert_rules(c))
    names = [r["alert"] for g in held["groups"] for r in g["rules"]]
    assert names == [c.alert_name("Watchdog")]
    assert c.alert_name("AuthorizationsSilent") in {r["alert"] for g in alert_rules(c)["groups"] for r in g["rules"]}


def test_a_targets_state_from_the_scrapers_view():
    assert first_scrape.first_scrape_state([], "127.0.0.1:8000") == (False, "not scraped yet")
    assert first_scrape.first_scrape_state([target("127.0.0.1:8000", "unknown")], "127.0.0.1:8000") == (
        False, "not scraped yet")
    assert first_scrape.first_scrape_state([target("127.0.0.1:8000", "down", REFUSED)], "127.0.0.1:8000") == (
        False, "connection refused")
    assert first_scrape.first_scrape_state([target("127.0.0.1:9", "up"), target("127.0.0.1:8000", "up")],
                                           "127.0.0.1:8000") == (True, "")


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, s):
        self.now += s


def test_waits_for_every_scraper_and_says_who_is_silent_every_few_seconds():
    clock, lines = Clock(), []
    # replica a scrapes the target at 3 s, replica b at 12 s; before that: refused
    def active(url):
        up_at = {"a": 3, "b": 12}[url]
        return [target("127.0.0.1:8000", "up" if clock.now >= up_at else "down", REFUSED)]

    waited = first_scrape.wait_first_scrapes(["a", "b"], ["127.0.0.1:8000"], 120, lines.append, clock, clock.sleep,
                                             active)
    assert waited == 12
    assert lines == ["waiting for 127.0.0.1:8000 to answer its first scrape (0 s; connection refused)",
                     "waiting for 127.0.0.1:8000 to answer its first scrape (5 s; connection refused)",
                     "waiting for 127.0.0.1:8000 to answer its first scrape (10 s; connection refused)",
                     "127.0.0.1:8000 answered its first scrape after 12 s"]


def test_a_target_that_never_answers_stops_up_in_one_line():
    clock = Clock()
    with pytest.raises(StackError) as exc:
        first_scrape.wait_first_scrapes(["a"], ["127.0.0.1:8000"], 30, lambda _: None, clock, clock.sleep,
                                        lambda url: [target("127.0.0.1:8000", "down", REFUSED)])
    assert str(exc.value) == (
        "127.0.0.1:8000 did not answer its first scrape within 30 s (connection refused); the stack is stopped: start "
        "the service first, check --target, or give --target-wait SECONDS (0: start without waiting, alert rules on "
        "at once)")
    assert 30 < clock.now <= 31


def test_a_negative_wait_is_refused():
    with pytest.raises(StackError, match="--target-wait -1 must be 0 or more seconds"):
        StackSpec(("127.0.0.1:8000",), target_wait_s=-1)
