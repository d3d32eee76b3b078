"""Whether the series a run will read come from what it drives: every process identity the run's answers carried
(the MoneyPath-Instance header, moneypath.instrument._identity) must be one Prometheus scrapes
(`<namespace>_instance_info{instance_id}`), so an address balancing several instances passes when all of them are.

pass: each identity seen is scraped at a target that is up; fail: one is not (one line naming the address driven,
the identities seen and those scraped); not measured: one is scraped at a target that is down now, or the driven
address is a target that is down, or Prometheus holds no identity at all (a service exporting over OTLP, an
earlier library version). Answers without the header (a service on an earlier version, not Python, or behind
something that strips it) are not measured and skipped: nothing here can say which process answered, and the
conservation of counts still guards the run. docs/decisions/0026-instance-identity-header.md
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from moneypath._common.prometheus import Prometheus
from moneypath._common.verdict import Check, IfNotMeasured, Outcome, not_measured, register
from moneypath.catalog import Catalog
from moneypath.catalog.conventions import INSTANCE_HEADER, INSTANCE_ID_LABEL, INSTANCE_INFO
from moneypath.catalog.terms import duration_seconds

NAME = "scraped_identity"
WINDOW = "5m"  # how far back a scrape counts: a target down now still names the identity it served
SHOWN = 4  # identities named in a line; the rest counted
SETTLE_CAP_S = 60.0  # the longest wait for a fresh process's first scrape


@dataclass(frozen=True)
class Scraped:
    """One identity Prometheus scraped: at which target (its `instance` and `job` labels), and whether that target
    is up now (None: Prometheus has no `up` for it)."""

    identity: str
    target: str
    job: str
    up: bool | None


def describe(identity: str) -> str:
    """`a1b2c3-4242` as `a1b2c3 (pid 4242)` (the library's form); anything else as it is."""
    token, sep, pid = identity.rpartition("-")
    return f"{token} (pid {pid})" if sep and token and pid.isdigit() else identity


def seen_in(headers: Iterable) -> set[str]:
    """The identities in answers' headers (each a mapping such as httpx's Headers, case-insensitive)."""
    return {value for h in headers if (value := (h.get(INSTANCE_HEADER) or "").strip())}


def address_of(url: str) -> str:
    """host:port of a service URL, as a scrape target names it."""
    parts = urlsplit(url if "//" in url else f"//{url}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}"


def metric_name(catalog: Catalog) -> str:
    return f"{catalog.namespace}_{INSTANCE_INFO}"


def scraped(prom: Prometheus, catalog: Catalog, window: str = WINDOW) -> list[Scraped] | None:
    """Every identity scraped in the window, with its target's health now; None when there is none at all."""
    by = f"{INSTANCE_ID_LABEL}, instance, job"
    found = prom.instant(f"max by ({by}) (last_over_time({metric_name(catalog)}[{window}])) > 0")
    if not found:
        return None
    up = {(s["metric"].get("instance", ""), s["metric"].get("job", "")): float(s["value"][1]) > 0
          for s in prom.instant("up")}
    out = []
    for s in found:
        labels = s["metric"]
        where = (labels.get("instance", ""), labels.get("job", ""))
        out.append(Scraped(labels.get(INSTANCE_ID_LABEL, ""), *where, up.get(where)))
    return out


def down_targets(prom: Prometheus, address: str) -> list[str]:
    """The scrape targets at `address` that are down now (their last error), from Prometheus's target list."""
    down = []
    for t in prom.targets():
        instance = t.get("labels", {}).get("instance", "")
        url = t.get("scrapeUrl", "")
        if t.get("health") == "down" and address in (instance, address_of(url) if url else ""):
            down.append(f"{instance or url} (job {t.get('labels', {}).get('job', '?')}: "
                        f"{' '.join(str(t.get('lastError') or 'down').split())[:120]})")
    return down


def judge(address: str, seen: Collection[str], found: Sequence[Scraped] | None, metric: str,
          reader: str = "the drill", down: Sequence[str] = ()) -> Check:
    """The identities `address` answered as against those scraped (`found`, None: none at all); `down`: targets at
    `address` that are down now."""
    if not seen:
        return Check(name=NAME, outcome=Outcome.NOT_MEASURED, if_not_measured=IfNotMeasured.PASS,
                     why=f"{address}'s answers carry no {INSTANCE_HEADER} header (a service not on moneypath's web "
                         "integration, or an earlier version of it): which instance Prometheus scrapes is not proven "
                         "here; the conservation of counts still guards the run")
    seen_text = _names(sorted(seen))
    figures = {"address": address, "seen": sorted(seen)}
    if found is None:
        why = (f"{address} answered as {seen_text}; Prometheus holds no {metric} series in the last {WINDOW} (a "
               "service exporting over OTLP, an earlier library version, or none of its instances scraped)")
        if down:
            why += f"; down: {'; '.join(down)}"
        return Check.judged(NAME, None, why, **figures)
    live = [s for s in found if s.up]
    at = {s.identity: s for s in found}
    figures["scraped"] = sorted({s.identity for s in live})
    missing = [i for i in sorted(seen) if i not in at]
    if missing and down:
        return Check.judged(NAME, None, f"{address} answered as {seen_text}; Prometheus's target at {address} is "
                                        f"down ({'; '.join(down)}): which instance it reads is not proven", **figures)
    if missing:
        scraped_text = (f"only {_names([s.identity for s in live], live)}" if live
                        else f"no live process that reports {metric}")
        what = (f"{reader} would read another instance's metrics" if len(missing) == len(seen)
                else f"{reader} would miss {_names(missing)}'s metrics")
        return Check.judged(NAME, False, f"{address} answered as {seen_text}; Prometheus scrapes {scraped_text}: "
                                         f"{what}", **figures)
    idle = [at[i] for i in sorted(seen) if not at[i].up]
    if idle:
        return Check.judged(NAME, None, f"{address} answered as {seen_text}; Prometheus scrapes "
                                        f"{_names([s.identity for s in idle], idle)} but that target is down now "
                                        "(up == 0): its series are not current", **figures)
    return Check.judged(NAME, True, f"{address} answered as {seen_text}, each scraped by Prometheus "
                                    f"({_names(sorted(seen), [at[i] for i in sorted(seen)])})", **figures)


register("check.scraped_identity", judge)


def _names(identities: Sequence[str], where: Sequence[Scraped] | None = None) -> str:
    shown = [describe(i) + (f" at {where[k].target}" if where is not None else "")
             for k, i in enumerate(identities[:SHOWN])]
    more = len(identities) - SHOWN
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def settle_s(prom: Prometheus) -> float:
    """How long a fresh process may wait for its first scrape: two of the longest scrape interval, capped."""
    longest = 0.0
    for t in prom.targets():
        try:
            longest = max(longest, duration_seconds(t.get("scrapeInterval", "") or "0s"))
        except ValueError:
            continue
    return min(SETTLE_CAP_S, 2 * longest + 1.0)


def prove(prom: Prometheus, catalog: Catalog, service_url: str, seen: Collection[str], reader: str = "the drill",
          settle: float | None = None, sleep: Callable[[float], None] = time.sleep,
          clock: Callable[[], float] = time.monotonic) -> Check:
    """The check on a live Prometheus; until it passes it is asked again (a process started moments ago is scraped
    at its target's next interval) for up to `settle` seconds (default `settle_s`). A Prometheus that cannot
    be read: not measured, saying so."""
    from moneypath._common.prometheus import PrometheusError

    address = address_of(service_url)
    if not seen:
        return judge(address, seen, None, metric_name(catalog), reader)
    try:
        deadline = clock() + (settle_s(prom) if settle is None else settle)
        while True:
            check = judge(address, seen, scraped(prom, catalog), metric_name(catalog), reader)
            if check.outcome is Outcome.PASS or clock() >= deadline:
                break
            sleep(1.0)
        if check.outcome is not Outcome.PASS and (down := down_targets(prom, address)):
            check = judge(address, seen, scraped(prom, catalog), metric_name(catalog), reader, down)
        return check
    except PrometheusError as exc:
        return Check.judged(NAME, None, not_measured(f"which instance Prometheus scrapes: {exc}"), address=address)
