"""``hutong``: one command for operators, officers, departments and platforms.

Each area adds its own command group (``register(subparsers)`` in ``<area>/cli.py``); this module
only wires them together, offers the options every group spells the same way (``--data-dir``,
``--target``, TLS, ``--token-file``, ``--json``), and turns every failure into one line
``error: REASON: message (what to do)``, never a traceback.
Exit codes: 0 success, 1 a check failed (e.g. a broken audit chain, a seal or certificate that does not
verify, rows of a batch refused), 2 an error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hutong.errors import HutongError, InvalidArgument, Unauthenticated, lift

if TYPE_CHECKING:  # loaded by the commands that use them: a client command never pays for SQLAlchemy
    from hsm import HsmConfig
    from hutong.auditlog import AuditLog

EXIT_OK, EXIT_CHECK_FAILED, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as the shell's own tools exit when the reader of their output goes

# Areas that contribute command groups; a missing one (not installed) is skipped. Each area's module is
# imported only when its group is the command being run (or for the full help): start-up stays fast.
# AREA_GROUPS names the groups each module adds (a test checks it against what they really add).
AREA_CLIS = ("identity_svc.cli", "seal_svc.cli", "cert_svc.cli", "hutong.federation.cli", "hutong.demo.cli",
             "bench.cli", "hutong.tlog.cli")
AREA_GROUPS = {"identity": "identity_svc.cli", "registry": "identity_svc.cli", "platform": "identity_svc.cli",
               "seal": "seal_svc.cli", "cert": "cert_svc.cli", "federation": "hutong.federation.cli",
               "demo": "hutong.demo.cli", "bench": "bench.cli", "hsm": "hsm.cli", "audit": "hutong.tlog.cli"}


def data_dir_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", type=Path, default=Path("var/node"),
                   help="the node's data directory (default: var/node)")


# -- options and output shared by every area's commands ---------------------------------------------
DEFAULT_TARGET = "127.0.0.1:7443"
EXAMPLES = argparse.RawDescriptionHelpFormatter


def json_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output (JSON) instead of a table")


def paging_args(p: argparse.ArgumentParser) -> None:
    """List commands: every result by default (page after page); ``--page-size N`` alone shows one page and
    says on stderr how to get the next; ``--all`` with it fetches all, N at a time."""
    g = p.add_argument_group("paging")
    g.add_argument("--page-size", type=int, default=0, help="results per page (the node caps it; default: its own)")
    g.add_argument("--page-token", default="", help="continue from the page this token names (printed on stderr)")
    g.add_argument("--all", action="store_true", help="every page (the default unless --page-size/--page-token)")


def one_page_only(args: argparse.Namespace) -> bool:
    if args.page_size < 0:
        raise InvalidArgument("ARGUMENTS_INVALID", "--page-size must be positive")
    return not args.all and bool(args.page_size or args.page_token)


def next_page_hint(token: str) -> None:
    if token:
        print(f"more results: add --page-token {token}", file=sys.stderr)


def show_list(args: argparse.Namespace, page: Callable[[int, str], Any], every: Callable[[int, str], Iterable[Any]],
              show: Callable[[list[Any]], None]) -> int:
    """A list command's output, the same for every list: one page and the next page's token on stderr
    (``--page-size`` / ``--page-token`` without ``--all``), else every page (the SDK's iterator).
    ``page(size, token)`` is the SDK's one-page call (returns ``.items``, ``.next_page_token``)."""
    if one_page_only(args):
        one = page(args.page_size, args.page_token)
        show(list(one.items))
        next_page_hint(one.next_page_token)
    else:
        show(list(every(args.page_size, args.page_token)))
    return EXIT_OK


def connection_args(p: argparse.ArgumentParser) -> None:
    """How gRPC commands reach a node and who they are: the same names in every group.

    Secrets never go on the command line (process lists, shell history): a person's access token comes
    from ``--token-file`` or ``$HUTONG_TOKEN``, a platform's secret from ``--client-secret-file`` or
    ``$HUTONG_CLIENT_SECRET``."""
    env = os.environ.get
    g = p.add_argument_group("connection")
    g.add_argument("--target", default=env("HUTONG_TARGET", DEFAULT_TARGET),
                   help=f"the node, HOST:PORT (default: $HUTONG_TARGET or {DEFAULT_TARGET})")
    g.add_argument("--tls-ca", default=env("HUTONG_TLS_CA"), help="CA certificate (PEM) of the node: use TLS")
    g.add_argument("--tls-cert", default=env("HUTONG_TLS_CERT"), help="client certificate (PEM) for mTLS")
    g.add_argument("--tls-key", default=env("HUTONG_TLS_KEY"), help="client key (PEM) for mTLS")
    g.add_argument("--tls-server-name", default="", help="name to check in the node's certificate")
    g.add_argument("--timeout", type=float, default=30.0, help="deadline of each call in seconds (default 30)")
    g.add_argument("--token-file", default=None,
                   help="a person's access token or session (from `hutong identity login`); else $HUTONG_TOKEN")
    g.add_argument("--client-id", default=env("HUTONG_CLIENT_ID", ""),
                   help="a platform's client id (default: $HUTONG_CLIENT_ID)")
    g.add_argument("--client-secret-file", default=None, help="file holding the client secret "
                   "(else $HUTONG_CLIENT_SECRET)")


def add_command(group: Any, name: str, help_: str, func: Callable[[argparse.Namespace], int], *, epilog: str = "",
                connection: bool = True) -> argparse.ArgumentParser:
    """A subcommand with the shared shape: help as description, the group's examples, ``--json`` and (for gRPC
    commands) the connection options."""
    p: argparse.ArgumentParser = group.add_parser(name, help=help_, description=help_, epilog=epilog,
                                                  formatter_class=EXAMPLES)
    p.set_defaults(func=func)
    json_arg(p)
    if connection:
        connection_args(p)
    return p


def read_file(path: str | Path, what: str = "file") -> bytes:
    """A file's bytes, or the one-line error that names it."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InvalidArgument("FILE_UNREADABLE", f"cannot read the {what} {path}: {exc.strerror}") from None


def personal_arg(p: argparse.ArgumentParser, name: str, env_var: str, what: str) -> None:
    """``--NAME-file`` for an identifier that is personal data (a citizen ID number, a holder's identifier).

    Such values are never taken on a command line (``ps`` and shell histories show it to others): from the
    file (``-`` = standard input), else ``$ENV_VAR``, else a prompt. ``--NAME VALUE`` is still parsed -- so
    the value is not echoed back by argparse's error -- and refused."""
    p.add_argument(f"--{name}-file", metavar="FILE",
                   help=f"{what}: read from FILE ('-' = stdin), else ${env_var}, else a prompt (never an argument)")
    p.add_argument(f"--{name}", dest=f"{name.replace('-', '_')}_argument", help=argparse.SUPPRESS)


def read_personal(args: argparse.Namespace, name: str, env_var: str, what: str, *, required: bool = True) -> str:
    """The value of a ``personal_arg``: file, stdin, environment or prompt; refused from the command line."""
    import getpass
    import sys

    attr = name.replace("-", "_")
    if getattr(args, f"{attr}_argument", None):
        raise InvalidArgument("PERSONAL_DATA_ON_COMMAND_LINE", f"a {what} is never taken on the command line (others "
                              f"see it in ps and shell history): use --{name}-file FILE, --{name}-file - (stdin), "
                              f"${env_var} or the prompt")
    path = getattr(args, f"{attr}_file", None)
    if path == "-":
        return sys.stdin.readline().strip()
    if path:
        return read_file(path, what).decode().strip()
    if os.environ.get(env_var):
        return os.environ[env_var].strip()
    if not required:
        return ""
    if sys.stdin.isatty():
        return getpass.getpass(f"{what}: ").strip()  # not echoed either
    raise InvalidArgument("ARGUMENTS_INVALID", f"give the {what} with --{name}-file or ${env_var}")


def client_secret(args: argparse.Namespace) -> str:
    if getattr(args, "client_secret_file", None):
        return read_file(args.client_secret_file, "client secret file").decode().strip()
    return os.environ.get("HUTONG_CLIENT_SECRET", "").strip()


def sdk(args: argparse.Namespace, *, person: bool = False, anonymous: bool = False, token_file: bool = True) -> Any:
    """The SDK (``hutong_client.Hutong``) for a command's connection options.

    ``person``: the command needs a person's token; otherwise a token or platform credentials will do;
    ``anonymous``: public calls (verification) that need neither; ``token_file=False``: the command
    writes the token file rather than reading it (login)."""
    from hutong_client import Hutong
    from hutong_client.session_file import load_token

    client_id = args.client_id or ""
    secret = client_secret(args) if client_id else ""
    token = load_token(args.token_file if token_file else None, target=args.target, client_id=client_id,
                       client_secret=secret, tls=_tls(args), timeout=args.timeout)
    if not anonymous and not token and (person or not client_id):
        raise Unauthenticated("TOKEN_REQUIRED", "give --token-file or set HUTONG_TOKEN"
                              + ("" if person else " (or platform credentials: --client-id, HUTONG_CLIENT_SECRET)"))
    return Hutong(args.target, client_id=client_id, client_secret=secret, token=token, tls=_tls(args),
                  timeout=args.timeout)


def _tls(args: argparse.Namespace) -> Any:
    from hutong_client import TlsOptions

    if not (args.tls_ca or args.tls_cert or args.tls_key):
        return None
    return TlsOptions(args.tls_ca, args.tls_cert, args.tls_key, args.tls_server_name)


def print_table(rows: Iterable[Mapping[str, Any]], columns: Sequence[str], *, empty: str = "(none)") -> None:
    """Rows as an aligned table with a header (column names upper-cased)."""
    import unicodedata

    def width(text: str) -> int:  # CJK characters take two columns in a terminal
        return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)

    table = [[c.upper().replace("_", "-") for c in columns]]
    table += [["" if r.get(c) is None else str(r.get(c)) for c in columns] for r in rows]
    if len(table) == 1:
        print(empty)
        return
    widths = [max(width(row[i]) for row in table) for i in range(len(columns))]
    for row in table:
        print("  ".join(cell + " " * (w - width(cell)) for cell, w in zip(row, widths, strict=True)).rstrip())


def print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def progress(done: int, total: int, label: str = "") -> None:
    """A progress bar on stderr (only when it is a terminal, so logs and pipes stay clean)."""
    if not sys.stderr.isatty():
        return
    width = 40
    filled = width * done // max(total, 1)
    end = "\n" if done >= total else ""
    print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {label}".rstrip(), end=end, file=sys.stderr,
          flush=True)


# What to do, for the reasons people meet most often at the command line.
HINTS = {
    "UNAVAILABLE": "is a node running at --target / $HUTONG_TARGET? (TLS: --tls-ca)",
    "TOKEN_REQUIRED": "log in first: hutong identity login --token-file FILE",
    "TOKEN_MISSING": "log in first: hutong identity login --token-file FILE",
    "TOKEN_EXPIRED": "log in again (a session file from `hutong identity login` refreshes itself)",
    "TOKEN_INVALID": "the token file does not hold a token of this node: log in again",
    "TOKEN_FILE_INVALID": "give the file written by `hutong identity login --token-file FILE`",
    "CLIENT_CREDENTIALS_MISSING": "give --client-id and $HUTONG_CLIENT_SECRET (or --client-secret-file)",
    "CLIENT_AUTHENTICATION_FAILED": "check --client-id and the client secret (hutong platform add prints it once)",
    "NODE_NOT_INITIALISED": "a new node: `hutong node init --data-dir DIR` first",
    "DEADLINE_EXCEEDED": "the node did not answer in time: raise --timeout or check the node",
}


def _node_init(args: argparse.Namespace) -> int:
    from hutong.node import init_node

    node = init_node(args.data_dir, node_id=args.node_id, name=args.name)
    root = node.pki.certificate("root-ca")
    if args.json:
        print(json.dumps({"node_id": node.id, "data_dir": str(args.data_dir), "root_ca": root.subject.rfc4514_string()},
                         ensure_ascii=False))
    else:
        print(f"node {node.id} ready in {args.data_dir}: root CA {root.subject.rfc4514_string()}")
    node.close()
    return EXIT_OK


def _serve(args: argparse.Namespace) -> int:
    from hutong.server import serve

    serve(args.data_dir, listen=args.listen, workers=args.workers)
    return EXIT_OK


def _audit_log(data_dir: Path) -> AuditLog:
    """The node's audit log, opened from its configuration alone (auditors need no HSM PIN)."""
    from hutong.auditlog import AuditLog
    from hutong.config import load_config
    from hutong.db import Database
    from hutong.node import require_initialised

    require_initialised(data_dir)
    return AuditLog(Database(load_config(data_dir).effective_database_url))


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


def _node_rotate(args: argparse.Namespace, audit: dict[str, str]) -> str:
    """``hsm rotate`` of a node key: the node wired with its services first (the token key asks identity)."""
    from hutong import node_cli, wiring

    return node_cli.node_rotate(args, audit, wire=wiring.wire)


def _hsm_config(args: argparse.Namespace) -> HsmConfig:
    """With --data-dir, the node's own token settings; otherwise --module/--token/--pin-file or environment."""
    from hsm.cli import config_from_args
    from hutong.config import load_config
    from hutong.node import hsm_config

    data_dir: Path | None = getattr(args, "data_dir", None)
    return hsm_config(load_config(data_dir)) if data_dir else config_from_args(args)


def _command_of(argv: Sequence[str]) -> str | None:
    """The command group named on the command line (the first word that is not an option), if any."""
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The full parser; given ``argv``, only the area module of the command being run is imported."""
    parser = argparse.ArgumentParser(
        prog="hutong",
        description="Hutong (互通): identity, e-seals and e-licences for a federated government-service network.",
        epilog="examples:\n  hutong serve --data-dir var/node --listen 127.0.0.1:7443\n"
        "  hutong audit verify --data-dir var/node\n  hutong demo --out demo-out\n"
        "  hutong identity login --id-number-file - --token-file me.session   # the ID number on stdin\n"
        "  hutong seal sign SEAL_ID contract.pdf sealed.pdf --token-file me.session\n"
        "  hutong cert verify 1.2.156.3005.2....\n\n"
        "every gRPC command takes --target, --tls-ca/--tls-cert/--tls-key, --token-file, --client-id;\n"
        "add --json for machine-readable output.\n"
        "exit codes: 0 ok, 1 a check failed (verification, audit chain, batch rows), 2 error, 130 interrupted",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    node = sub.add_parser("node", help="prepare a node's data directory").add_subparsers(dest="sub", required=True)
    init = node.add_parser("init", help="create the SoftHSM token, database and PKI (idempotent)")
    data_dir_arg(init)
    init.add_argument("--node-id", default=None, help="node id, e.g. province-a (new directories only)")
    init.add_argument("--name", default=None, help="node display name (new directories only)")
    json_arg(init)
    init.set_defaults(func=_node_init)
    from hutong import node_cli

    node_cli.register(node)

    serve = sub.add_parser("serve", help="run a node: identity, seal and cert on one port")
    data_dir_arg(serve)
    serve.add_argument("--listen", default=None, help="HOST:PORT (default from hutong.toml: 127.0.0.1:7443)")
    serve.add_argument("--workers", type=int, default=None, help="worker processes sharing the port")
    serve.set_defaults(func=_serve)

    wanted = AREA_GROUPS.get(_command_of(argv) or "") if argv is not None else None
    if wanted is None or wanted == "hsm.cli":
        from hsm.cli import register as register_hsm

        register_hsm(sub, audit_sink_factory=_hsm_audit_sink, config_factory=_hsm_config,
                     node_rotate=_node_rotate, destroy_guard=node_cli.destroy_guard)
    for module_name in AREA_CLIS:
        if wanted is not None and module_name != wanted:
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue
            raise
        module.register(sub)
    return parser


def _report(err: HutongError) -> int:
    hint = HINTS.get(err.reason, "")
    print(f"error: {err.reason}: {err.message}" + (f" ({hint})" if hint and hint not in err.message else ""),
          file=sys.stderr)
    return EXIT_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except HutongError as err:
        return _report(err)
    except BrokenPipeError:  # the reader went away (`hutong cert list | head`): not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so that flushing stdout at exit does not complain again
        return EXIT_BROKEN_PIPE
    except OSError as exc:  # a file named on the command line: missing, unreadable, not writable
        where = f" {exc.filename}" if exc.filename else ""
        print(f"error: FILE_UNREADABLE: {exc.strerror or exc}{where} (check the path and its permissions)",
              file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:
        lifted = lift(exc)  # the HSM's own errors
        if lifted is None:
            raise
        return _report(lifted)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
