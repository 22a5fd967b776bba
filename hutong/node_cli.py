"""``hutong node keys|backup|restore|verify`` and the node side of the officers' ``hsm rotate`` / ``hsm destroy``.

Kept apart from ``hutong.cli`` (which only wires command groups together); the work itself is in
``hutong.rollover`` (staged key rollover) and ``hutong.backup`` (snapshot, restore, verify).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_CHECK_FAILED = 0, 1


def node_rotate(args: argparse.Namespace, audit: dict[str, str], *,
                wire: Callable[[Any], object] | None = None) -> str:
    """``hsm rotate --data-dir D --label node.ROLE``: the next step of the role's staged rollover. ``wire``
    (given by the app layer) gives the node its services' peers, which some roles ask (token lifetimes)."""
    from hutong import rollover
    from hutong.node import open_node

    node = open_node(args.data_dir)
    try:
        if wire is not None:
            wire(node)
        plan = rollover.rotate(node, args.label, args.step, dry_run=args.dry_run, actor="officer",
                               batch=getattr(args, "batch_size", 200), pause=getattr(args, "pause", 0.0))
    finally:
        node.close()
    audit.update(step=plan.step, label=plan.label, dry_run=str(args.dry_run).lower())
    if plan.retired:
        audit["retired"] = plan.retired
    following = ("publish the node's descriptor to the hub (federated nodes), then run this command again to "
                 "activate") if plan.step == "prepare" and not args.dry_run else ""
    if plan.step == "activate" and plan.role == "data-key" and not args.dry_run:
        following = "run this command again to re-encrypt every protected record (step reencrypt; resumable)"
    if plan.step == "activate" and plan.role == "blind-index" and not args.dry_run:
        following = "run this command again to re-index every stored blind index (step reindex; resumable)"
    if getattr(args, "json", False):
        from hutong.cli import print_json

        print_json({"role": plan.role, "label": plan.label, "step": plan.step, "dry_run": bool(args.dry_run),
                    "actions": list(plan.actions), "retired": plan.retired or None, "next": following or None})
        return plan.role
    head = "dry run, nothing changed: would" if args.dry_run else "done:"
    print(f"{plan.role}: {head} {plan.step}")
    for action in plan.actions:
        print(f"  - {action}")
    if following:
        print(f"next: {following}")
    return plan.role


def destroy_guard(args: argparse.Namespace, label: str) -> None:
    """``hsm destroy --data-dir D``: a node key the registry still needs is kept."""
    data_dir: Path | None = getattr(args, "data_dir", None)
    if data_dir is None:
        return
    from hutong import rollover
    from hutong.config import load_config
    from hutong.db import Database
    from hutong.keyring import KeyRegistry

    db = Database(load_config(data_dir).effective_database_url)
    try:
        rollover.check_destroy(KeyRegistry(db).snapshot(), label, db=db)
    finally:
        db.dispose()


def _keys(args: argparse.Namespace) -> int:
    from hutong import reindex, rekey
    from hutong.cli import print_json, print_table
    from hutong.config import load_config
    from hutong.db import Database
    from hutong.keyring import KeyRegistry

    db = Database(load_config(args.data_dir).effective_database_url)
    try:
        snap = KeyRegistry(db).snapshot()
        reencryption = rekey.status_of(db, snap)
        reindexing = reindex.status_of(db, snap)
    finally:
        db.dispose()
    rows: list[dict[str, Any]] = [
        {"role": e.role, "label": e.label, "state": e.state,
         "activated": e.activated_at.isoformat(timespec="seconds") if e.activated_at else "",
         "needed_until": e.needed_until.isoformat(timespec="seconds") if e.needed_until else "",
         "certificate_serial": format(e.certificate.serial_number, "x") if e.certificate else ""}
        for e in sorted(snap.entries, key=lambda e: (e.role, e.created_at))]
    if args.json:
        print_json(rows)
    else:
        print_table(rows, ("role", "state", "label", "activated", "needed_until"))
        if reencryption is not None:
            print(f"data-key re-encryption pending ({', '.join(reencryption.retired)} still needed): "
                  f"{reencryption.describe()}")
        if reindexing is not None:
            print(f"blind-index re-indexing pending ({', '.join(reindexing.retired)} still in use): "
                  f"{reindexing.describe()}")
    return EXIT_OK


def _backup(args: argparse.Namespace) -> int:
    from hutong import backup
    from hutong.cli import print_json

    report = backup.backup(args.data_dir, args.dir, include_secrets=args.include_secrets)
    if args.json:
        print_json({"directory": str(report.directory), "database": report.database,
                    "token_files": report.token_files, "secrets": report.secrets})
    else:
        print(f"backup of {args.data_dir} in {report.directory}: {report.database} database, "
              f"{report.token_files} token files" + ("" if report.secrets else "; PIN files not included"))
    return EXIT_OK


def _restore(args: argparse.Namespace) -> int:
    from hutong import backup
    from hutong.cli import print_json

    # A PostgreSQL URL may carry a password: it can come from the environment instead of the command line.
    database_url = args.database_url or os.environ.get("HUTONG_DATABASE_URL", "")
    backup.restore(args.backup, args.data_dir, database_url=database_url)
    if args.json:
        print_json({"restored": str(args.data_dir), "backup": str(args.backup)})
    else:
        print(f"restored into {args.data_dir}; check it with: hutong node verify --data-dir {args.data_dir}")
    return EXIT_OK


def _verify(args: argparse.Namespace) -> int:
    from hutong import backup
    from hutong.cli import print_json

    report = backup.verify(args.data_dir)
    if args.json:
        print_json({"ok": report.ok, "problems": report.problems, "checked": report.checked})
    else:
        for line in report.checked:
            print(f"ok: {line}")
        for line in report.problems:
            print(f"PROBLEM: {line}")
    return EXIT_OK if report.ok else EXIT_CHECK_FAILED


def register(node: Any) -> None:
    """Add the key registry, backup, restore and verify commands to the ``node`` group."""
    from hutong.cli import data_dir_arg, json_arg

    p = node.add_parser("keys", help="the node's key registry: active, pending and retired key of each role")
    data_dir_arg(p)
    json_arg(p)
    p.set_defaults(func=_keys)

    p = node.add_parser("backup", help="consistent snapshot of a node (database, HSM token, configuration) while "
                        "it serves", description="Writes DIR (new or empty). PIN files stay out unless "
                        "--include-secrets: keep PINs where the officers keep them.")
    data_dir_arg(p)
    json_arg(p)
    p.add_argument("dir", type=Path, help="new directory for the backup")
    p.add_argument("--include-secrets", action="store_true", help="also copy the PIN files (mode 0600)")
    p.set_defaults(func=_backup)

    p = node.add_parser("restore", help="make a new node directory from a backup (the original is never touched)")
    p.add_argument("backup", type=Path, help="the backup directory")
    p.add_argument("--data-dir", type=Path, required=True, help="new (or empty) directory for the restored node")
    p.add_argument("--database-url", help="PostgreSQL backups: an empty database to restore into (or "
                   "HUTONG_DATABASE_URL, the place for a URL holding a password)")
    json_arg(p)
    p.set_defaults(func=_restore)

    p = node.add_parser("verify", help="do database, HSM token and audit log agree? exit 1 naming each problem")
    data_dir_arg(p)
    json_arg(p)
    p.set_defaults(func=_verify)
