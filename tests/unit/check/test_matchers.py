"""Label values in matchers, exact or regex, positive or negative, against the catalog's declared values
(moneypath.catalog.matchers): on the foreign ticket shop's catalog."""

from __future__ import annotations

import json

import pytest

from moneypath.catalog import CatalogError, load_catalog
from moneypath.catalog.matchers import matcher_problem
from moneypath.check.lint import dashboard_problems
from moneypath.generate import build
from tests.conftest import FOREIGN_PATH

OUTCOMES = ["approved", "declined", "error", "timeout"]


@pytest.mark.parametrize(("op", "value"), [
    ("=", "approved"), ("!=", "error"), ("=", ""), ("!=", ""), ("=", "other"),
    ("=~", "approved|declined"), ("=~", "^(approved|declined)$"), ("=~", "(?:error|timeout)"),
    ("!~", "error|timeout"), ("=~", ".*"), ("=~", ".+"), ("=~", "app.*|dec.*"), ("=~", "time[o]ut"),
    ("=~", "approved|"),  # the empty alternative: the label is absent
])
def test_values_the_catalog_declares_pass(op, value):
    assert matcher_problem("outcome", op, value, OUTCOMES) is None


@pytest.mark.parametrize(("op", "value", "what"), [
    ("=", "declned", "'declned' is not a declared value of outcome; did you mean declined?"),
    ("!=", "eror", "'eror' is not a declared value of outcome; did you mean error?"),
    ("=~", "approved|declned", "'declned' is not a declared value of outcome; did you mean declined?"),
    ("!~", "error|timout", "'timout' is not a declared value of outcome; did you mean timeout?"),
    ("=~", "^(approved|declned)$", "'declned' is not a declared value of outcome; did you mean declined?"),
    ("=~", "app.*|refused", "'refused' is not a declared value of outcome"),
    ("=~", "fail.*", "'fail.*' matches no declared value of outcome (approved, declined, error, timeout)"),
    ("=~", "approve", "'approve' is not a declared value of outcome; did you mean approved?"),  # anchored
])
def test_a_value_no_series_can_carry_is_named_with_a_did_you_mean(op, value, what):
    assert matcher_problem("outcome", op, value, OUTCOMES) == f'outcome{op}"{value}": {what}'


def test_a_regex_python_cannot_read_is_left_to_promtool():
    assert matcher_problem("outcome", "=~", "(unclosed", OUTCOMES) is None


def test_the_generated_slo_form_with_a_typo_fails_the_catalog_at_its_line(tmp_path):
    path = tmp_path / "moneypath.yaml"
    path.write_text(FOREIGN_PATH.read_text().replace('outcome=~"approved|declined"', 'outcome=~"approved|declned"'))
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    assert info.value.problems == [
        f'{path}:108: slos.charge-availability.sli.good: outcome=~"approved|declned": \'declned\' is not a declared '
        "value of outcome; did you mean declined?"]


def test_dashboards_edited_by_hand_are_checked_value_by_value(foreign, tmp_path):
    for rel, content in build.dashboard_artifacts(foreign).items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(content)
    assert dashboard_problems(foreign, tmp_path) == []
    board = tmp_path / "dashboards" / "shop-overview.json"
    doc = json.loads(board.read_text())
    panel = next(p for p in doc["panels"] if p.get("targets"))
    panel["targets"][0]["expr"] = 'sum(rate(shop_authorizations_total{provider=~"knet|komjo"}[$__rate_interval]))'
    board.write_text(json.dumps(doc))
    assert dashboard_problems(foreign, tmp_path) == [
        f'dashboards/shop-overview.json: panel "{panel["title"]}": shop_authorizations_total: provider=~"knet|komjo": '
        "'komjo' is not a declared value of provider; did you mean komoju?"]
