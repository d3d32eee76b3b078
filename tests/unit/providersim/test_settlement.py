"""The provider simulator's settlement files (moneypath.reference.providersim.settlement): each capture once, written
atomically, on request and periodically in-process (httpx.ASGITransport), with a real signed-webhook receiver."""

from __future__ import annotations

import asyncio
import re

from tests.support.providersim import (
    admin_headers,
    approved,
    assert_problem,
    capture,
    flush,
    make_app,
    run,
    settlement_rows,
)


def test_settlement_files_list_captures_once_and_atomically(tmp_path):
    async def scenario(c):
        refs = [await approved(c, "acme", f"s{i}") for i in range(2)]
        for ref in refs:
            await capture(c, "acme", ref, f"cap-{ref}")
        await approved(c, "acme", "not-captured")
        await c.post("/acme/v1/payouts", json={"amount_minor": 5, "currency": "USD", "reference": "p",
                                               "idempotency_key": "p"})
        token = await approved(c, "globex", "s")
        await capture(c, "globex", token, "cap")
        first = await flush(c)
        again = await flush(c)
        return refs, token, first, again

    refs, token, first, again = run(make_app(tmp_path), scenario)
    assert first["lines"] == 3 and len(first["files"]) == 2 and again == {"files": [], "lines": 0}
    assert all(re.fullmatch(r"(acme|globex)-\d{14}-\d{4}\.csv", name) for name in first["files"])
    assert sorted(p.name for p in (tmp_path / "settlements").iterdir()) == sorted(first["files"])  # no temp files
    rows = settlement_rows(tmp_path, first["files"])
    assert sorted((r["provider_ref"], r["amount_minor"], r["currency"], r["status"]) for r in rows) == sorted(
        [(refs[0], "1250", "USD", "SETTLED"), (refs[1], "1250", "USD", "SETTLED"), (token, "4200", "EUR", "COMPLETE")])
    assert all(r["reference"].startswith("ord-") and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r["settled_at"])
               for r in rows)


def test_failed_settlement_write_leaves_nothing_and_keeps_the_lines(tmp_path, monkeypatch):
    import moneypath._common.atomic as atomic  # the settlement file is written through it

    app = make_app(tmp_path)

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    async def scenario(c):
        await capture(c, "acme", await approved(c, "acme", "f"), "cap")
        with monkeypatch.context() as m:
            m.setattr(atomic.os, "replace", broken_replace)
            assert_problem(await c.post("/admin/settlements/flush", headers=admin_headers()), 500)
            assert list((tmp_path / "settlements").iterdir()) == []  # no partial file, no temp file
        return await flush(c)

    result = run(app, scenario)
    assert result["lines"] == 1 and len(settlement_rows(tmp_path, result["files"])) == 1


def test_settlement_files_are_also_written_periodically(tmp_path):
    app = make_app(tmp_path, settlement_interval_s=0.05)

    async def scenario(c):
        async with app.router.lifespan_context(app):
            await capture(c, "globex", await approved(c, "globex", "p"), "cap")
            for _ in range(100):
                if list((tmp_path / "settlements").glob("globex-*.csv")):
                    return
                await asyncio.sleep(0.02)
            raise AssertionError("no periodic settlement file within 2 s")

    run(app, scenario)
    assert not list((tmp_path / "settlements").glob(".*"))
