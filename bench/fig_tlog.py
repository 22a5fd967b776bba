"""Audited writes per second with 16 concurrent writers on PostgreSQL: the Merkle log against the linear chain.

An audited write is one transaction holding an act (a row) and its audit record. The baseline is the
linear hash chain the audit log used to be, kept here only as a baseline: every writer takes the
chain's lock, reads the tail and links its record to it, so writers queue on the tail. The subject is
an audited act whose outcome nobody reads, written with ``hutong.prepared.write`` (``add`` and
``hutong.audit.record``), as a platform's certificate read records its access line (``consent.record_access``)
-- here the act is one inserted row, so that the figure is the log's cost, not an act's -- on PostgreSQL one
prepared statement, one round trip. An act that reads an outcome first (a seal's use,
``SealService.record_use_now``: the grant's charge, then its row count) sends its record with the ``COMMIT``, a
round trip more; acts written in an ORM session use ``audit.append``, which ``--connection`` measures. The
node's integrator thread sequences and signs batches in the benchmark's parent process meanwhile (writers: 2
processes x 8 threads). After the load, the
time the integrator needs to drain what is left is reported too. Both run in the same run on the same
throw-away PostgreSQL cluster, interleaved.

    .venv/bin/python -m bench.fig_tlog [--seconds 5] [--rounds 3] [--url postgresql://...]
    hutong bench --only tlog [--quick]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import multiprocessing
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import BigInteger, Column, Connection, MetaData, Table, Text, bindparam, insert, text

from bench.core import Mode, Row, not_measured, percentile, ratio_row
from hutong import audit, prepared
from hutong.db import Database

FIGURE = "audited writes/s, 16 writers on PostgreSQL: Merkle log vs linear chain"
WRITERS = 16
TARGET_RATIO = 4.0
FAIRNESS = "same run, same cluster, interleaved rounds: 16 writers in 2 processes on both sides, medians"
_BASELINE_LOCK = 991_337

_DDL = [
    "CREATE TABLE IF NOT EXISTS bench_acts (id BIGSERIAL PRIMARY KEY, payload TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS bench_linear_chain (seq BIGINT PRIMARY KEY, at TIMESTAMPTZ NOT NULL, "
    "actor VARCHAR(200) NOT NULL, action VARCHAR(100) NOT NULL, target VARCHAR(300) NOT NULL, "
    "outcome VARCHAR(40) NOT NULL, details TEXT NOT NULL, prev_hash VARCHAR(64) NOT NULL, hash VARCHAR(64) NOT NULL)",
]


def linear_chain_append(s: Connection, *, actor: str, action: str, target: str, details: dict[str, object]) -> None:
    """The baseline: the former audit.append (lock the tail, read it, link to it)."""
    s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _BASELINE_LOCK})
    row = s.execute(text("SELECT seq, hash FROM bench_linear_chain ORDER BY seq DESC LIMIT 1")).first()
    seq, prev = (row[0] + 1, row[1]) if row else (1, "0" * 64)
    at = datetime.now(UTC)
    body = json.dumps({"seq": seq, "at": at.isoformat(timespec="microseconds"), "actor": actor, "action": action,
                       "target": target, "outcome": "ok", "details": json.dumps(details, sort_keys=True)},
                      sort_keys=True, separators=(",", ":")).encode()
    s.execute(text("INSERT INTO bench_linear_chain VALUES (:seq, :at, :actor, :action, :target, 'ok', :details, "
                   ":prev, :hash)"),
              {"seq": seq, "at": at, "actor": actor, "action": action, "target": target,
               "details": json.dumps(details, sort_keys=True), "prev": prev,
               "hash": hashlib.sha256(prev.encode() + body).hexdigest()})


# The act: one row, the same on every side.
_ACTS = Table("bench_acts", MetaData(), Column("id", BigInteger, primary_key=True), Column("payload", Text))
_ACT = insert(_ACTS).values(payload=bindparam("payload"))
_ACT_SQL = text("INSERT INTO bench_acts (payload) VALUES (:payload)")

# One audited write of writer ``i``, its ``n``-th: the act and its record in one transaction.
AuditedWrite = Callable[[Database, int, int], None]


def linear_write(db: Database, i: int, n: int) -> None:
    """The baseline, as it ran when the node kept the chain: the act and the chain's record on the act's
    connection (``Database.transaction``)."""
    with db.transaction() as s:
        s.execute(_ACT_SQL, {"payload": f"w{i}-{n}"})
        linear_chain_append(s, actor=f"writer-{i}", action="bench.act", target=f"w{i}-{n}", details={"n": n})


def merkle_write(db: Database, i: int, n: int) -> None:
    """The subject: the act and ``audit.record`` in one ``hutong.prepared.write`` (on PostgreSQL one prepared
    statement, one round trip)."""
    with prepared.write(db) as tx:
        tx.add(_ACT, {"payload": f"w{i}-{n}"})
        audit.record(tx, actor=f"writer-{i}", action="bench.act", target=f"w{i}-{n}", details={"n": n})


def merkle_connection_write(db: Database, i: int, n: int) -> None:
    """``audit.append`` in a transaction opened as an ORM-free act opens one (``--connection``): the other way
    the services record, for comparison."""
    with db.transaction() as s:
        s.execute(_ACT_SQL, {"payload": f"w{i}-{n}"})
        audit.append(s, actor=f"writer-{i}", action="bench.act", target=f"w{i}-{n}", details={"n": n})


def no_log(db: Database, i: int, n: int) -> None:
    """The ceiling: the subject's act alone, no audit record (``--ceiling``): what the harness itself allows."""
    with prepared.write(db) as tx:
        tx.add(_ACT, {"payload": f"w{i}-{n}"})


APPENDERS: dict[str, AuditedWrite] = {"linear": linear_write, "merkle": merkle_write,
                                      "merkle-connection": merkle_connection_write, "none": no_log}
PROCESSES = 2


def _threads(db: Database, write: AuditedWrite, seconds: float, writers: int) -> tuple[float, list[float], float]:
    """(elapsed seconds, latencies, this process's CPU seconds) of ``writers`` threads writing for ``seconds``."""
    latencies: list[list[float]] = [[] for _ in range(writers)]
    start = threading.Barrier(writers + 1)
    deadline = [0.0]

    def writer(i: int) -> None:
        start.wait()
        n = 0
        while time.perf_counter() < deadline[0]:
            t0 = time.perf_counter()
            write(db, i, n)
            latencies[i].append(time.perf_counter() - t0)
            n += 1

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    t0, cpu0 = time.perf_counter(), time.process_time()
    deadline[0] = t0 + seconds
    start.wait()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, [x for xs in latencies for x in xs], time.process_time() - cpu0


def _child(url: str, which: str, seconds: float, threads: int, start_at: float) -> tuple[float, list[float], float]:
    db = Database(url)
    time.sleep(max(0.0, start_at - time.time()))
    try:
        return _threads(db, APPENDERS[which], seconds, threads)
    finally:
        db.dispose()


@dataclass(frozen=True)
class Load:
    rate: float  # audited writes/s
    p99_ms: float
    writes: int
    writer_cpu_ms: float  # the writer processes' CPU per audited write (start-up excluded)
    server_cpu_ms: float  # the PostgreSQL server's CPU per audited write (NaN: not readable)
    parent_cpu_ms: float  # this process's CPU per audited write: the integrator thread, on the log's side


def writer_pool() -> ProcessPoolExecutor:
    """The writer processes, as a node serves with ``--workers``: one Python process cannot drive 16 writers
    (GIL). Kept for the whole run: rounds after the first start at once, without spawning and importing."""
    return ProcessPoolExecutor(PROCESSES, mp_context=multiprocessing.get_context("spawn"))


def load(url: str, which: str, seconds: float, *, pool: ProcessPoolExecutor | None = None,
         delay: float = 3.0, server_cpu: Callable[[], float] | None = None) -> Load:
    """WRITERS writers spread over the pool's PROCESSES processes, writing for ``seconds`` from ``delay``
    seconds on (time for every child to start, connect and wait: less once the pool's processes run)."""
    if pool is None:
        with writer_pool() as own:
            return load(url, which, seconds, pool=own, delay=delay, server_cpu=server_cpu)
    start_at = time.time() + delay
    server0, parent0 = server_cpu() if server_cpu else math.nan, time.process_time()
    futures = [pool.submit(_child, url, which, seconds, WRITERS // PROCESSES, start_at) for _ in range(PROCESSES)]
    results = [f.result() for f in futures]
    server, parent = (server_cpu() if server_cpu else math.nan) - server0, time.process_time() - parent0
    flat = [x for _, lat, _ in results for x in lat]
    elapsed = max(e for e, _, _ in results)
    cpu = sum(c for _, _, c in results)
    per = 1000 / max(1, len(flat))
    return Load(len(flat) / elapsed, percentile(flat, 99) * 1000, len(flat), cpu * per, server * per, parent * per)


def server_cpu_reader(url: str) -> Callable[[], float] | None:
    """CPU seconds the PostgreSQL server has used so far -- postmaster, live children, and the children it has
    reaped (its cutime/cstime) -- when the cluster runs on this machine, as the bench's own does; else None."""
    db = Database(url)
    try:
        with db.transaction(readonly=True) as c:
            data = str(c.scalar(text("SHOW data_directory")))
    except Exception:  # not allowed to read the setting: not our cluster
        return None
    finally:
        db.dispose()
    try:
        pid = int((Path(data) / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    tick = os.sysconf("SC_CLK_TCK")

    def read() -> float:
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()  # state, ppid, ... (after the command)
            except OSError:
                continue  # the process ended meanwhile
            if stat.parent.name == str(pid):
                total += sum(int(x) for x in fields[11:15])  # utime, stime, cutime, cstime
            elif fields[1] == str(pid):
                total += int(fields[11]) + int(fields[12])
        return total / tick

    return read


# -- a throw-away PostgreSQL cluster ------------------------------------------------------------------


def _pg_bindir() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@contextmanager
def postgres() -> Iterator[str]:
    bindir = _pg_bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL is not installed (no initdb under /usr/lib/postgresql)")
    root = Path(tempfile.mkdtemp(prefix="hutong-bench-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    subprocess.run(_as_postgres([str(bindir / "initdb"), "-D", str(root / "data"), "-A", "trust", "-U", "hutong"]),
                   check=True, capture_output=True)
    opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c max_connections=200"
    subprocess.run(_as_postgres([str(bindir / "pg_ctl"), "-D", str(root / "data"), "-o", opts, "-l",
                                 str(root / "log"), "-w", "start"]), check=True, capture_output=True)
    try:
        base = f"postgresql+psycopg://hutong@127.0.0.1:{port}"
        subprocess.run(_as_postgres([str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "hutong",
                                     "bench"]), check=True, capture_output=True)
        yield f"{base}/bench"
    finally:
        subprocess.run(_as_postgres([str(bindir / "pg_ctl"), "-D", str(root / "data"), "-m", "immediate", "stop"]),
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def run(url: str, *, seconds: float = 5.0, rounds: int = 3, ceiling: bool = False,
        connection: bool = False) -> tuple[Row, dict[str, object]]:
    from hutong.node import init_node

    data_dir = Path(tempfile.mkdtemp(prefix="hutong-bench-tlog-"))
    token = "bench-tlog-" + uuid.uuid4().hex[:6]
    (data_dir / "hutong.toml").write_text(f'database_url = "{url}"\n[node]\nid = "bench"\nname = "Bench"\n'
                                          f'[hsm]\ntoken_label = "{token}"\n')
    node = init_node(data_dir)
    try:
        with node.db.session() as s:
            for ddl in _DDL:
                s.execute(text(ddl))
        node.tlog.integrate_all()
        cpu = server_cpu_reader(url)
        subject: list[Load] = []
        baseline: list[Load] = []
        lags: list[float] = []
        unlogged: list[Load] = []
        on_connection: list[Load] = []
        with writer_pool() as pool:
            for i in range(rounds):
                baseline.append(load(url, "linear", seconds, pool=pool, delay=3.0 if i == 0 else 1.0,
                                     server_cpu=cpu))
                stop = node.tlog.start()
                subject.append(load(url, "merkle", seconds, pool=pool, delay=1.0, server_cpu=cpu))
                t0 = time.perf_counter()
                node.tlog.integrate_all()  # what the integrator had not sequenced yet when the load stopped
                lags.append(time.perf_counter() - t0)
                stop.set()
                if ceiling:
                    unlogged.append(load(url, "none", seconds, pool=pool, delay=1.0, server_cpu=cpu))
                if connection:
                    stop = node.tlog.start()
                    on_connection.append(load(url, "merkle-connection", seconds, pool=pool, delay=1.0,
                                              server_cpu=cpu))
                    node.tlog.integrate_all()
                    stop.set()
        report = node.audit.verify()
        pending = report.pending
    finally:
        node.close()
        shutil.rmtree(data_dir, ignore_errors=True)
    def med(loads: list[Load], field: str) -> float:
        return statistics.median(getattr(x, field) for x in loads)

    value, base = med(subject, "rate"), med(baseline, "rate")
    p99_value, p99_base = med(subject, "p99_ms"), med(baseline, "p99_ms")
    cpu_value, cpu_base = med(subject, "writer_cpu_ms"), med(baseline, "writer_cpu_ms")
    per_round = ", ".join(f"{s.rate:.0f}/{b.rate:.0f}" for s, b in zip(subject, baseline, strict=True))
    server_value, server_base = med(subject, "server_cpu_ms"), med(baseline, "server_cpu_ms")
    integrator = med(subject, "parent_cpu_ms")
    if unlogged:
        per_round += (f"; the act alone, no log: {med(unlogged, 'rate'):.0f}/s (writer CPU "
                      f"{med(unlogged, 'writer_cpu_ms'):.2f}, server CPU {med(unlogged, 'server_cpu_ms'):.2f} ms)")
    if on_connection:
        per_round += (f"; audit.append on Database.transaction: {med(on_connection, 'rate'):.0f}/s (writer CPU "
                      f"{med(on_connection, 'writer_cpu_ms'):.2f}, server CPU "
                      f"{med(on_connection, 'server_cpu_ms'):.2f} ms)")
    note = (f"p99 {p99_value:.1f} ms vs {p99_base:.1f} ms (linear chain); CPU per write, log vs chain: writers "
            f"{cpu_value:.2f} vs {cpu_base:.2f} ms, PostgreSQL {server_value:.2f} vs {server_base:.2f} ms, "
            f"integrator {integrator:.2f} ms; rounds (log/chain) {per_round}; integrator drained the rest in "
            f"{max(lags):.2f} s; log verified: {report.ok} ({report.records} records, "
            f"{report.checkpoints} checkpoints)")
    row = ratio_row(FIGURE, value, base, minimum=TARGET_RATIO, unit="/s", note=note, fairness=FAIRNESS)
    extra: dict[str, object] = {"p99_ms": p99_value, "baseline_p99_ms": p99_base, "writer_cpu_ms": cpu_value,
                                "baseline_writer_cpu_ms": cpu_base, "server_cpu_ms": server_value,
                                "baseline_server_cpu_ms": server_base, "integrator_cpu_ms": integrator,
                                "drain_s": max(lags),
                                "pending_after": pending, "verified": report.ok}
    return row, extra


# Seconds of load per side and rounds, by bench mode: quick stays well under a minute with the cluster's start.
PLAN = {"tiny": (0.4, 1), "quick": (3.0, 3), "full": (6.0, 5)}


def phase(mode: Mode) -> list[Row]:
    """The ``hutong bench`` phase: a throw-away PostgreSQL cluster, both sides interleaved, medians."""
    if _pg_bindir() is None:
        return [not_measured(FIGURE, f">= {TARGET_RATIO:g}x", "PostgreSQL binaries are absent (run scripts/setup)")]
    seconds, rounds = PLAN.get(mode.name, PLAN["quick"])
    with postgres() as url:
        row, extra = run(url, seconds=seconds, rounds=rounds)
    if not extra["verified"]:
        row.met = False
    return [row]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="load time per round and side")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--url", default=None, help="PostgreSQL database URL (default: a throw-away cluster)")
    parser.add_argument("--ceiling", action="store_true",
                        help="also measure the act without any audit record each round (the harness's own limit)")
    parser.add_argument("--connection", action="store_true",
                        help="also measure audit.append in a Database.transaction each round (the services' other way)")
    args = parser.parse_args()
    if args.url:
        row, extra = run(args.url, seconds=args.seconds, rounds=args.rounds, ceiling=args.ceiling,
                         connection=args.connection)
    else:
        with postgres() as url:
            row, extra = run(url, seconds=args.seconds, rounds=args.rounds, ceiling=args.ceiling,
                             connection=args.connection)
    print(json.dumps({**row.as_dict(), **extra}, indent=2))


if __name__ == "__main__":
    main()
