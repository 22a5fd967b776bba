"""Lookup by identifier on PostgreSQL: the full-mode lookup figure (p99 at 1,000,000 stored certificates against
10,000, 100,000 between) with the nodes on a throw-away PostgreSQL cluster instead of the embedded SQLite.

    .venv/bin/python -m bench.lookup_pg [--sizes 10000,1000000] [--lookups 2000] [--url postgresql://...] [--lock F]

The same measurement as ``hutong bench`` in full mode (``fig_lookup.lookup_row``: a node and
``hutong serve --workers 2`` per size, seeded by ``bench.seed``, sizes timed in alternating rounds); only the
database differs: each size's node has a database of its own in the one cluster. Prints the row as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path


@contextlib.contextmanager
def _database(url: str) -> Iterator[str]:
    if url:
        yield url
        return
    from bench.fig_tlog import postgres

    with postgres() as fresh:
        yield fresh


def database_per_size(url: str, sizes: list[int]) -> dict[int, str]:
    """An empty database per repository size beside ``url``'s (the first size uses ``url`` itself)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(url)
    urls = {sizes[0]: url}
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for size in sizes[1:]:
                name = f"{base.database}_{size}"
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
                conn.execute(text(f'CREATE DATABASE "{name}"'))
                urls[size] = base.set(database=name).render_as_string(hide_password=False)
    finally:
        engine.dispose()
    return urls


def main(argv: list[str] | None = None) -> int:
    from bench import fig_lookup
    from bench.core import MODES
    from bench.fig_tlog import server_cpu_reader

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,1000000", help="the small and the large repository size")
    ap.add_argument("--lookups", type=int, default=2000, help="timed lookups per size")
    ap.add_argument("--url", default="", help="an empty PostgreSQL database (default: a throw-away cluster)")
    ap.add_argument("--lock", default="", help="a file to flock around the timed rounds only (not the seeding)")
    args = ap.parse_args(argv)
    small, large = (int(x) for x in args.sizes.split(","))
    mode = replace(MODES["full"], repo_small=small, repo_large=large, lookups=args.lookups)
    work = Path(tempfile.mkdtemp(prefix="hutong-bench-pglookup-"))
    latency: dict[str, list[tuple[float, float]]] = {}
    with _database(args.url) as url:
        urls = database_per_size(url, fig_lookup.sizes(mode))
        # The rounds wait until the cluster is idle too, not only the servers: an autovacuum worker or a
        # checkpoint the seeding left would otherwise run during them.
        row = fig_lookup.lookup_row(mode, work, latency, url_for=urls.__getitem__, timing_lock=args.lock,
                                    also_idle=server_cpu_reader(url))
    row.figure += " [PostgreSQL]"
    print(json.dumps({**row.as_dict(), "series": latency}, ensure_ascii=False, indent=1))
    return 0 if row.met is not None else 1


if __name__ == "__main__":
    sys.exit(main())
