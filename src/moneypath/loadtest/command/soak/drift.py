"""Drift over a long run (`moneypath loadtest soak`): the first minute after the warm-up against the last
minute, per authorization. Pure: samples and per-window p99s come in, figures and verdicts go out.

Samples (every few seconds, sampling.py takes them): service CPU seconds and resident memory, the
database's size on disk, and the authorizations and all requests so far (all cumulative but RSS). For each window:

  CPU per authorization   CPU seconds spent in the window / requests in it x requests per authorization
                          over the steady part (ms): at the run's mix, since the mix moves at the start of a
                          run (users authorize before they have payments to capture). Without a request
                          count, CPU seconds / authorizations in the window.
  authorize p99           given per window (the service's histogram, else Locust)
  resident memory         the least-squares line through every sample from the first minute to the last,
                          read at the middle of each (MB), beside the two minutes' own means: a plateau that
                          wobbles reads near 0 on the line, where two minutes' means put it wherever the last
                          minute fell. A rise in the last minutes counts for little on the line, so the last
                          minute's own mean more than half the limit over the line there fails too
  DB bytes per payment    the slope of database bytes against requests (least squares) over a span at
                          least a minute long, widened to a quarter of the steady part (see `db_span_s`),
                          x requests per authorization over the steady part: at the run's mix, as CPU is
                          (every request of the mix writes). Without a request count, the slope against
                          authorizations. A database file grows in chunks, not per payment; judged only when
                          it grew in enough steps (DB_MIN_STEPS) for the slope to mean something

Why a line and the late-rise rule: docs/decisions/0010-soak-drift-least-squares-line.md

Resident memory may start later (`memory_warmup_s`, the scenario's `drift_memory_warmup_s`): its first minute
is then the one after that warm-up, when the service's bounded in-memory state is full. A service that keeps
something for a fixed time (the reference keeps each webhook's nonce for its 300 s replay window) grows while
that window fills and is flat after it; judged from the first minute after 15 s, that fill is read as drift.
What the later start leaves out is said with the figure.

Drift is last / first - 1, judged against DRIFT_LIMIT for growth only: a figure that falls (CPU per
authorization once caches are warm) is shown, not failed. A figure whose inputs were not measured says
why ("not measured: <reason>"); a run too short for two minutes after its warm-up is not judged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from moneypath._common.verdict import FAIL, NOT_MEASURED, PASS, Outcome

# 5 %: the soak's bar. A minute at the soak's rate (>= 150 authorizations/s) holds >= 9000
# authorizations, so the counting noise of a per-authorization figure is far below 1 % and a
# steady service stays well inside 5 %; a leak (memory, rows never pruned, a scan that grows with
# history) makes the last minute cost more than the first and crosses it within the run.
DRIFT_LIMIT = 0.05
WINDOW_S = 60.0
# The database estimate's span: a quarter of the steady part (at least WINDOW_S). SQLite grows its file
# page by page as checkpoints copy the WAL in, and the WAL itself jumps to its high-water mark and is
# then reused: the growth inside one minute is lumpy (0 in one minute, two chunks in the next), and
# an endpoint difference over a minute swings with where a chunk lands. A least-squares slope over a
# longer span averages over many chunks; against requests (or authorizations), not time, so the rate does not matter.
DB_SPAN_SHARE = 0.25
# ... and only when the file grew in at least this many steps in each span: with fewer, the chunks are too
# coarse for the slope to be within a few percent, so the figure is shown and not judged.
DB_MIN_STEPS = 8
# A sample further than this from a window's edge is not taken for the value there.
MAX_GAP_S = 15.0

NOT_JUDGED = "not judged"  # result.json's word for a figure shown and not judged (Metric.status), never an outcome

METRICS = (  # key, title, unit, input (what a missing reason is keyed by)
    ("cpu_ms_per_authorization", "service CPU per authorization", "ms", "cpu"),
    ("p99_ms", "authorize p99", "ms", "p99"),
    ("rss_mb", "service resident memory", "MB", "rss"),
    ("db_bytes_per_payment", "database bytes per payment", "B", "db"),
)


@dataclass(frozen=True)
class Sample:
    t: float                                # unix time
    cpu_s: float | None = None              # service CPU seconds so far (its processes together)
    rss_bytes: float | None = None          # service resident memory now (its processes together)
    db_bytes: float | None = None           # database size on disk now
    authorizations: float | None = None     # authorizations so far
    requests: float | None = None           # every request of the mix so far (captures, refunds, ... too)


@dataclass(frozen=True)
class Windows:
    first: tuple[float, float]
    last: tuple[float, float]
    db_first: tuple[float, float]
    db_last: tuple[float, float]
    rss_first: tuple[float, float] | None = None  # None: the same as `first`


@dataclass
class Metric:
    key: str
    title: str
    unit: str
    first: float | None = None
    last: float | None = None
    drift: float | None = None
    outcome: Outcome = NOT_MEASURED
    reason: str = ""
    skipped: bool = False  # shown, not judged (a run too short, chunks too coarse): not measured, outside the verdict

    def set_aside(self, reason: str) -> None:
        self.outcome, self.skipped, self.reason = NOT_MEASURED, True, reason

    @property
    def status(self) -> str:
        """result.json's word: pass, fail, not measured, or not judged."""
        return NOT_JUDGED if self.skipped else self.outcome.value

    def to_dict(self) -> dict:
        return {"key": self.key, "title": self.title, "unit": self.unit, "first": self.first, "last": self.last,
                "drift": self.drift, "status": self.status, "reason": self.reason}


@dataclass
class Drift:
    limit: float
    windows: Windows | None
    metrics: list[Metric]
    reason: str = ""        # why drift is not judged at all ("" when it is)
    sources: dict[str, str] = field(default_factory=dict)  # input -> where it came from
    samples: list[Sample] = field(default_factory=list)
    # The steady part's requests per authorization, when the samples count requests: the mix CPU and database bytes
    # are judged at (and the report plots CPU at)
    requests_per_authorization: float | None = None
    db_per: str = ""  # what database bytes were counted against: "requests" (at the mix), "authorizations", or ""

    def to_dict(self) -> dict:
        return {**asdict(self), "metrics": [m.to_dict() for m in self.metrics]}

    def metric(self, key: str) -> Metric:
        return next(m for m in self.metrics if m.key == key)


def db_span_s(steady_s: float) -> float:
    return max(WINDOW_S, DB_SPAN_SHARE * steady_s)


def windows(start: float, end: float, warmup_s: float, memory_warmup_s: float = 0.0) -> tuple[Windows | None, str]:
    """(windows, "") for a run of the load from `start` to `end`; (None, reason) when it is shorter
    than the warm-up and two minutes. Resident memory's first minute starts after `memory_warmup_s` when
    that is longer than the warm-up (`rss_first`; None when the run is too short for it)."""
    steady = end - start - warmup_s
    if steady < 2 * WINDOW_S:
        return None, (f"run too short for drift: {end - start:.0f} s, needs the warm-up ({warmup_s:g} s) and two "
                      f"minutes ({warmup_s + 2 * WINDOW_S:.0f} s)")
    a = start + warmup_s
    span = min(db_span_s(steady), steady / 2)
    m = start + max(warmup_s, memory_warmup_s)
    rss_first = (m, m + WINDOW_S) if end - m >= 2 * WINDOW_S else None
    return Windows((a, a + WINDOW_S), (end - WINDOW_S, end), (a, a + span), (end - span, end), rss_first), ""


def memory_left_out(memory_warmup_s: float, warmup_s: float) -> str:
    """What a later first minute for resident memory leaves out ("" when it starts with the others)."""
    if memory_warmup_s <= warmup_s:
        return ""
    return (f"first minute from {memory_warmup_s:g} s: left out the {memory_warmup_s:g} s in which the service's "
            f"bounded in-memory state fills (the scenario's drift_memory_warmup_s)")


def value_at(samples: list[Sample], attr: str, t: float) -> float | None:
    """The cumulative `attr` at `t`, linear between the samples around it; at the nearest sample when `t`
    is just outside them (within MAX_GAP_S); None when no sample is near enough."""
    pts = [(s.t, getattr(s, attr)) for s in samples if getattr(s, attr) is not None]
    if not pts:
        return None
    pts.sort()
    if t <= pts[0][0]:
        return pts[0][1] if pts[0][0] - t <= MAX_GAP_S else None
    if t >= pts[-1][0]:
        return pts[-1][1] if t - pts[-1][0] <= MAX_GAP_S else None
    for (t0, v0), (t1, v1) in zip(pts, pts[1:]):
        if t0 <= t <= t1:
            if t1 - t0 > 2 * MAX_GAP_S:
                return None  # a hole in the sampling
            return v0 if t1 == t0 else v0 + (v1 - v0) * (t - t0) / (t1 - t0)
    return None


def _per_count(samples, attr, window, scale, per="authorizations") -> tuple[float | None, str]:
    """`attr` spent in the window per `per` counted in it (a Sample field each, cumulative), times `scale`."""
    a, b = window
    v0, v1 = value_at(samples, attr, a), value_at(samples, attr, b)
    n0, n1 = value_at(samples, per, a), value_at(samples, per, b)
    if v0 is None or v1 is None:
        return None, "no samples at the window's edges"
    if n0 is None or n1 is None:
        return None, f"no count of {per} at the window's edges"
    if n1 - n0 <= 0:
        return None, f"no {per} in the window"
    return (v1 - v0) / (n1 - n0) * scale, ""


def _counted(samples, key, window) -> float | None:
    """How much of the cumulative `key` the window holds; None when unknown or nothing."""
    a, b = (value_at(samples, key, t) for t in window)
    return None if a is None or b is None or b - a <= 0 else b - a


def _share(samples, window) -> float | None:
    """Authorizations as a share of requests in `window`; None when either is not counted there."""
    auths, requests = _counted(samples, "authorizations", window), _counted(samples, "requests", window)
    return None if auths is None or requests is None else auths / requests


def _mix_note(mix: float, shares: tuple[float, float], where: str, what: str, alone: tuple, unit: str) -> str:
    """How the mix moved between the two windows and what the figure over authorizations alone was ("" when the
    mix did not move, or the figure alone cannot be given)."""
    if abs(shares[0] - shares[1]) < 0.005 or None in alone or not alone[0]:
        return ""
    return (f"at the run's mix (authorizations {1 / mix:.1%} of requests; {shares[0]:.1%} in the first {where}, "
            f"{shares[1]:.1%} in the last; {what} over authorizations alone {fmt(alone[0], unit)} -> "
            f"{fmt(alone[1], unit)}, {alone[1] / alone[0] - 1:+.1%})")


def _cpu_at_the_runs_mix(samples, win: Windows, mix: float) -> tuple[float, float, str] | None:
    """CPU per authorization at the steady part's `mix` (requests per authorization) in the first and last
    windows, and a note on how the mix moved; None without request counts."""
    shares = tuple(_share(samples, w) for w in (win.first, win.last))
    per_request = [_per_count(samples, "cpu_s", w, 1000, "requests")[0] for w in (win.first, win.last)]
    if None in shares or None in per_request:
        return None
    alone = (per_request[0] / shares[0], per_request[1] / shares[1])
    return per_request[0] * mix, per_request[1] * mix, _mix_note(mix, shares, "minute", "CPU", alone, "ms")


def _rss_line_mb(samples, first, last) -> tuple[float, float, int] | None:
    """The least-squares line through resident memory from the first window's start to the last's end, at the
    two windows' middles (MB), and how many samples it went through; None without two distinct times."""
    points = [(s.t, s.rss_bytes / 1e6) for s in samples if first[0] <= s.t <= last[1] and s.rss_bytes is not None]
    fitted = line(points)
    if fitted is None:
        return None
    k, mx, my = fitted
    return (*(my + k * ((w[0] + w[1]) / 2 - mx) for w in (first, last)), len(points))


def _mean_rss_mb(samples, window) -> tuple[float | None, str]:
    a, b = window
    inside = [s.rss_bytes for s in samples if a <= s.t <= b and s.rss_bytes is not None]
    if not inside:
        end = value_at(samples, "rss_bytes", b)
        return (None, "no samples in the window") if end is None else (end / 1e6, "")
    return sum(inside) / len(inside) / 1e6, ""


def line(points: list[tuple[float, float]]) -> tuple[float, float, float] | None:
    """Least-squares line of y on x as (slope, mean x, mean y); None with fewer than two distinct x."""
    if len(points) < 2:
        return None
    mx = sum(x for x, _ in points) / len(points)
    my = sum(y for _, y in points) / len(points)
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx <= 0:
        return None
    return sum((x - mx) * (y - my) for x, y in points) / sxx, mx, my


def slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of y on x; None with fewer than two distinct x."""
    fitted = line(points)
    return None if fitted is None else fitted[0]


def _db_per_count(samples, span, per="authorizations", scale=1.0) -> tuple[float | None, str]:
    """The slope of the database's size against the cumulative `per` in `span`, times `scale`."""
    a, b = span
    pts = [(getattr(s, per), s.db_bytes) for s in samples
           if a <= s.t <= b and s.db_bytes is not None and getattr(s, per) is not None]
    if len(pts) < 2:
        return None, f"fewer than two samples with a size and a count of {per} in the span"
    k = slope(pts)
    if k is None:
        return None, f"no {per} in the span"
    return max(0.0, k) * scale, ""  # a file does not shrink per payment (a checkpoint's truncation is not a payment)


def _db_at_the_runs_mix(samples, win: Windows, mix: float) -> tuple[float, float, str] | None:
    """Database bytes per authorization at the steady part's `mix` (requests per authorization) in the first and
    last spans, and a note on how the mix moved between them; None without request counts."""
    spans = (win.db_first, win.db_last)
    shares = tuple(_share(samples, w) for w in spans)
    per_request = [_db_per_count(samples, w, "requests", mix)[0] for w in spans]
    if None in shares or None in per_request:
        return None
    alone = tuple(_db_per_count(samples, w)[0] for w in spans)
    return per_request[0], per_request[1], _mix_note(mix, shares, "span", "bytes", alone, "B")


# The run counted requests but not in both windows (a hole in the sampling): the figure is over authorizations
# alone, which a moving mix can push past the limit, and the reason says so rather than judging it silently.
_NOT_AT_THE_MIX = "over authorizations alone: requests were not counted in both {}, so not at the run's mix"


def _steady_mix(samples, steady: tuple[float, float]) -> float | None:
    """Requests per authorization over the steady part; None when the samples do not count both."""
    share = _share(samples, steady)
    return None if share is None else 1 / share


def db_steps(samples: list[Sample], span: tuple[float, float]) -> int:
    """How many times the database grew between consecutive samples in `span`."""
    sizes = [s.db_bytes for s in samples if span[0] <= s.t <= span[1] and s.db_bytes is not None]
    return sum(1 for a, b in zip(sizes, sizes[1:]) if b > a)


def judge(m: Metric, limit: float) -> None:
    if m.first is None or m.last is None:
        m.outcome = NOT_MEASURED
        return
    if m.first <= 0:
        m.set_aside(f"the first minute's figure is {m.first:g}: no ratio to take")
        return
    m.drift = m.last / m.first - 1
    ok = m.drift <= limit + 1e-9  # 105 / 100 - 1 is 0.05000000000000004
    m.outcome = Outcome.of(ok)
    m.reason = "" if ok else (f"{m.title} grew {m.drift:+.1%} from the first minute after the warm-up to the last "
                              f"({fmt(m.first, m.unit)} -> {fmt(m.last, m.unit)}; limit +{limit:.0%})")


def _judge_late_rise(m: Metric, last_mean: float, limit: float) -> None:
    """Fail a figure read off a line whose last minute's own mean is more than half the limit over the line there:
    a rise in the last minutes, which the line averages away."""
    if m.outcome is PASS and m.last > 0 and last_mean / m.last - 1 > limit / 2:
        m.outcome = FAIL
        m.reason = (f"{m.title}'s last minute ({fmt(last_mean, m.unit)}) is {last_mean / m.last - 1:+.1%} over the "
                    f"line through the run ({fmt(m.last, m.unit)}) there: a late rise; limit +{limit / 2:.1%} over "
                    f"the line")


def fmt(v: float | None, unit: str) -> str:
    if v is None:
        return "-"
    if unit == "B":
        return f"{v:,.0f} B"
    if unit == "MB":
        return f"{v:,.1f} MB"
    return f"{v:.3g} {unit}" if v < 100 else f"{v:.0f} {unit}"


def compute(samples: list[Sample], start: float, end: float, warmup_s: float,
            p99_ms: tuple[float | None, float | None] = (None, None), missing: dict[str, str] | None = None,
            sources: dict[str, str] | None = None, limit: float = DRIFT_LIMIT, memory_warmup_s: float = 0.0) -> Drift:
    """Drift between the first minute after the warm-up (for resident memory: after `memory_warmup_s` when
    longer) and the last minute of the load from `start` to `end`.

    `p99_ms` is (first window, last window) as measured for `windows(start, end, warmup_s)`; `missing` maps
    an input (cpu, rss, db, authorizations, p99) that was not measured to why."""
    missing = dict(missing or {})
    samples = sorted(samples, key=lambda s: s.t)
    metrics = [Metric(key, title, unit) for key, title, unit, _ in METRICS]
    win, reason = windows(start, end, warmup_s, memory_warmup_s)
    out = Drift(limit, win, metrics, reason, dict(sources or {}), samples)
    if win is None:
        for m in metrics:
            m.set_aside(reason)
        return out
    inputs = {key: inp for key, _, _, inp in METRICS}
    mix = out.requests_per_authorization = _steady_mix(samples, (win.first[0], win.last[1]))
    for m in metrics:
        inp = inputs[m.key]
        needs = [inp] + (["authorizations"] if m.key in ("cpu_ms_per_authorization", "db_bytes_per_payment") else [])
        gone = [f"{missing[n]}" for n in needs if n in missing]
        if gone:
            m.outcome, m.reason = NOT_MEASURED, f"not measured: {'; '.join(gone)}"
            continue
        note = ""
        if m.key == "cpu_ms_per_authorization":
            if mix is not None and (at_mix := _cpu_at_the_runs_mix(samples, win, mix)):
                m.first, m.last, note = at_mix
            else:
                (m.first, r1), (m.last, r2) = (_per_count(samples, "cpu_s", w, 1000)
                                               for w in (win.first, win.last))
                note = _NOT_AT_THE_MIX.format("minutes") if mix is not None else ""
        elif m.key == "p99_ms":
            m.first, m.last = p99_ms
            r1 = r2 = "no latency for the window"
        elif m.key == "rss_mb":
            if memory_warmup_s > warmup_s and win.rss_first is None:
                m.set_aside(f"run too short for memory drift: {end - start:.0f} s, needs the memory warm-up "
                            f"({memory_warmup_s:g} s) and two minutes ({memory_warmup_s + 2 * WINDOW_S:.0f} s)")
                continue
            rss_first = win.rss_first or win.first
            (m.first, r1), (m.last, r2) = (_mean_rss_mb(samples, w) for w in (rss_first, win.last))
            means, line = (m.first, m.last), _rss_line_mb(samples, rss_first, win.last)
            if None not in means and line is not None:
                m.first, m.last, points = line
                if [fmt(v, m.unit) for v in means] != [fmt(v, m.unit) for v in (m.first, m.last)]:
                    growth = f" ({means[1] / means[0] - 1:+.1%})" if means[0] > 0 else ""
                    note = (f"read off the least-squares line through the {points} samples from the first minute "
                            f"to the last; the minutes' own means {fmt(means[0], m.unit)} -> "
                            f"{fmt(means[1], m.unit)}{growth}")
            elif None not in means:
                note = "the minutes' own means: too few samples for a line"
        else:
            if mix is not None and (at_mix := _db_at_the_runs_mix(samples, win, mix)):
                (m.first, m.last, note), out.db_per = at_mix, "requests"
            else:
                (m.first, r1), (m.last, r2) = (_db_per_count(samples, w) for w in (win.db_first, win.db_last))
                out.db_per = "authorizations"
                note = _NOT_AT_THE_MIX.format("spans") if mix is not None else ""
        if m.first is None or m.last is None:
            m.reason = "not measured: " + (r1 if m.first is None else r2) + (
                " (first minute)" if m.first is None else " (last minute)")
        judge(m, limit)
        if m.key == "rss_mb" and None not in means:
            _judge_late_rise(m, means[1], limit)
        if m.key == "rss_mb" and (left_out := memory_left_out(memory_warmup_s, warmup_s)):
            note = f"{note}; {left_out}" if note else left_out
        if m.outcome in (PASS, FAIL) and note:
            m.reason = f"{m.reason}; {note}" if m.reason else note
        if m.key == "db_bytes_per_payment" and m.outcome in (PASS, FAIL):
            steps = min(db_steps(samples, win.db_first), db_steps(samples, win.db_last))
            if steps < DB_MIN_STEPS:
                m.set_aside(f"not judged: the database file grew in only {steps} steps in a span (needs "
                            f"{DB_MIN_STEPS}): its chunks are too coarse for a {limit:.0%} judgement")
    return out


def summary_lines(d: Drift) -> list[str]:
    """The drift at the end of a run, for the terminal."""
    if d.windows is None:
        return [f"drift: not judged: {d.reason}"]
    lines = [f"drift, first minute after the warm-up -> last minute (growth over +{d.limit:.0%} fails):"]
    for m in d.metrics:
        if m.outcome in (PASS, FAIL):
            mark = "ok  " if m.outcome is PASS else "FAIL"
            note = f" [{m.reason}]" if m.outcome is PASS and m.reason else ""
            lines.append(f"  {mark} {m.title}: {fmt(m.first, m.unit)} -> {fmt(m.last, m.unit)} ({m.drift:+.1%}){note}")
        else:
            lines.append(f"  -    {m.title}: {m.reason}")
    return lines
