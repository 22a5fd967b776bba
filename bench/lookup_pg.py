"""Lookup by identifier on PostgreSQL: the full-mode lookup figure (p99 at 1,000,000 stored certificates against
10,000) with the node on a throw-away PostgreSQL cluster instead of the embedded SQLite.

    .venv/bin/python -m bench.lookup_pg [--sizes 10000,1000000] [--lookups 2000] [--url postgresql://...]

The same server (``hutong serve --workers 2``), client, seeding (``bench.seed``) and measurement
(``fig_cert.lookup_row``) as ``hutong bench`` in full mode; only the database differs. Prints the row as JSON.
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


def main(argv: list[str] | None = None) -> int:
    from bench import fig_cert
    from bench.core import MODES
    from bench.world import ORG_NAME, ORG_USCC, SERVER_WORKERS, Server, prepare_node

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,1000000", help="the small and the large repository size")
    ap.add_argument("--lookups", type=int, default=2000, help="timed lookups per size")
    ap.add_argument("--url", default="", help="an empty PostgreSQL database (default: a throw-away cluster)")
    args = ap.parse_args(argv)
    small, large = (int(x) for x in args.sizes.split(","))
    mode = replace(MODES["full"], repo_small=small, repo_large=large, lookups=args.lookups)
    work = Path(tempfile.mkdtemp(prefix="hutong-bench-pglookup-"))
    with _database(args.url) as url:
        prep = prepare_node(work / "node", database_url=url)
        with Server(work / "node", SERVER_WORKERS, work / "server.log") as server:
            client = fig_cert._client(server.target, prep)
            cert = client.issue(prep.type_code, ORG_USCC, ORG_NAME, fig_cert.licence_fields(prep))
            latency: dict[str, list[tuple[float, float]]] = {}
            row = fig_cert.lookup_row(mode, server.target, prep, cert, latency, server.cpu_seconds)
    row.figure += " [PostgreSQL]"
    print(json.dumps({**row.as_dict(), "series": latency}, ensure_ascii=False, indent=1))
    return 0 if row.met is not None else 1


if __name__ == "__main__":
    sys.exit(main())
