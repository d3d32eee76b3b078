"""The auditor's evidence pack: the drill history of a period, mapped to the controls, in a directory an auditor
reads and checks without moneypath (`moneypath evidence`, `moneypath evidence verify`).

A control is covered only where a passed record of the period declares it (`controls:` in its drill file, copied
into the record); a failed or unmeasured record, or one outside the period, covers nothing: the map says
"missing" (moneypath.readiness.control_map), and the pack's exit code is the Verdict of its controls. The pack
holds index.html, records/ (the records as the history keeps them, byte for byte), reports/ (the report folders
they point to), controls.json, chain.json, the period's data-flow diagram (dataflow.svg, dataflow.json and the
catalogs the records name, catalogs/<sha256>.yaml: moneypath.readiness.dataflow), VERIFY.txt and the SHA256SUMS
manifest of every other file (`sha256sum -c SHA256SUMS`), signed in OpenSSH's SSHSIG format
(moneypath.readiness.sshsig) when a key is given. It is built in a temporary directory beside its place and
renamed there whole.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from moneypath._common.exit_codes import ExitCode
from moneypath._common.verdict import EXIT_CODES, FAIL, NOT_MEASURED, PASS, Check, Outcome, Verdict
from moneypath.formats.controls import CONTROLS
from moneypath.readiness import auditor_page, dataflow, history, sshsig
from moneypath.readiness.catalogs import FOLDER as CATALOGS
from moneypath.readiness.control_map import control_status, shown_why, status_word

MANIFEST, SIGNATURE = "SHA256SUMS", "SHA256SUMS.sig"
DATAFLOW_SVG = "dataflow.svg"
PUBLIC_KEY, ALLOWED_SIGNERS = "signing-key.pub", "allowed_signers"
UNLISTED = (MANIFEST, SIGNATURE)  # the only files the manifest does not list


class EvidenceError(Exception):
    """The pack cannot be made as asked; one line, and the exit code it ends with (2 bad usage, 1 a broken chain)."""

    def __init__(self, message: str, code: int = ExitCode.USAGE):
        self.code = code
        super().__init__(message)


def parse_day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise EvidenceError(f"{option}: {text!r} is not a date (YYYY-MM-DD)") from None


def started(record: dict) -> datetime | None:
    try:
        return datetime.fromisoformat(str(record.get("started_at")).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def in_period(record: dict, first: date, last: date) -> bool:
    """The record started on a day of [first, last] (UTC, both included)."""
    when = started(record)
    return when is not None and first <= when.date() <= last


@dataclass
class Pack:
    first: date
    last: date
    records: list[dict]  # in the period, in chain order
    controls: Mapping[str, Check]  # control id → covered (pass) or missing (not measured), and why
    chain: dict  # the chain check of the history
    reports: dict[int, str | None] = field(default_factory=dict)  # seq → the report's folder in the pack, or None
    signed_by: str | None = None
    dataflow: dataflow.DataFlow | None = None  # the period's data-flow diagram (PCI DSS 1.2.4)

    @property
    def verdict(self) -> Verdict:
        return Verdict(tuple(self.controls.values()))

    @property
    def exit_code(self) -> int:
        """0 every control in the map covered, 3 one missing (no evidence is not measured, never a pass)."""
        return self.verdict.exit_code


def build(history_dir: Path, first: date, last: date, out: Path, signing_key: Path | None = None,
          controls: list[str] | None = None) -> Pack:
    """Write the pack of [first, last] into `out` (which must not exist, or be empty); EvidenceError otherwise,
    and nothing is left behind."""
    if first > last:
        raise EvidenceError(f"--from {first} is after --to {last}")
    wanted = controls or list(CONTROLS)
    unknown = [c for c in wanted if c not in CONTROLS]
    if unknown:
        raise EvidenceError(f"--control {unknown[0]}: not a control (controls: {', '.join(CONTROLS)})")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise EvidenceError(f"{out} exists and is not an empty directory: a pack is never written over another")
    key = sshsig.load_signing_key(signing_key) if signing_key else None
    if not (Path(history_dir) / "records").is_dir():
        raise EvidenceError(f"{history_dir}: no drill history there (no records/ directory); give --history DIR")
    try:
        everything = history.read(Path(history_dir))
    except history.HistoryError as exc:
        raise EvidenceError(f"{history_dir}: the history's chain is broken ({exc}); no pack is made from it",
                            ExitCode.FAIL) from None
    chosen = [r for r in everything if in_period(r, first, last)]
    pack = Pack(first, last, chosen, {c: control_status(c, chosen) for c in wanted},
                _chain(Path(history_dir), everything, chosen), signed_by=key.identity if key else None,
                dataflow=dataflow.build(chosen, Path(history_dir)))
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(work, 0o777 & ~mask)  # mkdtemp makes 0700; the pack gets the mode mkdir would give it
        _fill(work, pack, Path(history_dir), key)
        if out.exists():
            out.rmdir()
        os.replace(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return pack


def _chain(history_dir: Path, everything: list[dict], chosen: list[dict]) -> dict:
    head = everything[-1]["seq"] if everything else None
    return {"result": "intact", "records": len(everything), "head_seq": head,
            "head_sha256": _sha256(_record_file(history_dir, head)) if head else None,
            "in_period": [r["seq"] for r in chosen],
            "checked_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "how": "each record's prev is the sha256 of the record before it (moneypath.readiness.history.read); "
                   "`moneypath history verify` also checks the signed checkpoints of the head"}


def _record_file(history_dir: Path, seq: int) -> Path:
    return history_dir / "records" / f"{seq:08d}.json"


def _report_dir(history_dir: Path, record: dict) -> Path | None:
    rel = record.get("report")
    if not rel:
        return None
    path = Path(rel)
    for candidate in ([path] if path.is_absolute() else [history_dir / path, path]):
        if candidate.is_dir():
            return candidate
    return None


def _fill(work: Path, pack: Pack, history_dir: Path, key) -> None:
    (work / "records").mkdir()
    (work / "reports").mkdir()
    for record in pack.records:
        seq = record["seq"]
        shutil.copyfile(_record_file(history_dir, seq), work / "records" / f"{seq:08d}.json")
        found = _report_dir(history_dir, record)
        if found is not None:
            name = f"{seq:08d}-{found.name}"
            shutil.copytree(found, work / "reports" / name, symlinks=False)
            pack.reports[seq] = f"reports/{name}"
        else:
            pack.reports[seq] = None
    (work / "controls.json").write_text(json.dumps(
        {"period": {"from": str(pack.first), "to": str(pack.last)},
         "rule": "covered only where a passed record of the period declares the control",
         "controls": {c: {"title": CONTROLS[c].title, "asks": CONTROLS[c].asks, "status": status_word(check),
                          "why": shown_why(check), "records": list(check.figures["records"])}
                      for c, check in pack.controls.items()}}, indent=2) + "\n")
    (work / "chain.json").write_text(json.dumps(pack.chain, indent=2) + "\n")
    _fill_dataflow(work, pack.dataflow)
    (work / "index.html").write_text(auditor_page.render(pack, CONTROLS), encoding="utf-8")
    if key is not None:
        (work / PUBLIC_KEY).write_text(key.public_line + "\n")
        (work / ALLOWED_SIGNERS).write_text(sshsig.allowed_signers(key))
    (work / "VERIFY.txt").write_text(auditor_page.verify_text(key.identity if key else None,
                                                                    (work / CATALOGS).is_dir()))
    manifest = manifest_text(work)
    (work / MANIFEST).write_text(manifest)
    if key is not None:
        (work / SIGNATURE).write_text(key.sign(manifest.encode()))


def _fill_dataflow(work: Path, flow: dataflow.DataFlow | None) -> None:
    """catalogs/<sha256>.yaml for each verified catalog the period names (each hashes to its name), the diagram
    (dataflow.svg) when one is drawn, and dataflow.json."""
    if flow is None:
        return
    verified = {r.sha256: r.text for r in flow.records.values() if r.text is not None}
    if verified:
        (work / CATALOGS).mkdir()
    for sha, text in verified.items():  # UTF-8 text as read: the same bytes, so each hashes to its name
        (work / CATALOGS / f"{sha}.yaml").write_bytes(str(text).encode("utf-8"))
    if flow.svg is not None:
        (work / DATAFLOW_SVG).write_text(flow.svg, encoding="utf-8")
    (work / "dataflow.json").write_text(json.dumps(flow.summary(), indent=2) + "\n")


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() or p.is_symlink())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def manifest_text(root: Path) -> str:
    """`sha256sum`'s text format: "<hex>  <path>" (two spaces: binary-safe text mode), one line per file."""
    lines = []
    for rel in _files(root):
        if rel in UNLISTED:
            continue
        if "\n" in rel or "\\" in rel:
            raise EvidenceError(f"{rel!r}: a file name sha256sum would escape; rename it")
        lines.append(f"{_sha256(root / rel)}  {rel}")
    return "\n".join(lines) + "\n"


@dataclass
class Verified:
    outcome: Outcome  # pass intact and signed, fail changed, not measured unsigned (who made it is not shown)
    lines: list[str]

    @property
    def code(self) -> int:
        """0 intact and signed, 1 changed, 3 unsigned."""
        return EXIT_CODES[self.outcome]


def verify(pack_dir: Path, public_key: str | None = None) -> Verified:
    """Every listed file present and unchanged, no file unlisted, the manifest's signature good: 0; a changed byte, a
    missing or extra file, a bad signature: 1; intact but unsigned: 3."""
    manifest = pack_dir / MANIFEST
    if not manifest.is_file():
        return Verified(FAIL, [f"{pack_dir}: no {MANIFEST}: not an evidence pack, or it lost its manifest"])
    text = manifest.read_bytes().decode("utf-8", "replace")
    listed: dict[str, str] = {}
    problems = []
    for n, line in enumerate(text.splitlines(), start=1):
        digest, sep, rel = line.partition("  ")
        if not sep or len(digest) != 64 or rel in listed:
            problems.append(f"{MANIFEST}:{n}: not a sha256sum line")
            continue
        listed[rel] = digest
    present = set(_files(pack_dir)) - set(UNLISTED)
    for rel in sorted(set(listed) - present):
        problems.append(f"{rel}: missing")
    for rel in sorted(present - set(listed)):
        problems.append(f"{rel}: not in {MANIFEST} (a file was added)")
    for rel in sorted(set(listed) & present):
        if _sha256(pack_dir / rel) != listed[rel]:
            problems.append(f"{rel}: changed (its sha256 is not the manifest's)")
    if problems:
        return Verified(FAIL, problems)
    ok = [f"{len(listed)} files match {MANIFEST}"]
    signature = pack_dir / SIGNATURE
    if not signature.is_file():
        return Verified(NOT_MEASURED, [*ok, f"unsigned: no {SIGNATURE}, so who made the pack is not shown"])
    own = pack_dir / ALLOWED_SIGNERS
    key_text = public_key if public_key is not None else (own.read_text() if own.is_file() else "")
    try:
        raw = sshsig.read_public_key(key_text)
        sshsig.verify(manifest.read_bytes(), signature.read_text(), raw)
    except (sshsig.SignatureError, ValueError) as exc:
        return Verified(FAIL, [*ok, f"{SIGNATURE}: {exc}"])
    whose = ("the key given" if public_key is not None else
             f"the key the pack carries ({ALLOWED_SIGNERS}); give --key with the team's published key to know who")
    return Verified(PASS, [*ok, f"{SIGNATURE}: good signature by {whose}"])
