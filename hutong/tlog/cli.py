"""``hutong audit ...``: verify the node's Merkle log, prove inclusion and consistency, sign pending events.

``verify`` and ``prove`` read the database only (auditors need no HSM PIN); ``checkpoint`` signs,
so it opens the node's token.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_CHECK_FAILED = 0, 1


def _data_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", type=Path, default=Path("var/node"),
                   help="the node's data directory (default: var/node)")


def _db(data_dir: Path) -> Any:
    from hutong.config import load_config
    from hutong.db import Database
    from hutong.node import require_initialised

    require_initialised(data_dir)  # a wrong --data-dir says so, rather than DATABASE_UNAVAILABLE
    return Database(load_config(data_dir).effective_database_url)


def _keys(args: argparse.Namespace) -> tuple[Any, str]:
    """The log's verifier keys and where they come from: --log-key, else the trust list, else the database.

    Keys recorded in the node's own database are the weakest source (whoever rewrites the database can
    replace them); the trust list's entry for this node is signed by the hub.
    """
    from hutong.tlog.note import VerifierKey

    if args.log_key:
        return [VerifierKey.decode(Path(args.log_key).read_text(encoding="utf-8").strip())], "the given log key"
    from hutong.config import load_config
    from hutong.federation.settings import federation_settings
    from hutong.federation.trustlist import TrustListStore

    cfg = load_config(args.data_dir)
    root_file = federation_settings(cfg).hub_root_file
    if root_file:
        root = Path(root_file) if Path(root_file).is_absolute() else args.data_dir / root_file
        store = TrustListStore(path=args.data_dir / "federation" / "trust-list.jws",
                               hub_roots=TrustListStore.load_roots(root))
        entry = next((m for m in store.current().members if m.node_id == cfg.node.id), None)
        if entry is not None and entry.log_key:
            return [VerifierKey.decode(k) for k in entry.log_keys()], "the log keys in the trust list"
    return None, "the log keys recorded in the node's database"


def _verify(args: argparse.Namespace) -> int:
    from hutong.tlog.verify import verify_log

    keys, source = _keys(args)
    db = _db(args.data_dir)
    try:
        report = verify_log(db, keys=keys)
    finally:
        db.dispose()
    if args.json:
        print(json.dumps({"ok": report.ok, "records": report.records, "pending": report.pending,
                          "checkpoints": report.checkpoints, "cosigned": report.cosigned,
                          "first_bad": report.first_bad, "problem": report.problem, "keys": source}))
    elif report.ok:
        print(f"audit log intact: {report.records} records, {report.checkpoints} signed checkpoints, "
              f"{report.cosigned} cosigned by the hub, {report.pending} pending (checked with {source})")
    else:
        print(f"audit log BROKEN at record {report.first_bad}: {report.problem}")
    return EXIT_OK if report.ok else EXIT_CHECK_FAILED


def _prove(args: argparse.Namespace) -> int:
    from hutong.tlog import merkle, proofs
    from hutong.tlog.note import parse_note

    db = _db(args.data_dir)
    try:
        if args.from_size is not None:
            c = proofs.consistency(db, args.from_size, args.size)
            old, new = parse_note(c.first_checkpoint).checkpoint, parse_note(c.second_checkpoint).checkpoint
            ok = merkle.verify_consistency(c.first, c.second, old.root, new.root, c.path)
            out: dict[str, Any] = {"kind": "consistency", "first": c.first, "second": c.second,
                                   "path": [h.hex() for h in c.path], "first_checkpoint": c.first_checkpoint,
                                   "second_checkpoint": c.second_checkpoint, "verified": ok}
        else:
            leaf = args.leaf if args.leaf is not None else proofs.leaf_of_event(db, args.event)
            p = proofs.inclusion(db, leaf, args.size)
            root = parse_note(p.checkpoint).checkpoint.root
            ok = merkle.verify_inclusion(p.leaf_index, p.tree_size, p.leaf_hash, p.path, root)
            out = {"kind": "inclusion", "leaf_index": p.leaf_index, "tree_size": p.tree_size,
                   "leaf_hash": p.leaf_hash.hex(), "path": [h.hex() for h in p.path], "checkpoint": p.checkpoint,
                   "verified": ok}
    finally:
        db.dispose()
    print(json.dumps(out, ensure_ascii=False, indent=2))
    return EXIT_OK if ok else EXIT_CHECK_FAILED


def _checkpoint(args: argparse.Namespace) -> int:
    from hutong.node import open_node

    node = open_node(args.data_dir)
    try:
        from hutong.tlog.integrator import latest_checkpoint

        n = node.tlog.integrate_all()
        with node.db.session(readonly=True) as s:
            cp = latest_checkpoint(s)
        note = cp.note if cp else ""
    finally:
        node.close()
    if args.json:
        print(json.dumps({"sequenced": n, "checkpoint": note or None}, ensure_ascii=False))
    else:
        print(f"sequenced {n} pending events" + (f"; newest checkpoint:\n{note}" if note else ""))
    return EXIT_OK


def _log_key(args: argparse.Namespace) -> int:
    from hutong.node import open_node

    node = open_node(args.data_dir)
    try:
        print(node.tlog.vkey())
    finally:
        node.close()
    return EXIT_OK


def _witness(args: argparse.Namespace) -> int:
    from hutong.errors import FailedPrecondition
    from hutong.node import open_node
    from hutong.tlog import witness
    from hutong.tlog.service import GrpcWitness

    node = open_node(args.data_dir)
    try:
        if not node.trust.federated:
            raise FailedPrecondition("NOT_FEDERATED", "this node has not joined a federation (hutong federation join)")
        from hutong.federation import transport

        with transport.to_hub(node) as channel:
            hub = GrpcWitness(channel)
            if args.member:
                got = witness.fetch(node, hub, args.member)
            else:
                node.tlog.integrate_all()
                got = witness.publish(node, hub)
    finally:
        node.close()
    if args.json:
        print(json.dumps({"origin": got.origin, "tree_size": got.tree_size, "cosigned": True} if got
                         else {"cosigned": False}, ensure_ascii=False))
    else:
        print(f"{got.origin}: size {got.tree_size} cosigned by the hub" if got else "the hub has cosigned nothing yet")
    return EXIT_OK


def register(sub: Any) -> None:
    audit = sub.add_parser(
        "audit", help="the audit log: a Merkle transparency log with signed checkpoints",
        epilog="examples:\n  hutong audit verify --data-dir var/node\n"
               "  hutong audit prove --data-dir var/node --event 42\n"
               "  hutong audit prove --data-dir var/node --from 100 --size 250",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    ).add_subparsers(dest="sub", required=True)
    verify = audit.add_parser("verify", help="check every record, the tree and every checkpoint; names the first "
                                             "bad record")
    _data_dir(verify)
    verify.add_argument("--log-key", default=None, help="file with the log's verifier key (default: as recorded)")
    verify.add_argument("--json", action="store_true")
    verify.set_defaults(func=_verify)

    prove = audit.add_parser("prove", help="inclusion proof of an event, or consistency between two checkpoints")
    _data_dir(prove)
    which = prove.add_mutually_exclusive_group(required=True)
    which.add_argument("--event", type=int, help="the audit event's number (seq)")
    which.add_argument("--leaf", type=int, help="the leaf index in the log")
    which.add_argument("--from", dest="from_size", type=int, help="consistency: the earlier checkpoint's tree size")
    prove.add_argument("--size", type=int, default=0, help="the checkpoint's tree size (default: the newest)")
    prove.set_defaults(func=_prove)

    cp = audit.add_parser("checkpoint", help="sequence pending events now and sign a checkpoint (opens the HSM)")
    _data_dir(cp)
    cp.add_argument("--json", action="store_true", help="machine-readable output (JSON)")
    cp.set_defaults(func=_checkpoint)

    pub = audit.add_parser("publish", help="member: have the hub cosign this node's newest checkpoint")
    _data_dir(pub)
    pub.add_argument("--json", action="store_true", help="machine-readable output (JSON)")
    pub.set_defaults(func=_witness, member=None)
    fetch = audit.add_parser("fetch", help="member: fetch and check the hub's newest cosigned checkpoint of a member")
    _data_dir(fetch)
    fetch.add_argument("--member", required=True, help="the member's node id")
    fetch.add_argument("--json", action="store_true", help="machine-readable output (JSON)")
    fetch.set_defaults(func=_witness)

    key = audit.add_parser("log-key", help="print the node log's verifier key (for auditors and the trust list)")
    _data_dir(key)
    key.set_defaults(func=_log_key)
