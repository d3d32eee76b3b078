"""OpenSLO v1: the catalog's SLOs out (queries naming that catalog's metrics) and back in (the same SLOs);
ratio SLOs written for other tools and latency thresholds in; what cannot be mapped is one line naming the
file, the SLO and the key, and the catalog stays byte for byte as it was."""

from __future__ import annotations

import re

import pytest
import yaml

from moneypath.catalog import load_catalog
from moneypath.cli import main
from moneypath.generate.openslo_export import openslo_documents
from tests.conftest import CATALOG_PATH, FOREIGN_PATH


@pytest.mark.parametrize("path, metric", [(CATALOG_PATH, "moneypath_authorizations_total"),
                                          (FOREIGN_PATH, "shop_authorizations_total")])
def test_export_names_the_catalogs_own_metrics(path, metric):
    c = load_catalog(path)
    docs = openslo_documents(c)
    assert docs[0]["kind"] == "Service" and docs[0]["metadata"]["name"] == c.service
    slos = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "SLO"}
    assert set(slos) == set(c.slos)
    for key, spec in slos.items():
        assert spec["budgetingMethod"] == "Occurrences" and spec["timeWindow"] == [
            {"duration": c.slos[key].window, "isRolling": True}]
        assert spec["objectives"][0]["target"] == pytest.approx(c.slos[key].objective / 100)
        queries = [spec["indicator"]["spec"]["ratioMetric"][k]["metricSource"]["spec"]["query"] for k in ("good", "total")]
        assert all(q.startswith(c.namespace + "_") for q in queries)
    avail = next(s for s in slos.values() if metric in s["indicator"]["spec"]["ratioMetric"]["total"]["metricSource"]
                 ["spec"]["query"])
    assert avail["indicator"]["spec"]["ratioMetric"]["good"]["metricSource"]["spec"]["query"] == \
        metric + '{outcome=~"approved|declined"}'


def _without_slos(path, tmp_path):
    text = path.read_text()
    stripped = re.sub(r"(?ms)^slos:\n.*?(?=^\S)", "slos: {}\n\n", text)
    out = tmp_path / "moneypath.yaml"
    out.write_text(stripped)
    return out


@pytest.mark.parametrize("path", [CATALOG_PATH, FOREIGN_PATH])
def test_export_then_import_gives_the_same_slos(path, tmp_path, capsys):
    exported = tmp_path / "slos.yaml"
    assert main(["slo", "export", "--catalog", str(path), "--out", str(exported)]) == 0
    target = _without_slos(path, tmp_path)
    comments = target.read_text().count("#")
    assert load_catalog(target).slos == {}
    assert main(["slo", "import", str(exported), "--catalog", str(target)]) == 0
    before, after = load_catalog(path), load_catalog(target)
    assert {k: s.model_dump() for k, s in after.slos.items()} == {k: s.model_dump() for k, s in before.slos.items()}
    assert target.read_text().count("#") == comments  # every comment kept


SLOTH_STYLE = """
apiVersion: openslo/v1
kind: SLI
metadata: {name: speed}
spec:
  thresholdMetric:
    metricSource: {type: Prometheus, spec: {query: 'histogram_quantile(0.99, sum by (le)
      (rate(shop_authorization_duration_seconds_bucket[5m])))'}}
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: Charge Speed}
spec:
  service: tickets
  indicatorRef: speed
  timeWindow: [{duration: 28d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{op: lte, value: 0.5, target: 0.99}]
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: ledger-commits}
spec:
  service: tickets
  indicator:
    metadata: {name: ledger}
    spec:
      ratioMetric:
        counter: true
        good: {metricSource: {type: prometheus, spec: {query:
          'sum(rate(shop_ledger_writes_total{outcome="committed"}[{{.window}}]))'}}}
        total: {metricSource: {type: prometheus, spec: {query: 'sum(rate(shop_ledger_writes_total[{{.window}}]))'}}}
  timeWindow: [{duration: 28d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{targetPercent: 99.95}]
"""


def test_a_threshold_and_a_ratio_written_for_another_tool_are_added_keeping_the_file(tmp_path, capsys):
    catalog = tmp_path / "moneypath.yaml"
    catalog.write_text(FOREIGN_PATH.read_text())
    source = tmp_path / "slos.yaml"
    source.write_text(SLOTH_STYLE)
    assert main(["slo", "import", str(source), "--catalog", str(catalog)]) == 0
    out = capsys.readouterr().out
    assert "added SLO charge-speed: 99% over 28d, latency of authorization_duration_seconds under 0.5 s" in out
    assert 'added SLO ledger-commits: 99.95% over 28d, ledger_writes_total{outcome="committed"} / ledger_writes_total' in out
    text = catalog.read_text()
    assert text.startswith(FOREIGN_PATH.read_text()[:FOREIGN_PATH.read_text().index("alerts:")].rstrip("\n"))
    assert text.endswith(FOREIGN_PATH.read_text()[FOREIGN_PATH.read_text().index("\nalerts:"):])  # untouched after
    c = load_catalog(catalog)
    assert c.slos["charge-speed"].sli.latency.under == 0.5 and c.slos["ledger-commits"].objective == 99.95


BASE = {"apiVersion": "openslo/v1", "kind": "SLO", "metadata": {"name": "x"},
        "spec": {"timeWindow": [{"duration": "28d", "isRolling": True}], "budgetingMethod": "Occurrences",
                 "objectives": [{"target": 0.99}],
                 "indicator": {"spec": {"ratioMetric": {
                     "good": {"metricSource": {"type": "Prometheus",
                                               "spec": {"query": 'shop_authorizations_total{outcome="approved"}'}}},
                     "total": {"metricSource": {"type": "Prometheus", "spec": {"query": "shop_authorizations_total"}}}}}}}}


def _variant(path: str, value) -> dict:
    doc = yaml.safe_load(yaml.safe_dump(BASE))
    *parents, last = path.split(".")
    node = doc
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    if value is None:
        del node[last]
    else:
        node[last] = value
    return doc


@pytest.mark.parametrize("path, value, problem", [
    ("spec.budgetingMethod", "Timeslices", "spec.budgetingMethod: Timeslices cannot be mapped (moneypath SLOs count "
                                           "events: Occurrences)"),
    ("spec.timeWindow", [{"duration": "1M", "calendar": {"startTime": "2026-01-01"}, "isRolling": False}],
     "spec.timeWindow: a calendar window cannot be mapped"),
    ("spec.objectives", [{"target": 0.99}, {"target": 0.999}],
     "spec.objectives: has 2 objectives; moneypath maps exactly one"),
    ("spec.indicator.spec.ratioMetric.good.metricSource.spec.query", "shop_authorisations_total",
     "indicator.ratioMetric.good: shop_authorisations_total is not a metric of the catalog; did you mean "
     "shop_authorizations_total?"),
    ("spec.indicator.spec.ratioMetric.bad", {"metricSource": {"type": "Prometheus", "spec": {"query": "x"}}},
     "indicator.ratioMetric.bad: a bad/total ratio cannot be mapped"),
    ("spec.indicator.spec.ratioMetric.good.metricSource.spec.query",
     'shop_authorization_duration_seconds_bucket{le="0.3"}',
     "indicator.ratioMetric.total: the good events are shop_authorization_duration_seconds_bucket, so the total must "
     "be shop_authorization_duration_seconds_count"),
    ("spec.indicator.spec.ratioMetric.good.metricSource.type", "Datadog",
     "indicator.ratioMetric.good.metricSource.type: 'Datadog' cannot be mapped (Prometheus only)"),
    ("metadata.name", "charge-availability", "the catalog already has an SLO charge-availability"),
])
def test_what_cannot_be_mapped_is_one_line_and_nothing_is_written(path, value, problem, tmp_path, capsys):
    catalog = tmp_path / "moneypath.yaml"
    catalog.write_text(FOREIGN_PATH.read_text())
    source = tmp_path / "slos.yaml"
    source.write_text(yaml.safe_dump_all([_variant(path, value), BASE | {"metadata": {"name": "fine"}}]))
    assert main(["slo", "import", str(source), "--catalog", str(catalog)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert any(line.startswith(f"{source}: SLO ") and problem in line for line in err), err
    assert err[-1] == f"slo import: nothing written to {catalog}"
    assert catalog.read_text() == FOREIGN_PATH.read_text()


def test_a_latency_bucket_that_is_not_a_boundary_lists_the_buckets(tmp_path, capsys):
    doc = _variant("spec.indicator.spec.ratioMetric.good.metricSource.spec.query",
                   'shop_authorization_duration_seconds_bucket{le="0.3"}')
    doc["spec"]["indicator"]["spec"]["ratioMetric"]["total"]["metricSource"]["spec"]["query"] = \
        "shop_authorization_duration_seconds_count"
    source = tmp_path / "slos.yaml"
    source.write_text(yaml.safe_dump(doc))
    catalog = tmp_path / "moneypath.yaml"
    catalog.write_text(FOREIGN_PATH.read_text())
    assert main(["slo", "import", str(source), "--catalog", str(catalog)]) == 1
    assert "0.3 is not a bucket of shop_authorization_duration_seconds (buckets: 0.05, 0.1, 0.25, 0.5, 1, 2.5)" in \
        capsys.readouterr().err


def test_a_missing_file_and_broken_yaml_are_one_line(tmp_path, capsys):
    catalog = tmp_path / "moneypath.yaml"
    catalog.write_text(FOREIGN_PATH.read_text())
    assert main(["slo", "import", str(tmp_path / "nope.yaml"), "--catalog", str(catalog)]) == 1
    assert f"{tmp_path / 'nope.yaml'}: file not found" in capsys.readouterr().err
    broken = tmp_path / "broken.yaml"
    broken.write_text("apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: [x\n")
    assert main(["slo", "import", str(broken), "--catalog", str(catalog)]) == 1
    assert re.search(rf"{re.escape(str(broken))}:\d+: YAML syntax error", capsys.readouterr().err)
    assert catalog.read_text() == FOREIGN_PATH.read_text()
