"""``hutong bench [--quick] --out DIR``: the performance figures of issue 8 (see bench/README.md)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

# The phases, named here so that `hutong --help` does not import the benchmark machinery (bench.runner).
PHASES = ("hsm", "tokens", "identity", "seal", "cert", "mixed", "cli", "tlog")


def _bench(args: argparse.Namespace) -> int:
    from bench.runner import PHASES as RUNNER_PHASES
    from bench.runner import run

    assert RUNNER_PHASES == PHASES, "bench.cli.PHASES must list bench.runner.PHASES"

    mode = "tiny" if args.tiny else "quick" if args.quick else "full"
    phases = tuple(p.strip() for p in args.only.split(",")) if args.only else PHASES
    unknown = set(phases) - set(PHASES)
    if unknown:
        raise SystemExit(f"error: unknown phase(s) {', '.join(sorted(unknown))}; known: {', '.join(PHASES)}")
    run(mode, args.out, phases)
    return 0


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "bench", help="measure performance against peers and limits (table, results.json, PNG plots)")
    p.add_argument("--quick", action="store_true", help="under 3 minutes: shorter runs, 100,000 certificates, 5 MB")
    p.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # the smoke test's shape-only run
    p.add_argument("--out", type=Path, default=Path("bench-out"), help="directory for results (default bench-out)")
    p.add_argument("--only", default="", help=f"comma-separated phases to run (default all: {','.join(PHASES)})")
    p.set_defaults(func=_bench)
