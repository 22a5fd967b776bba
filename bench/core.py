"""What every figure uses: result rows, run modes, timed loops and bounded load processes.

The machine is small and shared, so a figure is never an absolute number alone: it is a ratio against a
baseline measured in the same run (interleaved with the subject, median over rounds), or a throughput printed
beside the published peer figure. Load runs in separate processes (``spawn``), bounded in count and time.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import queue as queue_mod
import statistics
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

# -- rows -----------------------------------------------------------------------------------------


@dataclass
class Row:
    """One figure. ``ratio`` is value / baseline (or the figure itself when it is a ratio of runs)."""

    figure: str
    value: float | None
    baseline: float | None
    ratio: float | None
    target: str
    met: bool | None  # None: not measured
    unit: str = ""
    note: str = ""
    # How subject and baseline are matched: the server's worker processes against as many baseline processes
    # on the same CPU ("per core"), or why no such match applies (a published peer figure, an absolute target).
    fairness: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def not_measured(figure: str, target: str, why: str) -> Row:
    return Row(figure=figure, value=None, baseline=None, ratio=None, target=target, met=None,
               note=f"not measured: {why}", fairness="-")


def ratio_row(figure: str, value: float, baseline: float, *, minimum: float | None = None,
              maximum: float | None = None, unit: str = "", note: str = "", target: str = "",
              fairness: str = "") -> Row:
    """A row whose target is a bound on value / baseline."""
    ratio = value / baseline if baseline else float("nan")
    met = True
    if minimum is not None:
        met = met and ratio >= minimum
        target = target or f">= {minimum:g}x"
    if maximum is not None:
        met = met and ratio <= maximum
        target = target or f"<= {maximum:g}x"
    return Row(figure, value, baseline, ratio, target, bool(met), unit, note, fairness)


def rate_row(figure: str, value: float, minimum: float, *, baseline: float | None = None, unit: str = "/s",
             note: str = "", fairness: str = "") -> Row:
    """A throughput with an absolute target; ``baseline`` (a peer's published figure) printed beside it."""
    ratio = value / baseline if baseline else None
    return Row(figure, value, baseline, ratio, f">= {minimum:g}{unit}", value >= minimum, unit, note,
               fairness)


# -- modes ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mode:
    """How long and how big. ``tiny`` is for the smoke test: shape only, numbers meaningless."""

    name: str
    seconds: float  # one timed measurement
    rounds: int  # interleaved subject/baseline rounds (median taken)
    client_procs: int  # client load processes against the server
    client_threads: int  # in-flight calls per client process
    repo_small: int  # stored certificates, the baseline repository
    repo_large: int
    pdf_small_mb: float
    pdf_large_mb: float
    lookups: int  # timed lookups per repository size
    batch_rows: int  # rows per IssueBatch call
    workers: tuple[int, ...] = (1, 2)  # server workers for the scaling plot
    notes: dict[str, str] = field(default_factory=dict)


MODES = {
    "tiny": Mode("tiny", seconds=0.4, rounds=1, client_procs=1, client_threads=2, repo_small=200, repo_large=600,
                 pdf_small_mb=0.05, pdf_large_mb=0.5, lookups=50, batch_rows=20, workers=(2,)),
    "quick": Mode("quick", seconds=2.0, rounds=2, client_procs=2, client_threads=4, repo_small=10_000,
                  repo_large=100_000, pdf_small_mb=0.5, pdf_large_mb=5.0, lookups=1000, batch_rows=200),
    "full": Mode("full", seconds=6.0, rounds=3, client_procs=2, client_threads=6, repo_small=10_000,
                 repo_large=1_000_000, pdf_small_mb=5.0, pdf_large_mb=50.0, lookups=2000, batch_rows=500,
                 workers=(1, 2, 3)),
}


# -- timing ---------------------------------------------------------------------------------------


def timed_rate(op: Callable[[], object], seconds: float, *, warmup: int = 3) -> float:
    """Operations per second of ``op`` called in a loop for ``seconds`` (after a few warm-up calls)."""
    for _ in range(warmup):
        op()
    n, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        op()
        n += 1
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start)


def interleaved(subject: Callable[[], object], baseline: Callable[[], object], seconds: float,
                rounds: int) -> tuple[float, float]:
    """Median rates of ``subject`` and ``baseline``, measured alternately so noise hits both alike."""
    s_rates, b_rates = [], []
    for _ in range(max(1, rounds)):
        b_rates.append(timed_rate(baseline, seconds / 2))
        s_rates.append(timed_rate(subject, seconds / 2))
    return statistics.median(s_rates), statistics.median(b_rates)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


# -- load in separate processes -------------------------------------------------------------------

# A worker is ``setup(args) -> op``, a module-level function (spawn pickles it by name); ``op()`` is one
# operation and raises on failure.
Setup = Callable[[Any], Callable[[], object]]


@dataclass
class LoadResult:
    ops: int
    errors: int
    seconds: float
    latencies: list[float]
    first_error: str = ""
    cpu_seconds: float = 0.0  # CPU the load processes spent in the timed window (all their threads)

    @property
    def rate(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0


def _load_child(setup: Setup, args: Any, threads: int, seconds: float, barrier: Any, out: Any,
                keep_latencies: bool) -> None:
    import threading

    try:
        ops = [setup(args) for _ in range(threads)]
    except BaseException:  # report why, then still meet the others at the barrier
        out.put(("setup", traceback.format_exc(limit=4)))
        with contextlib.suppress(Exception):
            barrier.wait(timeout=120)
        return
    try:
        barrier.wait(timeout=120)
    except Exception:
        out.put(("setup", "the other load processes did not start in time"))
        return
    counts = [0] * threads
    errors = [0] * threads
    lat: list[list[float]] = [[] for _ in range(threads)]
    first: list[str] = []
    start, cpu_start = time.perf_counter(), time.process_time()
    deadline = start + seconds

    def loop(i: int) -> None:
        op = ops[i]
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            try:
                op()
            except Exception as exc:  # counted, and the first one reported
                errors[i] += 1
                if not first:
                    first.append(f"{type(exc).__name__}: {exc}"[:300])
                continue
            counts[i] += 1
            if keep_latencies:
                lat[i].append(time.perf_counter() - t0)

    workers = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(seconds + 120)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    out.put(("ok", sum(counts), sum(errors), elapsed, [x for part in lat for x in part], first[0] if first else "",
             cpu))


def run_load(setup: Setup, args: Any, *, procs: int, threads: int, seconds: float, keep_latencies: bool = False,
             start_timeout: float = 120.0) -> LoadResult:
    """Run ``procs`` processes x ``threads`` threads of ``op`` for ``seconds`` after a common start.

    Bounded: processes that overrun by more than ``start_timeout`` are terminated (only these, by object)."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(procs)
    out = ctx.Queue()
    children = [ctx.Process(target=_load_child, args=(setup, args, threads, seconds, barrier, out, keep_latencies),
                            daemon=True) for _ in range(procs)]
    for c in children:
        c.start()
    results: list[tuple[Any, ...]] = []
    deadline = time.monotonic() + start_timeout + seconds + 30
    try:
        while len(results) < procs and time.monotonic() < deadline:
            try:
                results.append(out.get(timeout=1.0))
            except queue_mod.Empty:
                if not any(c.is_alive() for c in children) and out.empty():
                    break
    finally:
        for c in children:
            c.join(timeout=5)
            if c.is_alive():
                c.terminate()
                c.join(timeout=5)
    failures = [r[1] for r in results if r[0] == "setup"]
    if failures:
        raise RuntimeError(f"load process setup failed: {failures[0].strip().splitlines()[-1]}")
    oks = [r for r in results if r[0] == "ok"]
    if len(oks) < procs:
        raise RuntimeError(f"only {len(oks)} of {procs} load processes reported")
    return LoadResult(ops=sum(r[1] for r in oks), errors=sum(r[2] for r in oks), seconds=max(r[3] for r in oks),
                      latencies=[x for r in oks for x in r[4]], first_error=next((r[5] for r in oks if r[5]), ""),
                      cpu_seconds=sum(r[6] for r in oks))


def load_rate(setup: Setup, args: Any, *, procs: int, threads: int, seconds: float) -> float:
    """Successful operations per second across all load processes; fails if most operations failed."""
    res = run_load(setup, args, procs=procs, threads=threads, seconds=seconds)
    if res.ops == 0 or res.errors > res.ops:
        raise RuntimeError(f"{res.errors} of {res.ops + res.errors} operations failed: {res.first_error}")
    return res.rate
