"""A drill history for the evidence pack's tests: records with the contract's fields (moneypath.readiness.history),
back-dated as given, a report folder for some, and the team's Ed25519 key in OpenSSH form."""

from __future__ import annotations

from pathlib import Path

from moneypath.formats.drill import read_drill
from moneypath.readiness import history


def record(day: str, drill: str, verdict: str, controls: list[str], report: str = "", environment: str = "staging",
           alert: str = "MoneyPathDuplicateChargeDetected", drill_file: str = "") -> dict:
    """The fields one drill run appends (seq and prev are the history's)."""
    return {"kind": "drill", "drill": drill, "drill_file": drill_file or f"runbooks/drills/{drill}.yaml",
            "environment": environment, "target": "http://service.staging.internal",
            "started_at": f"{day}T10:00:00Z", "ended_at": f"{day}T10:06:30Z", "verdict": verdict, "compression": 1.0,
            "alerts": [{"alert": alert, "severity": "page", "paged": verdict == "pass", "time_to_page_s": 95.0,
                        "time_to_diagnose_s": 310.0, "time_to_recover_s": 390.0}],
            "controls": controls,
            "roles": [{"role": "compliance", "who": "ana.m", "asked_at": f"{day}T10:01:40Z",
                       "answered_at": f"{day}T10:24:00Z", "late": False},
                      {"role": "customer_support", "who": "li.w", "asked_at": f"{day}T10:01:40Z",
                       "answered_at": f"{day}T11:30:00Z", "late": True}],
            "impact": {}, "report": report, "journal_sha256": "a" * 64}


def report_folder(history_dir: Path, name: str) -> str:
    """A drill report folder inside the history (as the runner leaves one): its path relative to the history."""
    folder = history_dir / "reports" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "index.html").write_text(f"<!doctype html><html><head><title>{name}</title></head>"
                                       f"<body><h1>{name}</h1></body></html>\n")
    (folder / "journal.json").write_text('{"verdict": "pass"}\n')
    return f"reports/{name}"


def quarter(history_dir: Path) -> list[dict]:
    """A quarter of history: passes and a failure in Q1 2026, one run the December before."""
    out = [history.append(history_dir, record("2025-12-30", "provider-partial-outage", "pass", ["SYSC-15A"]))]
    out.append(history.append(history_dir, record(
        "2026-01-14", "duplicate-charge", "pass", ["PCI-DSS-12.10.2", "PCI-DSS-12.10.5", "SOC2-CC7.4"],
        report_folder(history_dir, "duplicate-charge-20260114-100000"))))
    out.append(history.append(history_dir, record("2026-02-03", "fraud-spike", "fail", ["PCI-DSS-12.10.1"],
                                                  "reports/fraud-spike-gone")))
    out.append(history.append(history_dir, record("2026-03-31", "settlement-mismatch", "pass", ["DORA-Art11"],
                                                  environment="production")))
    return out


def drill_records(history_dir: Path, drill_files: list[Path], root: Path, day: str = "2026-02-10") -> list[dict]:
    """One passed record per drill file, carrying the controls the file declares (as a run's record does)."""
    out = []
    for path in drill_files:
        drill = read_drill(path, root)
        out.append(history.append(history_dir, record(day, drill.name, "pass", list(drill.controls),
                                                      drill_file=drill.path)))
    return out


def openssh_key(path: Path) -> Path:
    """An unencrypted OpenSSH Ed25519 private key at `path` (what `ssh-keygen -t ed25519 -N ''` writes)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

    key = Ed25519PrivateKey.generate()
    path.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption()))
    path.chmod(0o600)
    Path(f"{path}.pub").write_bytes(key.public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH)
                                    + b" team\n")
    return path
