"""The lookup figure: GetCertificate p99 as the repository grows (10,000 vs 100,000 stored certificates in quick
mode, 10,000 / 100,000 / 1,000,000 in full mode), on SQLite (``hutong bench``) or PostgreSQL
(``python -m bench.lookup_pg``). Alone, on SQLite: ``python -m bench.fig_lookup [--mode quick|full]`` (the row as
JSON).

Why the sizes are timed interleaved: when each size was timed once, one after the other, the machine's speed
moved under them -- the client's CPU per lookup, the same work at every size, differed 2x within one run -- and
the ratio measured the drift as much as the repository. Now every size has a repository of its own (a node made
the same way, its own ``hutong serve --workers 2``, seeded to its size and settled), all servers run side by side,
and the timed lookups are split into rounds that alternate between the sizes (ABBA order: a drift over the run
hits every size alike); a size's p50/p99 is over all its rounds. The client is the same for every size: a fresh
small process of its own (not the bench's big heap), one channel and stub reused, warm-up calls, the heap frozen;
each round begins with a collection outside the timing.

The floor beside them: a bare grpcio server (the Health service alone, one process, nothing of Hutong) answers the
same kind of client process in the same alternating rounds. Its p99 is what a sequential unary call through
grpcio gets from this machine at that moment -- the part of the lookup's tail no server code can remove -- and is
reported next to the lookup's (it is not the target's baseline: the target is absolute).
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import random
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from multiprocessing.pool import Pool
from pathlib import Path
from typing import Any

from bench.core import Mode, Row, not_measured, percentile
from bench.seed import Repository, read_into_memory
from bench.world import (
    ISSUER_PLATFORM,
    ISSUER_USCC,
    ORG_NAME,
    ORG_USCC,
    SERVER_WORKERS,
    Prepared,
    Server,
    channel,
    platform_metadata,
    prepare_node,
)

TARGET = "<= 1.5x and <= 5 ms"
ROUNDS = 10  # rounds per size; each size's timed lookups are split evenly over them
WARM_UP = 20  # untimed calls when a client process starts: the connection, the server's statement and key caches
IDLE_CPU_SHARE = 0.05  # of one core: a server is idle below this
IDLE_WAIT_MAX_S = 120.0
START_TIMEOUT_S = 300.0  # a server's start (three processes importing everything) took over 90 s at load 30


def lookup_figure(mode: Mode) -> str:
    name = f"lookup by identifier p99, {mode.repo_large:,} vs {mode.repo_small:,} stored certificates"
    return name if mode.name == "full" else name + " [1,000,000 in full mode only]"


def sizes(mode: Mode) -> list[int]:
    small, large = mode.repo_small, mode.repo_large
    if mode.name != "full":
        return [small, large]
    return sorted({small, int((small * large) ** 0.5), large})


def round_order(names: list[int], rounds: int) -> Iterator[int]:
    """Which size each round times, in order: ABBA... (every size as often first as last in a pair of rounds), so
    a drift of the machine's speed over the run, linear or not too fast, weighs on every size alike."""
    for r in range(rounds):
        yield from (names if r % 2 == 0 else reversed(names))


def certificate_fields(prep: Prepared) -> dict[str, str]:
    from bench.fig_cert import licence_fields

    return licence_fields(prep)


# -- the client process (one per size) ---------------------------------------------------------------------

_CLIENT: Any = None


def _client_on(ch: Any, prep: Prepared) -> Any:
    """The department's platform (the issuer: its lookups record no access line in the database)."""
    from hutong_client.cert import CertClient

    return CertClient(ch, metadata=platform_metadata(ISSUER_PLATFORM, prep.issuer_secret), timeout=300)


def _start_client(target: str, prep: Prepared, warm: list[str]) -> None:
    """In the client process: the client, the warm-up calls, then everything alive frozen out of the collector's
    walks (so no collection of start-up objects lands inside a timed call)."""
    _install(_client_on(channel(target), prep), warm)


def _install(client: Any, warm: list[str]) -> None:
    import gc

    global _CLIENT
    _CLIENT = client
    for ident in warm:
        _CLIENT.get(ident)
    gc.collect()
    gc.freeze()


class _FloorClient:
    """The floor's client: a Health check where the lookup client gets a certificate."""

    def __init__(self, ch: Any) -> None:
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        self._stub = health_pb2_grpc.HealthStub(ch)
        self._request = health_pb2.HealthCheckRequest(service="")

    def get(self, _identifier: str) -> None:
        self._stub.Check(self._request, timeout=300)


def _start_floor_client(target: str, calls: int) -> None:
    """In the floor's client process: as ``_start_client``, with a Health client."""
    _install(_FloorClient(channel(target)), [""] * calls)


def serve_floor(port: int, ready: Any) -> None:
    """In a process of its own: a bare grpcio server (a thread pool of 16, as the node's) with only the Health
    service, on loopback, until the process is ended."""
    from concurrent import futures

    import grpc
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    ready.set()
    server.wait_for_termination()


def _timed_round(wanted: list[str]) -> tuple[list[float], float]:
    """In the client process: sequential calls of ``wanted`` (GetCertificate; a Health check in the floor's
    process); their latencies (s) and the CPU this process spent on them."""
    import gc

    gc.collect()  # what the previous round left, collected outside the timing
    times = []
    cpu = time.process_time()
    for ident in wanted:
        t0 = time.perf_counter()
        _CLIENT.get(ident)
        times.append(time.perf_counter() - t0)
    return times, time.process_time() - cpu


# -- one size: its node, server, repository, client ----------------------------------------------------------

@dataclass
class _Stand:
    size: int
    prep: Prepared
    server: Server
    wanted: list[str]  # the identifiers to time, in order (random, no repeats)
    pool: Pool | None = None
    seeded_s: float = 0.0
    times: list[float] = field(default_factory=list)
    client_cpu: float = 0.0
    server_cpu: float = 0.0
    disk_read: int = 0  # bytes the machine's disks read during this size's rounds

    def round(self, count: int) -> None:
        assert self.pool is not None
        wanted, self.wanted = self.wanted[:count], self.wanted[count:]
        before, disk = self.server.cpu_seconds(), disk_read_bytes()
        times, cpu = self.pool.apply(_timed_round, (wanted,))
        self.server_cpu += self.server.cpu_seconds() - before
        self.disk_read += disk_read_bytes() - disk
        self.times += times
        self.client_cpu += cpu

    def cpu_note(self) -> str:
        n = len(self.times) or 1
        return (f"CPU per lookup at {self.size:,}: server {self.server_cpu / n * 1000:.2f} ms, "
                f"client {self.client_cpu / n * 1000:.2f} ms")

    def handler_note(self, log: Path) -> str:
        """The server's own time per timed call (the access line's ``latency_ms``: interceptor in to out), beside
        the client's: what of the tail is the server's handling, what the transport, scheduling and client."""
        handled = _handler_ms(log)[-len(self.times):] if self.times else []
        if len(handled) < len(self.times):
            return ""
        return (f"in the server's handler at {self.size:,}: p50 {percentile(handled, 50):.2f}, "
                f"p99 {percentile(handled, 99):.2f} ms")


@dataclass
class _Floor:
    """The floor's server process and client process; its times over all its rounds."""

    process: Any
    pool: Pool
    times: list[float] = field(default_factory=list)

    def round(self, count: int) -> None:
        times, _cpu = self.pool.apply(_timed_round, ([""] * count,))
        self.times += times

    def note(self) -> str:
        if not self.times:
            return ""
        return (f"; the floor, a bare grpcio Health server timed in the same rounds: p50 "
                f"{percentile(self.times, 50) * 1000:.2f}, p99 {percentile(self.times, 99) * 1000:.2f} ms")


def _floor(stack: ExitStack, ctx: Any) -> _Floor:
    from bench.world import free_port

    port, ready = free_port(), ctx.Event()
    process = ctx.Process(target=serve_floor, args=(port, ready), daemon=True)
    process.start()
    stack.callback(process.join, 10)
    stack.callback(process.terminate)
    if not ready.wait(START_TIMEOUT_S):
        raise RuntimeError("the bare grpcio server did not start")
    pool = stack.enter_context(ctx.Pool(1))
    pool.apply(_start_floor_client, (f"127.0.0.1:{port}", WARM_UP))
    return _Floor(process, pool)


def _handler_ms(log: Path) -> list[float]:
    """``latency_ms`` of every GetCertificate access line in a server's log, in order."""
    out = []
    with log.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if '"hutong.access"' in line and "GetCertificate" in line:
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    out.append(float(json.loads(line)["latency_ms"]))
    return out


def _stand(stack: ExitStack, work: Path, size: int, url: str, lookups: int, seed: int) -> _Stand:
    """A node of its own for ``size``: prepared as every bench node, served, one real certificate issued (the one
    the seeded rows copy), grown to ``size`` rows and settled."""
    from bench.seed import identifier

    prep = prepare_node(work / f"node-{size}", database_url=url)
    server = Server(work / f"node-{size}", SERVER_WORKERS, _log(work, size))
    stack.callback(server.stop)
    server.wait_ready(START_TIMEOUT_S)
    ch = channel(server.target)
    try:
        cert = _client_on(ch, prep).issue(prep.type_code, ORG_USCC, ORG_NAME, certificate_fields(prep))
    finally:
        ch.close()
    started = time.monotonic()
    Repository(Path(prep.data_dir), prep.type_code, ISSUER_USCC, cert.jws, cert.qr).grow_to(size)
    rng = random.Random(seed)
    wanted = [identifier(prep.type_code, ISSUER_USCC, n) for n in rng.sample(range(size), min(size, lookups + WARM_UP))]
    return _Stand(size, prep, server, wanted, seeded_s=time.monotonic() - started)


def cpu_times() -> tuple[int, int]:
    """(all, stolen) CPU time of the machine so far, in clock ticks (Linux ``/proc/stat``; (0, 0) elsewhere).
    Steal is time the hypervisor ran something else while this virtual machine's CPU had work: a call then
    waits whatever the code does, so the row reports it beside the tail."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            ticks = [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return 0, 0
    return sum(ticks), ticks[7] if len(ticks) > 7 else 0


def disk_read_bytes() -> int:
    """Bytes read from this machine's disks so far (Linux ``/proc/diskstats``, whole disks only: partitions and
    device-mapper volumes would count the same reads again; 0 elsewhere). A lookup that reads the disk waits for
    it, so the row reports the disk's reads during each size's rounds beside its tail."""
    try:
        with open("/proc/diskstats", encoding="ascii") as f:
            return sectors_read(f.read(), lambda name: Path(f"/sys/block/{name}/device").exists()) * 512
    except OSError:
        return 0


def sectors_read(diskstats: str, is_disk: Callable[[str], bool]) -> int:
    """The sectors read (512 bytes each, whatever the device's own sector size) by the devices ``is_disk`` names
    in the text of ``/proc/diskstats`` (major, minor, name, reads, reads merged, sectors read, ...)."""
    total = 0
    for line in diskstats.splitlines():
        fields = line.split()
        if len(fields) > 5 and is_disk(fields[2]):
            total += int(fields[5])
    return total


def _steal_note(before: tuple[int, int]) -> str:
    total, stolen = (now - then for now, then in zip(cpu_times(), before, strict=True))
    return f"; the host's steal during the timed rounds: {stolen / total * 100:.1f} % of CPU time" if total else ""


def _log(work: Path, size: int) -> Path:
    return work / f"server-{size}.log"


def _until_idle(servers: list[Callable[[], float]]) -> float:
    """Wait until every server (its CPU seconds so far) has finished what its seeding and start left it (seconds
    waited): each using under IDLE_CPU_SHARE of a core for two half-seconds in a row (at most IDLE_WAIT_MAX_S)."""
    started = time.monotonic()
    calm = 0
    last = sum(cpu() for cpu in servers)
    while calm < 2 and time.monotonic() - started < IDLE_WAIT_MAX_S:
        time.sleep(0.5)
        now = sum(cpu() for cpu in servers)
        calm = calm + 1 if now - last < IDLE_CPU_SHARE * 0.5 * len(servers) else 0
        last = now
    return time.monotonic() - started


@contextlib.contextmanager
def _locked(path: str) -> Iterator[None]:
    import fcntl

    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def lookup_row(mode: Mode, work: Path, latency: dict[str, list[tuple[float, float]]],
               url_for: Callable[[int], str] = lambda size: "", keep: bool = False,
               also_idle: Callable[[], float] | None = None, timing_lock: str = "") -> Row:
    """The figure's row; ``latency`` gets the p50/p99 series by size. ``url_for(size)``: the empty database of that
    size's node ("" = the embedded SQLite). The nodes live under ``work`` (removed afterwards unless ``keep``).
    ``also_idle``: the CPU seconds of something else still running (the bench's own server, the PostgreSQL
    cluster), waited for as the lookup servers are. ``timing_lock``: a file locked (``flock``) around the timed
    rounds only, not the seeding, for measurements that take turns on a shared machine."""
    figure = lookup_figure(mode)
    wanted_sizes = sizes(mode)
    rounds = max(1, min(ROUNDS, mode.lookups // 5))
    per_round = max(1, mode.lookups // rounds)
    try:
        with ExitStack() as stack:
            if not keep:
                stack.callback(shutil.rmtree, work, True)
            stands = {size: _stand(stack, work, size, url_for(size), per_round * rounds, 8 + i)
                      for i, size in enumerate(wanted_sizes)}
            if timing_lock:
                stack.enter_context(_locked(timing_lock))
            # every size's database read through once, after all were seeded (a later seeding's writes would
            # push an earlier size's rows out of the page cache): ``seed.read_into_memory``
            cached = sum(read_into_memory(Path(s.prep.data_dir)) for s in stands.values())
            waited = _until_idle([s.server.cpu_seconds for s in stands.values()]
                                 + ([also_idle] if also_idle else []))
            ctx = multiprocessing.get_context("spawn")
            for s in stands.values():
                s.pool = stack.enter_context(ctx.Pool(1))
                warm, s.wanted = s.wanted[:WARM_UP], s.wanted[WARM_UP:]
                s.pool.apply(_start_client, (s.server.target, s.prep, warm))
            floor = _floor(stack, ctx)
            ticks = cpu_times()
            for size in round_order([*wanted_sizes, 0], rounds):  # 0: the floor
                (stands[size] if size else floor).round(per_round)
            steal = _steal_note(ticks)
            p99 = {size: percentile(s.times, 99) * 1000 for size, s in stands.items()}
            p50 = {size: percentile(s.times, 50) * 1000 for size, s in stands.items()}
            seeding = "; ".join(f"{size:,} seeded in {s.seeded_s:.0f} s" for size, s in stands.items())
            cpu = "".join(f"; {s.cpu_note()}" for s in stands.values())
            disk = ", ".join(f"{s.disk_read / 1e6:.1f} MB at {size:,}" for size, s in stands.items())
            handler = "".join(f"; {n}" for size, s in stands.items() if (n := s.handler_note(_log(work, size))))
            handler += floor.note() + steal
        latency["lookup p99 ms vs stored certificates"] = sorted(p99.items())
        latency["lookup p50 ms vs stored certificates"] = sorted(p50.items())
        small, large = mode.repo_small, mode.repo_large
        ratio = p99[large] / p99[small]
        met = ratio <= 1.5 and p99[large] <= 5.0
        return Row(figure, p99[large], p99[small], ratio, TARGET, met, "ms",
                   f"GetCertificate over gRPC, sequential, {per_round * rounds} timed lookups per size in {rounds} "
                   f"rounds alternating between the sizes (ABBA); p50 {p50[large]:.2f} vs {p50[small]:.2f} ms"
                   f"{cpu}{handler}; {seeding}; every database read into the page cache before the rounds "
                   f"({cached / 1e9:.2f} GB in all), the disks then read {disk} during the rounds; timed once "
                   f"every server was idle (after {waited:.0f} s)",
                   fairness=f"a node and server --workers {SERVER_WORKERS} per size, the same sequential client "
                            "process for each, sizes timed in alternating rounds")
    except Exception as exc:  # noqa: BLE001 - reported as a row
        return not_measured(figure, TARGET, f"{type(exc).__name__}: {exc}")


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json
    import tempfile

    from bench.core import MODES

    ap = argparse.ArgumentParser(description="the lookup figure alone, on SQLite")
    ap.add_argument("--mode", default="quick", choices=sorted(MODES))
    ap.add_argument("--lock", default="", help="a file to flock around the timed rounds only (not the seeding)")
    args = ap.parse_args(argv)
    latency: dict[str, list[tuple[float, float]]] = {}
    row = lookup_row(MODES[args.mode], Path(tempfile.mkdtemp(prefix="hutong-bench-lookup-")), latency,
                     timing_lock=args.lock)
    print(json.dumps({**row.as_dict(), "series": latency}, ensure_ascii=False, indent=1))
    return 0 if row.met is not None else 1


if __name__ == "__main__":
    raise SystemExit(main())
