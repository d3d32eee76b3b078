"""The evidence pack's index.html (plain HTML and CSS: no script, no network, readable from a file) and its
VERIFY.txt (the commands an auditor runs with standard tools)."""

from __future__ import annotations

from html import escape

from moneypath._common.verdict import FAIL, PASS
from moneypath.readiness import sshsig
from moneypath.readiness.control_map import shown_why, status_word
from moneypath.readiness.dataflow import TITLE

CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;
color:#1b1f24}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:1px solid #d0d7de;padding-bottom:.2rem}
table{border-collapse:collapse;width:100%;margin:.6rem 0}th,td{border:1px solid #d0d7de;padding:.35rem .5rem;
vertical-align:top;text-align:left;overflow-wrap:anywhere}th{background:#f3f5f7}
td.covered,td.missing,td.pass,td.fail,td.not-measured,.id,.rec{white-space:nowrap}
.covered,.pass{color:#0b6b2b;font-weight:600}.missing,.fail{color:#a40e26;font-weight:600}
.not-measured{color:#8a5a00;font-weight:600}.muted{color:#57606a}code{font-size:.9em;word-break:break-all}
ul{margin:.2rem 0;padding-left:1.1rem}.diagram svg{max-width:100%;height:auto}
"""


def _e(value) -> str:
    return escape("" if value is None else str(value))


def _status_class(verdict: str) -> str:
    return {PASS: "pass", FAIL: "fail"}.get(verdict, "not-measured")


def _record_link(seq: int) -> str:
    return f'<a class="rec" href="records/{seq:08d}.json">record {seq}</a>'


def _controls_table(pack, controls) -> str:
    rows = []
    for cid, check in pack.controls.items():
        control = controls[cid]
        evidence = [r for r in pack.records if r["seq"] in check.figures["records"]]
        links = "".join(f"<li>{_record_link(r['seq'])}: {_e(r.get('drill'))} ({_e(r.get('environment'))}, "
                        f"{_e(r.get('started_at'))})" + (f' — <a href="{_e(pack.reports[r["seq"]])}/index.html">'
                                                         "report</a>" if pack.reports.get(r["seq"]) else "")
                        + "</li>" for r in evidence)
        status = status_word(check)
        rows.append(f'<tr id="control-{_e(cid)}"><td><b class="id">{_e(cid)}</b><br><span class="muted">'
                    f"{_e(control.title)}</span></td><td>{_e(control.asks)}</td>"
                    f'<td class="{status}">{status}</td>'
                    f"<td>{f'<ul>{links}</ul>' if links else _e(shown_why(check))}</td></tr>")
    return ("<table><thead><tr><th>Control</th><th>What it asks</th><th>Status</th><th>Evidence (passed records "
            "of the period that declare it)</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def _roles(record: dict) -> str:
    roles = record.get("roles") or []
    answered = [r for r in roles if r.get("answered_at")]
    if not answered:
        return '<span class="muted">none answered</span>'
    return "<ul>" + "".join(f"<li>{_e(r.get('role'))}: {_e(r.get('who'))} at {_e(r.get('answered_at'))}"
                            + (' <span class="fail">late</span>' if r.get("late") else "") + "</li>"
                            for r in answered) + "</ul>"


def _alerts(record: dict) -> str:
    def secs(value) -> str:
        return "—" if value is None else f"{float(value):.0f} s"

    alerts = record.get("alerts") or []
    if not alerts:
        return '<span class="muted">none</span>'
    return "<ul>" + "".join(f"<li>{_e(a.get('alert'))} ({_e(a.get('severity'))}): "
                            + (f"paged after {secs(a.get('time_to_page_s'))}" if a.get("paged") else "not paged")
                            + f", diagnosed {secs(a.get('time_to_diagnose_s'))}, recovered "
                              f"{secs(a.get('time_to_recover_s'))}</li>" for a in alerts) + "</ul>"


def _records_table(pack) -> str:
    if not pack.records:
        return '<p class="missing">No drill record in this period.</p>'
    rows = []
    for r in pack.records:
        report = pack.reports.get(r["seq"])
        report_cell = (f'<a href="{_e(report)}/index.html">report</a>' if report
                       else f'<span class="missing">missing</span><br><code>{_e(r.get("report"))}</code>'
                       if r.get("report") else '<span class="muted">none recorded</span>')
        verdict = str(r.get("verdict"))
        rows.append(f'<tr id="record-{r["seq"]}"><td>{_record_link(r["seq"])}</td>'
                    f"<td><b>{_e(r.get('drill'))}</b><br><code>{_e(r.get('drill_file'))}</code><br>"
                    f"<span class=\"muted\">{_e(r.get('kind'))}</span></td>"
                    f'<td class="{_status_class(verdict)}">{_e(verdict)}</td>'
                    f"<td>{_e(r.get('environment'))}<br><span class=\"muted\">{_e(r.get('target'))}</span></td>"
                    f"<td>{_e(r.get('started_at'))}<br>{_e(r.get('ended_at'))}</td>"
                    f"<td>{_alerts(r)}</td><td>{_roles(r)}</td>"
                    f"<td>{_e(', '.join(r.get('controls') or [])) or '—'}</td><td>{report_cell}</td></tr>")
    return ("<table><thead><tr><th>Record</th><th>Drill</th><th>Verdict</th><th>Environment</th><th>Started / "
            "ended (UTC)</th><th>Alerts</th><th>Roles answered</th><th>Controls declared</th><th>Report</th></tr>"
            "</thead><tbody>" + "".join(rows) + "</tbody></table>")


def _dataflow(pack) -> str:
    """The period's data-flow diagram (PCI DSS 1.2.4), its PCI scope as a table, and what it was drawn from."""
    flow = pack.dataflow
    if flow is None:
        return ""
    status = _status_class(flow.check.outcome)
    out = [f'<h2 id="data-flow">{_e(TITLE)}</h2>',
           f'<p><span class="{status}">{_e(flow.check.outcome)}</span> — {_e(flow.check.why)}</p>',
           '<p>The money path as declared in the catalog the drill records of the period name (each record keeps '
           "its catalog's sha256; the copy here hashes to it), not the catalog on disk today. Nodes that store, "
           "process or transmit card data are marked in the drawing and listed below.</p>"]
    if flow.drawn is not None:
        seqs = ", ".join(_record_link(s) for s in flow.drawn_seqs)
        out.append(f'<p>Drawn from <a href="catalogs/{_e(flow.drawn.sha256)}.yaml"><code>catalogs/'
                   f"{_e(flow.drawn.sha256)}.yaml</code></a>, named by {seqs}.</p>")
    if flow.svg is not None:
        out.append(f'<div class="diagram">{flow.svg}</div>')
    elif flow.problem:
        out.append(f'<p class="not-measured">Not drawn: {_e(flow.problem)}.</p>')
    rows = flow.pci_rows()
    if rows:
        def mark(yes: bool) -> str:
            return "<td>yes</td>" if yes else '<td class="muted">no</td>'

        out.append("<table><thead><tr><th>Node in PCI scope</th><th>Kind</th><th>Stores</th><th>Processes</th>"
                   "<th>Transmits</th><th>Provider</th></tr></thead><tbody>"
                   + "".join(f'<tr data-node="{_e(r["node"])}"><td>{_e(r["label"])}<br><code>{_e(r["node"])}</code>'
                             f'</td><td>{_e(r["kind"])}</td>{mark(r["store"])}{mark(r["process"])}'
                             f'{mark(r["transmit"])}<td>{_e(r["provider"] or "—")}</td></tr>' for r in rows)
                   + "</tbody></table>")
    elif flow.graph is not None:
        out.append('<p class="muted">No node of the money path is declared in PCI scope (pci: store, process or '
                   "transmit).</p>")
    if flow.others:
        out.append("<p>Other catalogs the period's records name (not drawn; the newest is):</p><ul>"
                   + "".join(f'<li><a href="catalogs/{_e(sha)}.yaml"><code>{_e(sha)}</code></a>: '
                             + ", ".join(_record_link(s) for s in seqs) + "</li>" for sha, seqs in flow.others.items())
                   + "</ul>")
    unusable = [(seq, r) for seq, r in flow.records.items() if r.outcome != PASS]
    if unusable:
        out.append("<p>Records whose catalog is not measured (never drawn in its place):</p><ul>"
                   + "".join(f'<li>{_record_link(seq)}: <span class="not-measured">not measured</span> — '
                             f"{_e(r.why)}</li>" for seq, r in unusable) + "</ul>")
    return "\n".join(out)


def render(pack, controls) -> str:
    covered = sum(1 for check in pack.controls.values() if check.ok)
    chain = pack.chain
    signed = (f"signed by {_e(pack.signed_by)} (SHA256SUMS.sig, OpenSSH SSHSIG, namespace "
              f"{sshsig.NAMESPACE})" if pack.signed_by else '<span class="missing">unsigned</span>')
    missing_reports = [r["seq"] for r in pack.records if r.get("report") and not pack.reports.get(r["seq"])]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Drill evidence {pack.first} to {pack.last}</title><style>{CSS}</style></head>
<body>
<h1>Drill evidence, {pack.first} to {pack.last}</h1>
<p class="muted">Every drill run the team's history recorded in the period (UTC days, both included), mapped to the
controls they exercise. Made by <code>moneypath evidence</code>; read it as it is: it needs nothing else.</p>
<ul>
<li>{len(pack.records)} record(s) in the period; {covered} of {len(pack.controls)} controls covered.</li>
<li>History chain: <b>{_e(chain['result'])}</b> — {_e(chain['records'])} record(s), head {_e(chain['head_seq'])}
(sha256 <code>{_e(chain['head_sha256'])}</code>), checked {_e(chain['checked_at'])}. See chain.json.</li>
<li>Manifest: SHA256SUMS lists every file; {signed}. How to check it: VERIFY.txt.</li>
{f'<li>Data-flow diagram: <span class="{_status_class(pack.dataflow.check.outcome)}">'
 f'{_e(pack.dataflow.check.outcome)}</span> (<a href="#data-flow">below</a>).</li>' if pack.dataflow else ''}
{f'<li class="missing">Reports missing for record(s) {", ".join(map(str, missing_reports))}.</li>'
 if missing_reports else ''}
</ul>
<h2 id="control-map">Control map</h2>
<p>A control is <span class="covered">covered</span> only where a <b>passed</b> record of the period declares it
(the drill file's <code>controls:</code>); a failed or unmeasured run, or a run outside the period, is not evidence,
and the control is <span class="missing">missing</span>.</p>
{_controls_table(pack, controls)}
<h2 id="records">Records</h2>
{_records_table(pack)}
{_dataflow(pack)}
<h2 id="chain">The records' chain</h2>
<p>Each record's <code>prev</code> is the sha256 of the record before it (sha256sum of its file in records/); the
first record of the period points to one before the period, which the team's history holds.</p>
</body></html>
"""


CATALOG_STEP = """3. Each catalog the records name hashes to its name (a record's catalog_sha256):

     for f in catalogs/*.yaml; do echo "$(basename "$f" .yaml)  $f"; done | sha256sum -c

"""


def verify_text(identity: str | None, catalogs: bool = False) -> str:
    """The commands, with standard tools; `catalogs`: the pack holds catalogs/ (the data-flow diagram's)."""
    ns = sshsig.NAMESPACE
    signed = (f"""2. The signature of the manifest (OpenSSH 8.1 or later):

     ssh-keygen -Y verify -f allowed_signers -I {identity} -n {ns} -s SHA256SUMS.sig < SHA256SUMS

   It prints 'Good "{ns}" signature for {identity}'. allowed_signers in the pack names the key that signed
   it; to know WHO signed, use the team's published key instead: a line
     {identity} namespaces="{ns}" ssh-ed25519 AAAA...
   in a file of your own, given to -f.
""" if identity else """2. This pack is unsigned (made without --signing-key): the manifest shows that no file
   changed since it was written, not who wrote it.
""")
    steps = f"{CATALOG_STEP}4" if catalogs else "3"
    return f"""How to check this evidence pack with standard tools, from this directory:

1. Every file against the manifest (GNU coreutils; on macOS `shasum -a 256 -c SHA256SUMS`):

     sha256sum -c SHA256SUMS

   Every line must say OK. Files not listed in SHA256SUMS (other than SHA256SUMS.sig) were added later:
     find . -type f ! -name SHA256SUMS ! -name SHA256SUMS.sig | sed 's|^\\./||' | sort > /tmp/files
     cut -c67- SHA256SUMS | sort | diff - /tmp/files

{signed}
{steps}. With moneypath installed, both at once: moneypath evidence verify . [--key TEAM_PUBLIC_KEY]
   (exit 0 intact and signed, 1 changed, missing or added files or a bad signature, 3 intact but unsigned).
"""
