"""For a team's own tests: assert that a money-path signal moved, by catalog key, never by a hand-copied name.

    from moneypath.catalog.conventions import Key
    from moneypath.instrument.testing import watch_signals

    with watch_signals(mp) as signals:
        capture(payment)
    signals.assert_moved(Key.PROVIDER_REQUESTS_TOTAL, 1, provider="paystack", operation="capture", outcome="success")
    signals.assert_unmoved(Key.INSTRUMENTATION_ERRORS_TOTAL)

`watch_signals` reads every catalog signal of the MoneyPath's Prometheus registry when it is called and again
when the block ends (or at each assertion, used without `with`). A counter moves by its count, a histogram by
its observations (`observed=True`: by their sum), a gauge by its value. Labels left out are summed over. A failed
assertion names what moved instead. With PROMETHEUS_MULTIPROC_DIR set it reads the directory: every process's
values, as `/metrics` serves them. Reading happens only here, never on the recording path.
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass

from moneypath.catalog import OTHER, Signal

__all__ = ["Snapshot", "SignalWatch", "watch_signals"]


@dataclass(frozen=True)
class Snapshot:
    """Every series of the catalog's signals at one moment: (key, labels) → value, and histograms' sums."""

    values: dict[tuple[str, tuple[tuple[str, str], ...]], float]
    sums: dict[tuple[str, tuple[tuple[str, str], ...]], float]

    @classmethod
    def take(cls, mp) -> Snapshot:
        signals = _signals(mp)
        by_family = {_family_name(sig): (key, sig) for key, sig in signals.items()}
        values, sums = {}, {}
        for family in _collect(mp):
            found = by_family.get(family.name)
            if found is None:
                continue
            key, sig = found
            wanted = {"counter": ("_total",), "histogram": ("_count", "_sum"), "gauge": ("",)}[sig.type]
            for sample in family.samples:
                suffix = sample.name[len(family.name):]
                if suffix not in wanted:
                    continue
                labels = tuple((name, sample.labels[name]) for name in sig.labels if name in sample.labels)
                target = sums if suffix == "_sum" else values
                target[(key, labels)] = target.get((key, labels), 0.0) + sample.value
        return cls(values, sums)

    def value(self, key: str, /, *, observed: bool = False, **labels: str) -> float:
        """The series of `key` that carry `labels` (any others summed over); `observed`: a histogram's sum."""
        wanted = {name: str(value) for name, value in labels.items()}
        table = self.sums if observed else self.values
        return sum(v for (k, series), v in table.items() if k == key and wanted.items() <= dict(series).items())


class SignalWatch:
    """What moved since `watch_signals(mp)`: until the `with` block ends, "now" is each assertion's moment."""

    def __init__(self, mp):
        self.mp = mp
        self.before = Snapshot.take(mp)
        self.after: Snapshot | None = None

    def __enter__(self) -> SignalWatch:
        return self

    def __exit__(self, *exc) -> None:
        self.after = Snapshot.take(self.mp)

    def _now(self) -> Snapshot:
        return self.after if self.after is not None else Snapshot.take(self.mp)

    def delta(self, key: str, /, *, observed: bool = False, **labels: str) -> float:
        """How far `key`'s series with `labels` moved (labels left out: summed over)."""
        _check(self.mp, key, labels)
        return self._now().value(key, observed=observed, **labels) - self.before.value(key, observed=observed, **labels)

    def assert_moved(self, key: str, by: float = 1, /, *, observed: bool = False, **labels: str) -> None:
        """`key`'s series with `labels` moved by exactly `by` (a histogram: `by` observations; `observed`: by that
        sum of observed values); otherwise an AssertionError saying what moved instead."""
        signal = _check(self.mp, key, labels)
        now = self._now()
        moved = now.value(key, observed=observed, **labels) - self.before.value(key, observed=observed, **labels)
        if math.isclose(moved, by, rel_tol=1e-9, abs_tol=1e-12):  # a sum of observed floats
            return
        what = "sum of observations" if observed else {"histogram": "observations", "counter": "count",
                                                        "gauge": "value"}[signal.type]
        lines = [f"{_series(signal.name, labels)} ({key}) moved by {_number(moved)} ({what}), expected {_number(by)}"]
        lines += _undeclared(signal, labels)
        changes = list(_changes(self.mp, self.before, now))
        lines += ["what moved:", *changes] if changes else ["nothing moved"]
        raise AssertionError("\n".join(lines))

    def assert_unmoved(self, key: str, /, **labels: str) -> None:
        """`key`'s series with `labels` did not move."""
        self.assert_moved(key, 0, **labels)


def watch_signals(mp) -> SignalWatch:
    """Read `mp`'s signals now; assert on what moved after (in or after a `with` block)."""
    return SignalWatch(mp)


# ---------------------------------------------------------------------------------------------------- reading


def _signals(mp) -> dict[str, Signal]:
    return {key: sig for key, sig in mp.catalog.signals.items() if key in mp.families}


def _family_name(signal: Signal) -> str:
    """prometheus-client's family name: a counter's without `_total`."""
    return signal.name.removesuffix("_total") if signal.type == "counter" else signal.name


def _collect(mp) -> Iterable:
    registry = getattr(mp.backend, "registry", None)
    if registry is None:
        raise TypeError(f"watch_signals reads a Prometheus registry; this MoneyPath's backend is "
                        f"{getattr(mp.backend, 'name', type(mp.backend).__name__)!r}: build it with "
                        f"backend='prometheus' (the default) in tests")
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        from moneypath.instrument._multiproc import collector

        return collector(path).collect()
    return registry.collect()


def _check(mp, key: str, labels: dict) -> Signal:
    signal = mp.catalog.signals.get(key)
    if signal is None:
        close = difflib.get_close_matches(str(key), mp.catalog.signals, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise KeyError(f"{key!r} is not a signal of the catalog{hint}")
    unknown = sorted(set(labels) - set(signal.labels))
    if unknown:
        raise ValueError(f"{key} has no label {', '.join(unknown)} (its labels: {', '.join(signal.labels) or 'none'})")
    return signal


def _changes(mp, before: Snapshot, after: Snapshot) -> Iterable[str]:
    """Every series that moved, in catalog order, at most 20."""
    signals = _signals(mp)
    order = {key: n for n, key in enumerate(signals)}
    moved = [(order.get(key, len(order)), key, series, value - before.values.get((key, series), 0.0))
             for (key, series), value in after.values.items() if value != before.values.get((key, series), 0.0)]
    for n, (_, key, series, change) in enumerate(sorted(moved)):
        if n == 20:
            yield f"  … and {len(moved) - 20} more"
            return
        signal = mp.catalog.signals[key]
        unit = (" observation" if change == 1 else " observations") if signal.type == "histogram" else ""
        yield f"  {_series(signal.name, dict(series))} {_signed(change)}{unit}"


def _undeclared(signal: Signal, labels: dict) -> list[str]:
    out = []
    for name, value in labels.items():
        declared = signal.labels.get(name) or []
        if declared and str(value) not in declared and str(value) != OTHER:
            out.append(f"note: {name}={str(value)!r} is not a value the catalog declares ({', '.join(declared)}): "
                       f"the library records it as {OTHER!r}")
    return out


def _series(name: str, labels: dict) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return f"{name}{{{inner}}}" if inner else name


def _number(x: float) -> str:
    return f"{x:g}"


def _signed(x: float) -> str:
    return f"{x:+g}"
