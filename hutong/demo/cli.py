"""``hutong demo [--out DIR]``."""

from __future__ import annotations

import argparse
from pathlib import Path


def _demo(args: argparse.Namespace) -> int:
    from hutong.demo.runner import run

    return run(args.out)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("demo", help="a hub and two provinces on loopback run the register-once scenario",
                       description="Starts a hub and two province nodes on 127.0.0.1 (own SoftHSM2 token and "
                       "database each), runs DESIGN.md §9 step by step through the SDK and prints what happened. "
                       "Exit status 0 when every step passed, 1 when one failed.",
                       epilog="example:\n  hutong demo --out demo-out   # keeps *.pdf, *.jws, *.jwt, *.pem, "
                       "trust-list.jws and logs/ (the nodes' logs)",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, help="keep the artefacts and node logs here (default: nothing is kept)")
    p.set_defaults(func=_demo)
