"""Shared plumbing in moneypath._common: the Prometheus client (and how each caller words its failures),
the report model in both formats, the report directory written whole; and `moneypath build`'s all-or-nothing
write on top of _common.atomic."""

from __future__ import annotations

import json

import httpx
import pytest

from moneypath._common import report as doc
from moneypath._common.prometheus import Prometheus, PrometheusError

URL = "http://prom.test:9090"


def _answer(request: httpx.Request) -> httpx.Response:
    query = request.url.params.get("query", "")
    path = request.url.path
    if query == "down":
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
    if query == "bad":
        return httpx.Response(400, json={"status": "error", "errorType": "bad_data", "error": "parse error: at 1"})
    if query == "html":
        return httpx.Response(502, text="<html>\n<b>Bad gateway</b>\n</html>", headers={"content-type": "text/html"})
    data = {
        "/api/v1/query": {"resultType": "scalar", "result": [1.0, "2.5"]} if query == "scalar" else
        {"resultType": "vector", "result": [{"metric": {"job": "a"}, "value": [1.0, "1"]},
                                            {"metric": {"job": "b"}, "value": [1.0, "NaN"]}]},
        "/api/v1/query_range": {"resultType": "matrix", "result": [
            {"metric": {"__name__": "up", "job": "a"}, "values": [[1, "1"], [2, "+Inf"], [3, "0"]]}]},
        "/api/v1/alerts": {"alerts": [{"labels": {"alertname": "X"}, "state": "firing"}]},
        "/api/v1/status/config": {"yaml": "global:\n  scrape_interval: 1s\n"},
        "/api/v1/targets": {"activeTargets": [{"health": "up"}, {"health": "down"}], "droppedTargets": []},
    }
    return httpx.Response(200, json={"status": "success", "data": data[path]})


def _mock(prom):
    prom.client = httpx.Client(transport=httpx.MockTransport(_answer))
    return prom


def test_the_client_answers_queries_alerts_and_config():
    with _mock(Prometheus(URL + "/")) as prom:
        assert prom.url == URL
        assert [r["metric"]["job"] for r in prom.instant("up", at=5)] == ["a", "b"]
        assert prom.instant("scalar") == [{"metric": {}, "value": [1.0, "2.5"]}]
        assert prom.range("up", 1, 3, 1)[0]["values"][0] == [1, "1"]
        assert prom.alerts()[0]["labels"]["alertname"] == "X"
        assert "scrape_interval: 1s" in prom.config_yaml()
        assert [t["health"] for t in prom.targets()] == ["up", "down"]


@pytest.mark.parametrize("query, message", [
    ("down", f"cannot reach Prometheus at {URL}: ConnectError"),
    ("bad", f"Prometheus at {URL} refused 'bad': parse error: at 1"),
    ("html", f"Prometheus at {URL} refused 'html': <html> <b>Bad gateway</b> </html>"),
])
def test_every_failure_is_one_prometheus_error_of_one_line(query, message):
    with pytest.raises(PrometheusError) as info, _mock(Prometheus(URL)) as prom:
        prom.instant(query)
    assert str(info.value) == message


def test_the_drill_client_keeps_its_answers_and_its_wording():
    from moneypath.drills.endpoints import DrillPrometheus, TargetError

    prom = _mock(DrillPrometheus(URL))
    assert prom.query("up")[0] == ({"job": "a"}, 1.0)
    assert prom.query("scalar") == [({}, 2.5)]
    assert prom.query_range("up", 1, 3, 1) == {"job=a": [[1.0, 1.0], [3.0, 0.0]]}  # +Inf dropped
    assert prom.alerts()[0]["state"] == "firing"
    for query, message in [
        ("down", f"Prometheus {URL}/api/v1/query: ConnectError: [Errno 111] Connection refused"),
        ("bad", "Prometheus: bad_data: parse error: at 1"),
        ("html", f"Prometheus {URL}/api/v1/query: JSONDecodeError: Expecting value: line 1 column 1 (char 0)"),
    ]:
        with pytest.raises(TargetError) as info:
            prom.query(query)
        assert str(info.value) == message


def test_the_load_test_observer_and_the_snapshot_word_it_as_the_client_does(catalog, tmp_path, monkeypatch):
    from moneypath.loadtest.command import observe
    from moneypath.stack import snapshot

    obs = observe.Observer(catalog, URL)
    _mock(obs.prom)
    with pytest.raises(observe.ObserveError, match=f"^Prometheus at {URL} refused 'bad': parse error: at 1$"):
        obs.q("bad", 1.0)
    monkeypatch.setattr(observe, "Prometheus", lambda url, timeout_s: _mock(Prometheus(url, timeout_s)))
    assert observe.scrape_interval_s(URL) == 1.0
    monkeypatch.setattr(snapshot, "Prometheus", lambda url: _mock(Prometheus(url)))
    monkeypatch.setattr(snapshot, "expand", lambda expr, rate: "down")
    with pytest.raises(snapshot.SnapshotError, match=f"^cannot reach Prometheus at {URL}: ConnectError$"):
        snapshot.snapshot(catalog, URL, tmp_path, snapshot.SnapshotSpan("5m"), progress=lambda *_: None)


def _reloads(status: int | None):
    """A client factory whose POST /-/reload answers `status` (None: every connection is refused)."""

    def answer(request: httpx.Request) -> httpx.Response:
        if status is None:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        assert (request.method, request.url.path) == ("POST", "/-/reload")
        return httpx.Response(status, text="" if status == 200 else "failed to reload config: bad\n")

    return lambda url, timeout_s: _mock_with(Prometheus(url, timeout_s), answer)


def _mock_with(prom, answer):
    prom.client = httpx.Client(transport=httpx.MockTransport(answer))
    return prom


def test_the_reload_and_who_words_its_failure(monkeypatch):
    from moneypath.stack import scrape
    from moneypath.stack.state import StackError

    _reloads(200)(URL + "/", 10).reload()
    with pytest.raises(PrometheusError, match=f"^Prometheus at {URL} refused /-/reload: 500 failed to reload config: "
                                              "bad$") as info:
        _reloads(500)(URL, 10).reload()
    assert info.value.status == 500 and info.value.error == "failed to reload config: bad\n"
    # the stack reloads its scrapers (moneypath.stack.scrape; the load test passes its words on: test_scrape_targets)
    monkeypatch.setattr(scrape, "Prometheus", _reloads(200))
    scrape._reload(URL)
    monkeypatch.setattr(scrape, "Prometheus", _reloads(500))
    with pytest.raises(StackError, match=f"^Prometheus at {URL}/ refused the reload: 500 failed to reload config: bad$"):
        scrape._reload(URL + "/")
    monkeypatch.setattr(scrape, "Prometheus", _reloads(None))
    with pytest.raises(StackError, match=f"^cannot reload Prometheus at {URL}: ConnectError$"):
        scrape._reload(URL)


def test_the_stack_status_counts_the_targets_up_or_says_nothing(monkeypatch):
    from moneypath.stack import status

    monkeypatch.setattr(status, "Prometheus", lambda url, timeout_s: _mock(Prometheus(url, timeout_s)))
    assert status._targets_summary(URL) == ", targets up 1/2; down: ? (no answer)"  # no instance label in the mock
    monkeypatch.setattr(status, "Prometheus", _reloads(None))  # not answering
    assert status._targets_summary(URL) == ""


def _document(escape: str) -> doc.Document:
    return doc.Document("Report <1>", [
        doc.Section("", [doc.Bullets([("key", "a|b"), "plain <i>"])]),
        doc.Section("Table", [
            doc.Table(["name", "n"], [[doc.Cell("x|y"), "1"], [doc.Cell("ok", "ok"), doc.Cell("q", "code")]],
                      align="lr", row_kinds=["pass", "fail"]),
            doc.Table(["a"], [], "nothing here"), doc.Table(["a"], [], None),
            doc.Para("markdown only", "note", only="md"), doc.Para("html only", "bad", only="html")]),
        doc.Section("Pictures", [doc.Gallery([doc.Image("one", "1.png"), doc.Image("two", "2.png")]),
                                 doc.Image("three", "3.png", [doc.Cell("Query: "), doc.Cell("up", "code")]),
                                 doc.Para("line one\nline two", "pre")])],
        verdict=("FAILED", False), verdict_in_title=escape == "table", escape=escape)


def test_the_report_model_in_markdown_escapes_as_the_document_says():
    strict = _document("markdown").to_markdown()
    assert strict.startswith("# Report \\<1\\>\n\n**Verdict: ❌ FAILED**\n\n- **key**: a\\|b\n- plain \\<i\\>\n\n")
    assert "| name | n |\n|---|---:|\n| x\\|y | 1 |\n| ✅ ok | `q` |\n\n_nothing here_\n\n| a |\n|---|\n\n" in strict
    assert "_markdown only_" in strict and "html only" not in strict
    assert "![one](1.png)\n![two](2.png)\n\n![three](3.png)\n\nQuery: `up`\n\n```\nline one\nline two\n```\n" in strict
    table = _document("table").to_markdown()
    assert table.startswith("# Report <1>: FAILED\n\n- **key**: a\\|b\n- plain <i>\n\n")
    assert table.endswith("```\n")


def test_the_report_model_in_html_escapes_everything_and_keeps_one_stylesheet():
    page = _document("markdown").to_html()
    assert page.startswith('<!doctype html>\n<html lang="en">') and page.count("<style>") == 1
    assert '<h1>Report &lt;1&gt; <span class="verdict failv">FAILED</span></h1>' in page
    assert "<title>Report &lt;1&gt;</title>" in page
    assert '<tr class="pass"><td>x|y</td><td class="r">1</td></tr><tr class="fail"><td class="ok">ok</td>' in page
    assert '<p class="note">nothing here</p>' in page and "<table><tr><th>a</th></tr></table>" in page
    assert '<p class="bad">html only</p>' in page and "markdown only" not in page
    assert '<figure><img src="3.png" alt="three"><figcaption>Query: <code>up</code></figcaption></figure>' in page
    assert "<pre>line one\nline two</pre>" in page and "<li>plain &lt;i&gt;</li>" in page
    assert "<h1>Report &lt;1&gt;: <span" in _document("table").to_html()


def test_a_table_of_named_rows_marks_a_row_and_aligns_numbers_in_both_formats():
    table = doc.Table(["", "requests/s", "verdict"],
                      [["knee <b>", "1,250.5", doc.Cell("ok", "ok")], ["a|b", "9", doc.Cell("p99 > 300 ms", "bad")]],
                      align="lrl", row_kinds=["mark", "fail"], key_column=True, wide=True)
    page = doc.Document("T", [doc.Section("", [table, doc.Image("curve <1>", "a b.png", wide=True)])],
                        escape="table")
    html = page.to_html()
    assert ('<table class="wide"><tr><th></th><th class="r">requests/s</th><th>verdict</th></tr>'
            '<tr class="mark"><th scope="row">knee &lt;b&gt;</th><td class="r">1,250.5</td><td class="ok">ok</td></tr>'
            '<tr class="fail"><th scope="row">a|b</th><td class="r">9</td><td class="bad">p99 &gt; 300 ms</td></tr>'
            "</table>") in html
    assert '<figure class="wide"><img src="a b.png" alt="curve &lt;1&gt;"></figure>' in html
    assert "tr.mark {" in html and "figure.wide img { width: 100%" in html
    md = page.to_markdown()
    assert ("|  | requests/s | verdict |\n|---|---:|---|\n| **knee <b>** | 1,250.5 | ✅ ok |\n"
            "| **a\\|b** | 9 | ⚠️ **p99 > 300 ms** |") in md
    strict = doc.Document("T", [doc.Section("", [table])]).to_markdown()
    assert "| **knee \\<b\\>** | 1,250.5 |" in strict
    plain = doc.Document("T", [doc.Section("", [doc.Table(["a"], [["x"]])])]).to_html()  # neither named rows nor wide
    assert "<table><tr><th>a</th></tr><tr><td>x</td></tr></table>" in plain


def test_a_report_directory_appears_whole_or_not_at_all(tmp_path, monkeypatch):
    final = tmp_path / "reports" / "r"
    with pytest.raises(RuntimeError), doc.publishing(doc.stage(final), final) as d:
        (d / "report.md").write_text("half")
        raise RuntimeError("boom")
    assert list((tmp_path / "reports").iterdir()) == []
    with doc.publishing(doc.stage(final), final) as d:
        (d / "report.md").write_text("whole")
    assert (final / "report.md").read_text() == "whole"
    # into an existing directory: refused unless merging, which moves `last` last and keeps the rest
    (final / "journal.json").write_text("{}")
    tmp = doc.stage(final, ".partial")
    assert tmp.name.startswith(".r.") and tmp.name.endswith(".partial")
    (tmp / "report.md").write_text("new")
    (tmp / "index.html").write_text("page")
    with pytest.raises(OSError):
        doc.publish(tmp, final)
    moved = []
    real = doc.os.replace
    monkeypatch.setattr(doc.os, "replace", lambda a, b: (moved.append(b.name), real(a, b)))
    doc.publish(tmp, final, merge=True, last="report.md")
    monkeypatch.undo()
    assert moved == ["index.html", "report.md"] and not tmp.exists()
    assert sorted(p.name for p in final.iterdir()) == ["index.html", "journal.json", "report.md"]
    assert doc.unused_path(final) == final.with_name("r-2")


def test_build_writes_every_changed_file_or_none(tmp_path, monkeypatch, catalog):
    from moneypath.generate import build

    (tmp_path / "a.yaml").write_text("old a")
    (tmp_path / "same.yaml").write_text("same")
    monkeypatch.setattr(build, "artifacts", lambda c: {"a.yaml": "new a", "same.yaml": "same", "sub/b.yaml": 42})
    with pytest.raises(TypeError):  # the second file cannot be written: the first is not replaced either
        build.write(catalog, tmp_path)
    assert (tmp_path / "a.yaml").read_text() == "old a" and not (tmp_path / "sub" / "b.yaml").exists()
    assert not list(tmp_path.rglob("*.tmp"))
    monkeypatch.setattr(build, "artifacts", lambda c: {"a.yaml": "new a", "same.yaml": "same", "sub/b.yaml": "b"})
    assert build.write(catalog, tmp_path) == ["a.yaml", "sub/b.yaml"]
    assert json.dumps(sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())) == \
        json.dumps(["a.yaml", "same.yaml", "sub/b.yaml"])
    assert (tmp_path / "a.yaml").read_text() == "new a"


def test_an_atomic_write_gets_the_mode_open_would_give(tmp_path):
    from moneypath._common import atomic

    atomic.write_text(tmp_path / "a.txt", "x")  # mkstemp alone would make it 0600
    (tmp_path / "b.txt").write_text("x")
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == (tmp_path / "b.txt").stat().st_mode & 0o777
