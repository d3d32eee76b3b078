"""The evidence pack checked as an auditor checks it, with standard tools and no moneypath: `sha256sum -c`, the
VERIFY.txt commands, `ssh-keygen -Y verify` (OpenSSH); one changed byte fails them as it fails `moneypath evidence
verify`. Then its index.html in Chromium (the Debian package, through Playwright): the control map is there,
covered and missing as the records say, with no script, no failed request and nothing wider than the window."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest

from moneypath.readiness import evidence
from tests.integration._common.test_html_pages import PAGE_TIMEOUT_MS, browser, screenshots  # noqa: F401 - fixtures
from tests.support.evidence_history import quarter

pytestmark = pytest.mark.integration

Q1 = (date(2026, 1, 1), date(2026, 3, 31))


def _tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        pytest.skip(f"{name} is not installed")
    return found


def _run(*args: str, cwd: Path, stdin: Path | None = None) -> subprocess.CompletedProcess:
    with open(stdin, "rb") if stdin else open(os.devnull, "rb") as given:
        return subprocess.run(args, cwd=cwd, stdin=given, capture_output=True, text=True, timeout=30)


@pytest.fixture
def signed_pack(tmp_path):
    """A quarter's pack signed with a key `ssh-keygen -t ed25519` made."""
    _run(_tool("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-C", "payments-team", "-f", str(tmp_path / "team"),
         cwd=tmp_path).check_returncode()
    quarter(tmp_path / "history")
    out = tmp_path / "pack"
    evidence.build(tmp_path / "history", *Q1, out, tmp_path / "team")
    return out


def _ssh_verify(pack: Path) -> subprocess.CompletedProcess:
    return _run("ssh-keygen", "-Y", "verify", "-f", "allowed_signers", "-I", "team", "-n", "moneypath-evidence",
                "-s", "SHA256SUMS.sig", cwd=pack, stdin=pack / "SHA256SUMS")


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x20
    path.write_bytes(bytes(data))


def test_sha256sum_and_ssh_keygen_accept_the_pack_as_written(signed_pack):
    checked = _run(_tool("sha256sum"), "-c", "SHA256SUMS", cwd=signed_pack)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count(": OK") == len((signed_pack / "SHA256SUMS").read_text().splitlines())
    verified = _ssh_verify(signed_pack)
    assert verified.returncode == 0 and 'Good "moneypath-evidence" signature for team' in verified.stdout
    # the exact command VERIFY.txt gives
    command = next(line.strip() for line in (signed_pack / "VERIFY.txt").read_text().splitlines()
                   if line.strip().startswith("ssh-keygen -Y verify"))
    assert _run("bash", "-c", command, cwd=signed_pack).returncode == 0
    # the team's published key, not the pack's own: an allowed_signers line of the auditor's
    public = (signed_pack.parent / "team.pub").read_text().split()
    (signed_pack.parent / "auditor_signers").write_text(f'team namespaces="moneypath-evidence" {public[0]} '
                                                        f"{public[1]}\n")
    own = _run("ssh-keygen", "-Y", "verify", "-f", str(signed_pack.parent / "auditor_signers"), "-I", "team", "-n",
               "moneypath-evidence", "-s", "SHA256SUMS.sig", cwd=signed_pack, stdin=signed_pack / "SHA256SUMS")
    assert own.returncode == 0, own.stderr


def test_one_changed_byte_in_a_record_fails_sha256sum_and_moneypath(signed_pack):
    _flip(signed_pack / "records" / "00000002.json")
    checked = _run("sha256sum", "-c", "--quiet", "SHA256SUMS", cwd=signed_pack)
    assert checked.returncode == 1 and "records/00000002.json: FAILED" in checked.stdout
    assert evidence.verify(signed_pack).code == 1


def test_one_changed_byte_in_the_manifest_fails_ssh_keygen_and_moneypath(signed_pack):
    manifest = signed_pack / "SHA256SUMS"
    text = manifest.read_text()
    manifest.write_text(text[:10] + ("0" if text[10] != "0" else "1") + text[11:])
    verified = _ssh_verify(signed_pack)
    assert verified.returncode != 0 and "Good" not in verified.stdout
    assert evidence.verify(signed_pack).code == 1


def test_the_verify_txt_listing_check_finds_an_added_file(signed_pack):
    lines = (signed_pack / "VERIFY.txt").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("find . -type f"))
    script = "\n".join(line.strip() for line in lines[start:start + 2])
    assert _run("bash", "-c", script, cwd=signed_pack).returncode == 0
    (signed_pack / "records" / "00000009.json").write_text("{}")
    added = _run("bash", "-c", script, cwd=signed_pack)
    assert added.returncode == 1 and "records/00000009.json" in added.stdout


def test_the_index_shows_the_control_map_in_chromium(signed_pack, browser, screenshots):  # noqa: F811
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type in ("error", "warning") else None)
    page.on("requestfailed", lambda req: problems.append(f"request failed: {req.url}"))
    try:
        page.goto((signed_pack / "index.html").as_uri(), wait_until="load", timeout=PAGE_TIMEOUT_MS)
        assert page.title() == "Drill evidence 2026-01-01 to 2026-03-31"
        assert page.locator("h1").inner_text() == "Drill evidence, 2026-01-01 to 2026-03-31"
        assert page.locator("script").count() == 0
        rows = page.locator("#control-map + p + table tbody tr")
        assert rows.count() == 10
        status = {rows.nth(i).locator("td").first.locator("b").inner_text():
                  rows.nth(i).locator("td").nth(2).inner_text() for i in range(10)}
        assert status["PCI-DSS-12.10.2"] == "covered" and status["PCI-DSS-12.10.1"] == "missing"
        assert sorted(status.values()).count("covered") == 4
        covered = page.locator("#control-PCI-DSS-12\\.10\\.2 td").nth(2)
        assert covered.evaluate("e => getComputedStyle(e).color") == "rgb(11, 107, 43)"  # green, as the CSS says
        assert page.locator("#control-PCI-DSS-12\\.10\\.2 a").first.get_attribute("href") == "records/00000002.json"
        assert page.locator("#records + table tbody tr").count() == 3
        wide = page.evaluate("""() => [...document.body.querySelectorAll('*')]
            .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
            .map(e => e.tagName + ' ' + (e.textContent || '').slice(0, 40))""")
        assert not wide, wide[:5]
        page.locator('#control-PCI-DSS-12\\.10\\.2 a[href$="index.html"]').click()
        page.wait_for_load_state("load")
        assert page.url.endswith("/reports/00000002-duplicate-charge-20260114-100000/index.html")
        page.go_back()
        shot = screenshots / "evidence-index.png"
        page.screenshot(path=str(shot), full_page=True, timeout=PAGE_TIMEOUT_MS)
        assert shot.stat().st_size > 10_000
        assert not problems, problems
    finally:
        page.close()


def test_the_index_shows_the_data_flow_diagram_in_chromium(tmp_path, browser, screenshots):  # noqa: F811
    """A record that kept the reference catalog: its map inline as the data-flow diagram, every node in the DOM,
    the PCI scope as a table, nothing wider than the window; and `sha256sum -c` over the catalogs' names."""
    from moneypath.catalog import load_catalog
    from moneypath.readiness import catalogs, history
    from tests.conftest import CATALOG_PATH
    from tests.support.evidence_history import record

    folder = tmp_path / "history"
    history.append(folder, {**record("2026-02-10", "provider-partial-outage", "pass", ["SYSC-15A"]),
                            "catalog_sha256": catalogs.keep(folder, CATALOG_PATH)})
    out = tmp_path / "pack"
    evidence.build(folder, *Q1, out)
    script = next(line.strip() for line in (out / "VERIFY.txt").read_text().splitlines() if "catalogs/*.yaml" in line)
    assert _run("bash", "-c", script, cwd=out).returncode == 0
    catalog = load_catalog(CATALOG_PATH)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type in ("error", "warning") else None)
    page.on("requestfailed", lambda req: problems.append(f"request failed: {req.url}"))
    try:
        page.goto((out / "index.html").as_uri(), wait_until="load", timeout=PAGE_TIMEOUT_MS)
        assert page.locator("#data-flow").inner_text() == "Data-flow diagram (PCI DSS 1.2.4)"
        assert page.locator("div.diagram svg").is_visible()
        nodes = page.evaluate("() => [...document.querySelectorAll('div.diagram svg [data-node]')]"
                              ".map(e => e.getAttribute('data-node'))")
        assert set(nodes) == {f"{catalog.service}/{key}" for key in catalog.money_path.nodes}
        scope = page.locator("tr[data-node]")
        assert sorted(scope.nth(i).get_attribute("data-node") for i in range(scope.count())) == [
            f"{catalog.service}/{key}" for key, node in sorted(catalog.money_path.nodes.items()) if node.pci]
        wide = page.evaluate("""() => [...document.body.querySelectorAll('*')]
            .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
            .map(e => e.tagName + ' ' + (e.textContent || '').slice(0, 40))""")
        assert not wide, wide[:5]
        shot = screenshots / "evidence-dataflow.png"
        page.screenshot(path=str(shot), full_page=True, timeout=PAGE_TIMEOUT_MS)
        assert not problems, problems
    finally:
        page.close()
