"""Server CPU per token refresh, broken down: one served process under the refresh figure's load, against the same
process answering gRPC health checks (what any call costs the sync server, the interceptor and the access line),
and with the refresh read path forced on every grant (``--compare-read``: what remembering a worker's own refresh
tokens saves, ``identity_svc.rotations``).

Why one process in this one: ``serve --workers 2`` adds a second process and the parent, and the figure then
measures their sum; here the served process is this process, so its CPU (``getrusage``: every thread, nothing of
the client processes) divided by the calls is the server's CPU per call, and the variants alternate in blocks
so the other load on the machine moves them alike. Prints one line per block and the medians.

    .venv/bin/python -m bench.refresh_cpu [--seconds 4] [--blocks 3] [--compare-read] [--in-process N]

``--in-process N``: also N refreshes called in this process (no gRPC, no other thread), each variant alternately:
the handler's thread CPU per refresh and, from a profile of another N, the Python calls per refresh -- a count
the machine's other load cannot move.
"""

from __future__ import annotations

import argparse
import logging
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import fig_identity
from bench.core import run_load
from bench.world import Prepared, channel, free_port, prepare_node


def health_op(args: tuple[str, Prepared]) -> Any:
    """A gRPC health check: the served call with the least work of its own."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    stub = health_pb2_grpc.HealthStub(channel(args[0]))
    request = health_pb2.HealthCheckRequest(service="")
    return lambda: stub.Check(request, timeout=30)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _remembering(on: bool) -> None:
    """``on``: refresh tokens this process issued are remembered (the product); off: every refresh reads its token."""
    from identity_svc import rotations

    for name in ("take", "remember"):
        original = getattr(rotations.RecentRotations, f"_bench_{name}", None)
        if original is None:
            original = getattr(rotations.RecentRotations, name)
            setattr(rotations.RecentRotations, f"_bench_{name}", original)
        if on:
            setattr(rotations.RecentRotations, name, original)
        else:
            setattr(rotations.RecentRotations, name, lambda self, *args: None)


def _in_process(node: Any, prep: Prepared, n: int, remember: bool) -> tuple[float, float]:
    """Thread CPU (ms) and Python calls per refresh, ``n`` refreshes of one session in this process."""
    import cProfile
    import pstats

    from bench.world import PASSWORD, PORTAL
    from identity_svc import login, platforms, sessions
    from identity_svc.core import Identity

    _remembering(remember)
    idn = Identity.of(node)
    platform = platforms.get_platform(idn, PORTAL)
    request = login.LoginRequest(id_number=prep.people[0], password=PASSWORD, totp_code="", challenge_id="",
                                 signature=b"", scopes=(), nonce="")
    token = [login.login(idn, platform, request).refresh_token]

    def one() -> None:
        token[0] = sessions.refresh(idn, platform, token[0]).refresh_token

    for _ in range(20):
        one()
    start = time.thread_time()
    for _ in range(n):
        one()
    cpu_ms = (time.thread_time() - start) / n * 1000
    def many() -> None:
        for _ in range(n):
            one()

    profile = cProfile.Profile()
    profile.runcall(many)
    return cpu_ms, pstats.Stats(profile).total_calls / n  # type: ignore[attr-defined]  # set by Stats


def main() -> None:
    from hutong import logs, server
    from hutong.node import open_node

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="load per block")
    parser.add_argument("--blocks", type=int, default=3)
    parser.add_argument("--compare-read", action="store_true", help="also refresh with every token read")
    parser.add_argument("--in-process", type=int, default=0, metavar="N", help="also N refreshes in process")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hutong-refresh-cpu-") as tmp:
        data_dir = Path(tmp) / "node"
        prep = prepare_node(data_dir)
        node = open_node(data_dir)
        logs.setup_logging(logging.INFO, node_id=node.id)
        log_file = (Path(tmp) / "server.log").open("w")
        logging.getLogger().handlers[0].setStream(log_file)  # type: ignore[attr-defined]  # a StreamHandler
        target = f"127.0.0.1:{free_port()}"
        running = server.start_server(node, target)
        try:
            fig_identity.register_people(target, prep)
            server.settle_heap()
            variants: list[tuple[str, Any, bool]] = [("health check", health_op, True),
                                                     ("refresh", fig_identity.refresh_op, True)]
            if args.compare_read:
                variants.append(("refresh, every token read", fig_identity.refresh_op, False))
            per_call: dict[str, list[float]] = {name: [] for name, _, _ in variants}
            for block in range(args.blocks):
                for name, op, remember in variants:
                    _remembering(remember)
                    time.sleep(0.5)  # the previous block's clients gone
                    before = _cpu()
                    res = run_load(op, (target, prep), procs=2, threads=4, seconds=args.seconds)
                    ms = (_cpu() - before) / max(res.ops, 1) * 1000
                    per_call[name].append(ms)
                    print(f"block {block + 1} {name:26s} {res.rate:7.0f}/s  server CPU {ms:.3f} ms/call  "
                          f"client {res.cpu_seconds / max(res.ops, 1) * 1000:.3f} ms  errors {res.errors}", flush=True)
            for block in range(args.blocks if args.in_process else 0):
                for remember in (True, False):
                    ms, calls = _in_process(node, prep, args.in_process, remember)
                    name = "refresh" if remember else "refresh, every token read"
                    print(f"block {block + 1} in process: {name:26s} thread CPU {ms:.3f} ms/refresh, "
                          f"{calls:.0f} Python calls/refresh", flush=True)
            _remembering(True)
            print("medians: " + "; ".join(f"{n} {statistics.median(v):.3f} ms" for n, v in per_call.items()))
        finally:
            running.stop()
            node.close()
            log_file.close()


if __name__ == "__main__":
    main()
