"""PostgreSQL backend CPU per audit event insert: the range-partitioned ``audit_events`` (migration 0016) against a
plain table ``LIKE`` it (same columns, defaults and indexes), on one throw-away cluster.

Each insert is an audited act's record as ``hutong.audit.append`` writes it (``INSERT ... RETURNING seq``, its
own transaction, a prepared statement), and the figure is the serving backend's own CPU time (``/proc``), in
alternating blocks, so the other load on the machine moves both sides alike. Prints the per-block figures.

    .venv/bin/python -m bench.audit_partition_cpu [--inserts 4000] [--blocks 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics

_SQL = ("INSERT INTO {table} (at, actor, action, target, outcome, details, request_id) "
        "VALUES (now(), %s, 'identity.login', %s, 'ok', %s, %s) RETURNING seq")


def _cpu(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (the PostgreSQL backend: same machine)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    import psycopg

    from bench.fig_tlog import postgres
    from hutong.db import Database

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inserts", type=int, default=4000, help="inserts per block")
    parser.add_argument("--blocks", type=int, default=5)
    args = parser.parse_args()
    tables = ("audit_events", "plain_events")
    with postgres() as url:
        Database(url).migrate()
        dsn = url.replace("postgresql+psycopg", "postgresql")
        with psycopg.connect(dsn, autocommit=True) as c:
            c.execute("CREATE TABLE plain_events (LIKE audit_events INCLUDING ALL)")
        conns = {t: psycopg.connect(dsn, autocommit=True, prepare_threshold=0) for t in tables}
        pids = {t: int(conns[t].execute("SELECT pg_backend_pid()").fetchone()[0]) for t in tables}  # type: ignore[index]
        us: dict[str, list[float]] = {t: [] for t in tables}
        for _ in range(args.blocks):
            for t in tables:
                sql, start = _SQL.format(table=t), _cpu(pids[t])
                for i in range(args.inserts):
                    conns[t].execute(sql, ("person:abc", f"t{i}", '{"client": "x"}', f"r{i}"))  # type: ignore[arg-type]
                us[t].append((_cpu(pids[t]) - start) / args.inserts * 1e6)
        for conn in conns.values():
            conn.close()
    print(json.dumps({f"{t}_us_per_insert": {"blocks": [round(v) for v in us[t]], "median": statistics.median(us[t])}
                      for t in tables}, indent=2))


if __name__ == "__main__":
    main()
