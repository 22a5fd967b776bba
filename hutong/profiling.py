"""An opt-in profiler of served calls, for finding where a served RPC spends its time (benchmarks, not production).

Off unless the server process starts with ``HUTONG_PROFILE_DIR`` set to a directory. Then every unary or
streaming handler call runs under a ``cProfile.Profile`` of its own thread (one per handler thread, reused), and
when the worker stops it writes ``DIR/worker-PID.prof`` (``pstats`` format: ``python -m pstats FILE``) with the
merged calls of all its handler threads. ``HUTONG_PROFILE_CLOCK=cpu`` (default) times with the thread's CPU clock,
so a loaded machine hardly moves the figures and per-call CPU is what it reads; ``wall`` counts waiting too
(locks, the GIL, the disk).

Why in the call path rather than a sampling profiler: a handler thread's CPU per call, attributed to functions,
is the figure the benchmarks quote, and it needs nothing beyond the standard library. When off, the cost is one
``None`` check per call.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ENV_DIR = "HUTONG_PROFILE_DIR"
ENV_CLOCK = "HUTONG_PROFILE_CLOCK"


class CallProfiler:
    """One ``cProfile.Profile`` per handler thread; ``dump`` merges them into one file."""

    def __init__(self, directory: Path, clock: str = "cpu") -> None:
        self.directory = directory
        self.timer: Callable[[], float] = time.thread_time if clock == "cpu" else time.perf_counter
        self._local = threading.local()
        self._all: list[cProfile.Profile] = []
        self._lock = threading.Lock()
        self.calls = 0

    def _profile(self) -> cProfile.Profile:
        prof = getattr(self._local, "prof", None)
        if prof is None:
            prof = self._local.prof = cProfile.Profile(self.timer)
            with self._lock:
                self._all.append(prof)
        return prof

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        prof = self._profile()
        self.calls += 1
        prof.enable()
        try:
            return fn(*args)
        finally:
            prof.disable()

    def stream(self, it: Iterator[Any]) -> Iterator[Any]:
        """A streaming handler's messages, each produced under the profile (not the time between them)."""
        self.calls += 1
        while True:
            prof = self._profile()
            prof.enable()
            try:
                item = next(it)
            except StopIteration:
                return
            finally:
                prof.disable()
            yield item

    def dump(self) -> Path | None:
        with self._lock:
            profiles = [p for p in self._all if p.getstats()]
        if not profiles:
            return None
        self.directory.mkdir(parents=True, exist_ok=True)
        stats = pstats.Stats(profiles[0])
        for p in profiles[1:]:
            stats.add(p)
        path = self.directory / f"worker-{os.getpid()}.prof"
        stats.dump_stats(path)
        (self.directory / f"worker-{os.getpid()}.calls").write_text(f"{self.calls}\n", encoding="utf-8")
        return path


def _from_environment() -> CallProfiler | None:
    directory = os.environ.get(ENV_DIR, "").strip()
    if not directory:
        return None
    return CallProfiler(Path(directory), os.environ.get(ENV_CLOCK, "cpu").strip().lower())


PROFILER: CallProfiler | None = _from_environment()


def dump() -> Path | None:
    """Write this process's profile, when profiling is on (the server calls it as a worker stops)."""
    return PROFILER.dump() if PROFILER is not None else None
