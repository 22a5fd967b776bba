"""``hutong federation …``: describe a node, manage the hub's members, publish and fetch the trust list."""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path

from hutong.errors import FailedPrecondition, InvalidArgument

EXAMPLES = """examples:
  hutong federation describe --data-dir var/prov-a > prov-a.json        # on the member
  hutong federation add --data-dir var/hub prov-a.json                   # on the hub
  hutong federation publish --data-dir var/hub --validity-days 7
  hutong federation join --data-dir var/prov-a --hub 127.0.0.1:7443 --hub-root hub-root.pem
  hutong federation refresh --data-dir var/prov-a
"""


def _say(args: argparse.Namespace, text: str, **data: object) -> None:
    """A write command's outcome: a sentence, or with --json the same facts as JSON."""
    print(json.dumps(data, ensure_ascii=False) if getattr(args, "json", False) else text)


def _open(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from hutong.node import open_node

    return open_node(args.data_dir)


def _describe(args: argparse.Namespace) -> int:
    from hutong.federation.hub import describe_node
    from hutong.tlog.witness import newest_checkpoint

    node = _open(args)
    try:  # the log's newest checkpoint rides along (not in the trust list): the hub pins it at join
        print(json.dumps({**asdict(describe_node(node)), "log_checkpoint": newest_checkpoint(node)},
                         ensure_ascii=False, indent=2))
    finally:
        node.close()
    return 0


def _add(args: argparse.Namespace) -> int:
    from hutong.federation.hub import add_member
    from hutong.federation.trustlist import MemberEntry

    try:
        raw = json.loads(Path(args.descriptor).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidArgument("MEMBER_DESCRIPTOR_INVALID", f"cannot read {args.descriptor}: {exc}") from None
    node = _open(args)
    try:
        entry = MemberEntry.from_dict(raw)
        add_member(node, entry, log_checkpoint=str(raw.get("log_checkpoint") or ""))
        _say(args, f"member {entry.node_id} added; publish to make it effective", node_id=entry.node_id,
             added=True)
    finally:
        node.close()
    return 0


def _remove(args: argparse.Namespace) -> int:
    from hutong.federation.hub import remove_member

    node = _open(args)
    try:
        remove_member(node, args.node_id)
        _say(args, f"member {args.node_id} removed; publish to make it effective", node_id=args.node_id,
             removed=True)
    finally:
        node.close()
    return 0


def _list(args: argparse.Namespace) -> int:
    from hutong.federation.registry import members

    node = _open(args)
    try:
        rows = members(node)
    finally:
        node.close()
    if args.json:
        print(json.dumps([{"node_id": m.node_id, "name": m.name, "endpoints": m.endpoints} for m in rows]))
    else:
        for m in rows:
            print(f"{m.node_id:<20} {m.name:<30} {', '.join(m.endpoints)}")
    return 0


def _publish(args: argparse.Namespace) -> int:
    from hutong.federation.hub import publish

    node = _open(args)
    try:
        token = publish(node, validity=timedelta(days=args.validity_days))
    finally:
        node.close()
    if args.out:
        Path(args.out).write_text(token)
    _say(args, f"trust list published ({len(token)} bytes)", published=True, bytes=len(token),
         out=str(args.out) if args.out else None)
    return 0


def _join(args: argparse.Namespace) -> int:
    """Record the hub and its root in hutong.toml; the next refresh (or `serve`) fetches the list."""
    from hutong.config import load_config
    from hutong.federation.settings import federation_settings
    from hutong.node import require_initialised

    require_initialised(args.data_dir)
    config = args.data_dir / "hutong.toml"
    if federation_settings(load_config(args.data_dir)).hub:
        raise InvalidArgument("ALREADY_FEDERATED", "hutong.toml already names a hub in [federation]: edit it instead")
    shutil.copyfile(args.hub_root, args.data_dir / "hub-root.pem")
    lines = f'hub = "{args.hub}"\nhub_root_file = "hub-root.pem"\n'
    text = config.read_text(encoding="utf-8")
    if "\n[federation]\n" in f"\n{text}":  # the section exists (e.g. its listen address): add to it
        head, _, tail = f"\n{text}".partition("\n[federation]\n")
        text = f"{head}\n[federation]\n{lines}{tail}"[1:]
    else:
        text += f"\n[federation]\n{lines}"
    config.write_text(text, encoding="utf-8")
    _say(args, f"joined: hub {args.hub}; run `hutong federation refresh --data-dir {args.data_dir}`", hub=args.hub,
         joined=True)
    return 0


def _refresh(args: argparse.Namespace) -> int:
    from hutong.federation import transport

    node = _open(args)
    try:
        if not node.trust.federated:
            raise FailedPrecondition("NOT_FEDERATED", "this node has not joined a federation (hutong federation join)")
        tl = node.trust.refresh(transport.trust_list_fetcher(node))
    finally:
        node.close()
    assert tl is not None
    _say(args, f"trust list #{tl.sequence}: {len(tl.members)} members, next update {tl.next_update.isoformat()}",
         sequence=tl.sequence, members=len(tl.members), next_update=tl.next_update.isoformat())
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from hutong.cli import data_dir_arg

    group = sub.add_parser("federation", help="trust list and member nodes", epilog=EXAMPLES,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    cmds = group.add_subparsers(dest="sub", required=True)

    def cmd(name: str, help_: str, func) -> argparse.ArgumentParser:  # type: ignore[no-untyped-def]
        p = cmds.add_parser(name, help=help_)
        data_dir_arg(p)
        if name != "describe":  # describe always prints JSON
            p.add_argument("--json", action="store_true", help="machine-readable output (JSON)")
        p.set_defaults(func=func)
        return p

    cmd("describe", "print this node's member descriptor (JSON)", _describe)
    cmd("add", "hub: add or update a member from its descriptor", _add).add_argument("descriptor")
    cmd("remove", "hub: remove a member", _remove).add_argument("node_id")
    cmd("list", "hub: list members", _list)
    p = cmd("publish", "hub: sign and publish the next trust list", _publish)
    p.add_argument("--validity-days", type=int, default=7)
    p.add_argument("--out", help="also write the trust list (JWS) to this file")
    p = cmd("join", "member: record the hub's address and root certificate", _join)
    p.add_argument("--hub", required=True, help="HOST:PORT of the hub")
    p.add_argument("--hub-root", required=True, help="PEM file of the hub's root CA (obtained out of band)")
    cmd("refresh", "member: fetch the trust list from the hub now", _refresh)
