"""MoneyPath's detector heartbeat: `record_detector_run("duplicates")` after each completed run of a job whose healthy
output is 0 (moneypath.catalog.detectors).

The heartbeat is a timestamp gauge (`<namespace>_detector_last_run_timestamp_seconds{detector=...}`), `max` across
a process's workers (prometheus_client's livemax in multiprocess mode: the latest run of a live worker). A catalog
without it makes the call a no-op, and the checks then read a detector's zero as not measured; a detector whose
feature the catalog switches off is a no-op too. A name the catalog does not declare is reported like any label
value outside the catalog (counted, logged once, recorded as "other").
"""

from __future__ import annotations

import time
from typing import Any

from moneypath.catalog.conventions import Key
from moneypath.catalog.detectors import BUILTIN_DETECTORS


class DetectorSignals:
    """Mixed into MoneyPath; `_bind_detectors` is called from its __init__ with the bound families."""

    _failed: Any
    catalog: Any

    def _bind_detectors(self, f: dict) -> None:
        family = f.get(Key.DETECTOR_LAST_RUN_TIMESTAMP_SECONDS)
        self._heartbeat = family
        off = {name for name, d in BUILTIN_DETECTORS.items() if d.feature and not self.catalog.enabled(d.feature)}
        self._detectors_off = frozenset(off)

    def record_detector_run(self, detector: str, at: float | None = None) -> None:
        """A detector completed a run (found nothing or something: both are a run), at `at` (Unix time, default
        now). Call it once per run, after the run: a zero the detector's signals show is evidence only while this
        advances."""
        if self._heartbeat is None or detector in self._detectors_off:
            return
        try:
            self._heartbeat.child((detector,)).set(time.time() if at is None else at)
        except Exception:
            self._failed("record_detector_run")
