"""``hutong registry import FILE.csv`` and ``hutong platform add|list|remove`` (operators)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hutong.cli import EXIT_OK, data_dir_arg
from identity_svc import platforms, registers
from identity_svc.core import LEVELS, Identity


@contextmanager
def _identity(args: argparse.Namespace) -> Iterator[Identity]:
    from hutong.node import open_node

    node = open_node(args.data_dir)
    try:
        yield Identity.of(node)
    finally:
        node.close()


def _import(args: argparse.Namespace) -> int:
    with _identity(args) as idn:
        report = registers.import_csv(idn, args.file)
    print(f"imported {report.rows} {report.kind} into the embedded register")
    return EXIT_OK


def _platform_json(p: platforms.PlatformInfo) -> dict[str, Any]:
    return {"client_id": p.client_id, "name": p.name, "scopes": sorted(p.scopes), "required_acr": p.required_acr,
            "pairwise": p.pairwise}


def _add(args: argparse.Namespace) -> int:
    with _identity(args) as idn:
        new = platforms.add_platform(idn, client_id=args.client_id, name=args.name or args.client_id,
                                     scopes=args.scope or ["openid"], required_acr=args.required_level,
                                     pairwise=not args.public_subject)
    if args.json:
        print(json.dumps({**_platform_json(new.info), "client_secret": new.client_secret}))
    else:
        print(f"platform {new.info.client_id} added; client secret (shown once, store it now):")
        print(new.client_secret)
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    with _identity(args) as idn:
        rows = platforms.list_platforms(idn)
    if args.json:
        print(json.dumps([_platform_json(p) for p in rows]))
    for p in [] if args.json else rows:
        print(f"{p.client_id}\t{p.required_acr}\t{' '.join(sorted(p.scopes))}\t"
              f"{'pairwise' if p.pairwise else 'public'}\t{p.name}")
    return EXIT_OK


def _remove(args: argparse.Namespace) -> int:
    with _identity(args) as idn:
        platforms.remove_platform(idn, args.client_id)
    print(f"platform {args.client_id} removed; its sessions are revoked")
    return EXIT_OK


def _command(group: Any, name: str, help_: str, func: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = group.add_parser(name, help=help_)
    data_dir_arg(p)
    p.set_defaults(func=func)
    return p


def register(subparsers: Any) -> None:
    registry = subparsers.add_parser("registry", help="the embedded real-name register").add_subparsers(
        dest="sub", required=True)
    imp = _command(registry, "import", "load people.csv (name,id_number) or orgs.csv "
                   "(name,uscc,representative_name,representative_id_number); all rows or none", _import)
    imp.add_argument("file", type=Path)

    platform = subparsers.add_parser("platform", help="relying platforms (OAuth clients)").add_subparsers(
        dest="sub", required=True)
    add = _command(platform, "add", "register a platform; prints its client secret once", _add)
    add.add_argument("client_id")
    add.add_argument("--name", default="")
    add.add_argument("--scope", action="append", choices=platforms.SCOPES,
                     help="allowed scope (repeat); default openid")
    add.add_argument("--required-level", choices=LEVELS, default="substantial")
    add.add_argument("--public-subject", action="store_true",
                     help="give this platform the account id as sub instead of a pairwise one")
    add.add_argument("--json", action="store_true")
    lst = _command(platform, "list", "list platforms", _list)
    lst.add_argument("--json", action="store_true")
    rm = _command(platform, "remove", "remove a platform and revoke its sessions", _remove)
    rm.add_argument("client_id")
