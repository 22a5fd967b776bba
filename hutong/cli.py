"""``hutong``: one command for operators, officers, departments and platforms.

Each area adds its own command group (``register(subparsers)`` in ``<area>/cli.py``); this module
only wires them together and turns every failure into one line ``error: REASON: what to do``.
Exit codes: 0 success, 1 a check failed (e.g. a broken audit chain), 2 an error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from hsm import HsmConfig
from hutong.audit import AuditLog
from hutong.errors import HutongError

EXIT_OK, EXIT_CHECK_FAILED, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130

# Areas that contribute command groups; a missing one (not installed) is skipped.
AREA_CLIS = ("identity_svc.cli", "seal_svc.cli", "cert_svc.cli", "hutong.federation.cli", "bench.cli")


def data_dir_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", type=Path, default=Path("var/node"),
                   help="the node's data directory (default: var/node)")


def _node_init(args: argparse.Namespace) -> int:
    from hutong.node import init_node

    node = init_node(args.data_dir, node_id=args.node_id, name=args.name)
    root = node.pki.certificate("root-ca")
    print(f"node {node.id} ready in {args.data_dir}: root CA {root.subject.rfc4514_string()}")
    node.close()
    return EXIT_OK


def _serve(args: argparse.Namespace) -> int:
    from hutong.server import serve

    serve(args.data_dir, listen=args.listen, workers=args.workers)
    return EXIT_OK


def _audit_log(data_dir: Path) -> AuditLog:
    """The node's audit log, opened from its configuration alone (auditors need no HSM PIN)."""
    from hutong.config import load_config
    from hutong.db import Database

    return AuditLog(Database(load_config(data_dir).effective_database_url))


def _audit_verify(args: argparse.Namespace) -> int:
    log = _audit_log(args.data_dir)
    try:
        report = log.verify()
    finally:
        log.db.dispose()
    if args.json:
        print(json.dumps({"ok": report.ok, "records": report.records, "first_broken": report.first_broken,
                          "problem": report.problem}))
    elif report.ok:
        print(f"audit chain intact: {report.records} records")
    else:
        print(f"audit chain BROKEN at record {report.first_broken}: {report.problem}")
    return EXIT_OK if report.ok else EXIT_CHECK_FAILED


def _hsm_audit_sink(args: argparse.Namespace) -> Callable[[str, str, dict[str, str]], None]:
    """Officers' HSM commands are audited in the node's log when a data directory is at hand."""
    data_dir: Path | None = getattr(args, "data_dir", None)

    def sink(action: str, target: str, details: dict[str, str]) -> None:
        if data_dir is None or not (data_dir / "hutong.toml").exists():
            print(f"audit: {action} {target} (no --data-dir: not recorded in a node log)", file=sys.stderr)
            return
        log = _audit_log(data_dir)
        try:
            outcome = details.pop("outcome", "ok")
            log.record(actor="officer", action=action, target=target, outcome=outcome, details=details)
        finally:
            log.db.dispose()

    return sink


def _hsm_config(args: argparse.Namespace) -> HsmConfig:
    """With --data-dir, the node's own token settings; otherwise --module/--token/--pin-file or environment."""
    from hsm.cli import config_from_args
    from hutong.config import load_config
    from hutong.node import hsm_config

    data_dir: Path | None = getattr(args, "data_dir", None)
    return hsm_config(load_config(data_dir)) if data_dir else config_from_args(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hutong",
        description="Hutong (互通): identity, e-seals and e-licences for a federated government-service network.",
        epilog="examples:\n  hutong serve --data-dir var/node --listen 127.0.0.1:7443\n"
        "  hutong audit verify --data-dir var/node\n  hutong demo --out demo-out",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    node = sub.add_parser("node", help="prepare a node's data directory").add_subparsers(dest="sub", required=True)
    init = node.add_parser("init", help="create the SoftHSM token, database and PKI (idempotent)")
    data_dir_arg(init)
    init.add_argument("--node-id", default=None, help="node id, e.g. province-a (new directories only)")
    init.add_argument("--name", default=None, help="node display name (new directories only)")
    init.set_defaults(func=_node_init)

    serve = sub.add_parser("serve", help="run a node: identity, seal and cert on one port")
    data_dir_arg(serve)
    serve.add_argument("--listen", default=None, help="HOST:PORT (default from hutong.toml: 127.0.0.1:7443)")
    serve.add_argument("--workers", type=int, default=None, help="worker processes sharing the port")
    serve.set_defaults(func=_serve)

    audit = sub.add_parser("audit", help="the hash-chained audit log").add_subparsers(dest="sub", required=True)
    verify = audit.add_parser("verify", help="check the chain; names the first broken record")
    data_dir_arg(verify)
    verify.add_argument("--json", action="store_true")
    verify.set_defaults(func=_audit_verify)

    from hsm.cli import register as register_hsm

    register_hsm(sub, audit_sink_factory=_hsm_audit_sink, config_factory=_hsm_config)
    for module_name in AREA_CLIS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except HutongError as err:
        print(f"error: {err.reason}: {err.message}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
