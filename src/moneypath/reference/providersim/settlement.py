"""Settlement files: what each provider captured since the last flush, one CSV per provider.

`<dir>/<provider>-<UTC yyyymmddHHMMSS>-<seq>.csv` with the header below. Each file is written
to a temp file in the same directory, synced, and renamed into place (_common.atomic), so a
reconciler polling the directory never reads half a file. The settlement_drop and settlement_alter faults act here,
as they would at a real provider: the file disagrees with what the API said.
"""

from __future__ import annotations

import csv
import itertools
import time
from datetime import UTC, datetime
from pathlib import Path

from moneypath._common.atomic import replacing
from moneypath.reference.providersim.providers import SettlementLine, SimulatedProvider
from moneypath.reference.providersim.simulator_faults import SimulatorFaults

COLUMNS = ("provider_ref", "reference", "amount_minor", "currency", "status", "settled_at")


class Settlement:
    def __init__(self, directory: Path | str, faults: SimulatorFaults):
        self.directory, self.faults = Path(directory), faults
        self._seq = itertools.count(1)  # names stay unique when two flushes fall in the same second

    def flush(self, providers: dict[str, SimulatedProvider], now: float | None = None) -> dict:
        """Write every provider's pending lines; returns {"files": [names], "lines": lines written}.

        Synchronous on purpose: taking the pending lines and writing them cannot interleave with
        a capture, and the files are small. On an OSError the lines go back to pending.
        """
        at = datetime.fromtimestamp(now if now is not None else time.time(), UTC)
        files, written = [], 0
        for provider in providers.values():
            lines, provider.pending = provider.pending, []
            if not lines:
                continue
            try:
                rows = self._rows(provider, lines, at)
                files.append(self._write(provider.name, rows, at).name)
            except OSError:
                provider.pending[:0] = lines
                raise
            written += len(rows)
        return {"files": files, "lines": written}

    def _rows(self, provider: SimulatedProvider, lines: list[SettlementLine], at: datetime) -> list[tuple]:
        rows = []
        for line in lines:
            if self.faults.fires("settlement_drop", provider.name):
                continue
            amount = line.amount_minor
            if alter := self.faults.fires("settlement_alter", provider.name):
                amount += alter["delta_minor"]
            rows.append((line.provider_ref, line.reference, amount, line.currency, provider.settled,
                         at.strftime("%Y-%m-%dT%H:%M:%SZ")))
        return rows

    def _write(self, provider: str, rows: list[tuple], at: datetime) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.directory / f"{provider}-{at:%Y%m%d%H%M%S}-{next(self._seq):04d}.csv"
        with replacing(target, fsync=True, newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(COLUMNS)
            writer.writerows(rows)
        return target
