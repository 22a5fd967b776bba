"""A concurrent mixed load against ``hutong serve --workers N``: counts every status, so INTERNAL shows.

``python -m bench.mixed_load --seconds 300 --threads 8 --workers 2`` prepares a fresh node (the benchmark
world), starts the server and runs, from several threads at once, a mix of what platforms do: seal PDFs at
B-B, B-T and B-LT (several in parallel: the asn1crypto and pyHanko paths that once failed under
concurrency), verify sealed PDFs, look seals and keys up, and send malformed requests. It prints one JSON
line: calls and outcomes per operation (status code or ``OK``) and latency percentiles, and exits 1 if any
call answered INTERNAL or UNKNOWN. ``run`` is also what the test suite calls, bounded by a count of calls.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.pdfgen import make_pdf
from bench.world import PORTAL, Prepared, Server, channel, platform_metadata, prepare_node

LEVELS = ("B_B", "B_T", "B_T", "B_LT")  # B-T most often: it is the default and the one that stalled


@dataclass
class Tally:
    outcomes: Counter[str] = field(default_factory=Counter)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, op: str, outcome: str, seconds: float) -> None:
        with self.lock:
            self.outcomes[f"{op} {outcome}"] += 1
            self.latencies[op].append(seconds)

    @property
    def internal(self) -> int:
        return sum(n for k, n in self.outcomes.items() if k.endswith((" INTERNAL", " UNKNOWN")))

    def summary(self) -> dict[str, Any]:
        def pct(values: list[float], p: float) -> float:
            s = sorted(values)
            return round(s[min(len(s) - 1, int(p * len(s)))], 3) if s else 0.0

        return {"calls": sum(self.outcomes.values()), "internal_or_unknown": self.internal,
                "outcomes": dict(sorted(self.outcomes.items())),
                "latency_s": {op: {"n": len(v), "p50": pct(v, 0.5), "p99": pct(v, 0.99), "max": pct(v, 1.0)}
                              for op, v in sorted(self.latencies.items())}}


def _operations(target: str, prep: Prepared) -> dict[str, Callable[[random.Random], None]]:
    from hutong.common.v1 import common_pb2
    from hutong.identity.v1 import identity_pb2, identity_pb2_grpc
    from hutong.seal.v1 import seal_pb2, seal_pb2_grpc

    ch = channel(target)
    seals = seal_pb2_grpc.SealServiceStub(ch)  # type: ignore[no-untyped-call]
    ident = identity_pb2_grpc.IdentityServiceStub(ch)  # type: ignore[no-untyped-call]
    md = platform_metadata(PORTAL, prep.portal_secret)
    pdfs = [make_pdf(pages=1), make_pdf(pages=3)]
    sealed: list[bytes] = []

    def sign(rng: random.Random) -> None:
        level = rng.choice(LEVELS)
        pdf = rng.choice(pdfs)
        header = seal_pb2.SignPdfHeader(
            seal_id=prep.seal_id, placement=seal_pb2.Placement(page=1, x=400, y=60, width=120, height=120),
            reason="load", level=seal_pb2.PadesLevel.Value(f"PADES_LEVEL_{level}"), document_size=len(pdf))
        reqs = [seal_pb2.SignPdfRequest(header=header), seal_pb2.SignPdfRequest(chunk=common_pb2.Chunk(data=pdf))]
        out = b"".join(m.chunk.data for m in seals.SignPdf(iter(reqs), metadata=md, timeout=300))
        if len(sealed) < 8:
            sealed.append(out)

    def verify(rng: random.Random) -> None:
        pdf = rng.choice(sealed) if sealed else pdfs[0]
        seals.VerifyPdf(iter([seal_pb2.VerifyPdfRequest(chunk=common_pb2.Chunk(data=pdf))]), metadata=md,
                        timeout=300)

    def lookup(rng: random.Random) -> None:
        if rng.random() < 0.5:
            seals.GetSeal(seal_pb2.GetSealRequest(seal_id=prep.seal_id), metadata=md, timeout=60)
        else:
            ident.GetJwks(identity_pb2.GetJwksRequest(), timeout=60)

    def bad(rng: random.Random) -> None:
        junk = rng.choice([b"\x0a\xff\xff\xff\xff\x0f", b"\x0f", rng.randbytes(20)])
        ch.unary_unary("/hutong.seal.v1.SealService/ListSeals", request_serializer=lambda b: b,
                       response_deserializer=lambda b: b)(junk, metadata=md, timeout=60)

    def bad_page(rng: random.Random) -> None:
        page = common_pb2.PageRequest(page_size=rng.choice([-(2**31), 5]), page_token=rng.choice(["²", "1" * 30, ""]))
        seals.ListSeals(seal_pb2.ListSealsRequest(page=page), metadata=md, timeout=60)

    return {"SignPdf": sign, "VerifyPdf": verify, "lookup": lookup, "undecodable": bad, "ListSeals": bad_page}


WEIGHTS = {"SignPdf": 6, "VerifyPdf": 2, "lookup": 2, "undecodable": 1, "ListSeals": 1}


def run(target: str, prep: Prepared, *, threads: int, seconds: float | None = None, calls_per_thread: int | None = None,
        seed: int = 0) -> Tally:
    """Drive the mix from ``threads`` threads, until ``seconds`` pass or each made ``calls_per_thread`` calls."""
    import grpc

    tally = Tally()
    deadline = time.monotonic() + seconds if seconds else None
    names = [n for n, w in WEIGHTS.items() for _ in range(w)]

    def worker(k: int) -> None:
        rng = random.Random(seed * 1000 + k)
        ops = _operations(target, prep)  # a connection per thread
        n = 0
        while (deadline is None or time.monotonic() < deadline) and (calls_per_thread is None or n < calls_per_thread):
            name = rng.choice(names)
            start = time.monotonic()
            try:
                ops[name](rng)
                outcome = "OK"
            except grpc.RpcError as err:
                outcome = err.code().name  # type: ignore[attr-defined]
            tally.add(name, outcome, time.monotonic() - start)
            n += 1

    pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return tally


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=300.0)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hutong-mixed-load-") as d:
        prep = prepare_node(Path(d) / "node", people=2)
        with Server(Path(d) / "node", args.workers, Path(d) / "server.log") as server:
            started = time.monotonic()
            tally = run(server.target, prep, threads=args.threads, seconds=args.seconds, seed=args.seed)
            elapsed = time.monotonic() - started
        print(json.dumps({"seconds": round(elapsed, 1), "threads": args.threads, "workers": args.workers,
                          **tally.summary()}, ensure_ascii=False))
    return 1 if tally.internal else 0


if __name__ == "__main__":
    sys.exit(main())
