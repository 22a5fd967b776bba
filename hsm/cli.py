"""The officers' HSM commands: ``hutong hsm status|list|keygen|export-public|csr|import-cert|rotate|destroy``.

HSM settings come from ``--module/--token/--pin-file`` or HUTONG_HSM_MODULE, HUTONG_HSM_TOKEN,
HUTONG_HSM_PIN_FILE, HUTONG_HSM_PIN. There is deliberately no PIN option: command lines are visible to
every user of the machine. Every command, whether it succeeds or fails, is reported to the audit sink.

Rotation: a node's own key (``node.ROLE`` with ``--data-dir``) rolls over through the node in two staged,
audited steps (see ``hutong.rollover``); any other key: ``rotate --label L`` generates a new key, renames the
old one to ``L.retired-<UTC YYYYmmddTHHMMSSZ>`` (kept, with its certificate, to verify what it signed) and
makes the new key ``L``. Errors exit 2, as every ``hutong`` command.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from hsm import errors
from hsm.config import HsmConfig
from hsm.errors import FailedPrecondition, HsmError, InvalidArgument
from hsm.keys import KeyManager
from hsm.model import CreateKeyRequest, KeyAlgorithm, KeyInfo, SecretKeyInfo
from hsm.softhsm import SOFTHSM_MODULE, init_token
from hsm.x509 import build_csr

AuditSink = Callable[[str, str, dict[str, str]], None]  # (action, target, details); never PINs
AuditSinkFactory = Callable[[argparse.Namespace], AuditSink]
ConfigFactory = Callable[[argparse.Namespace], HsmConfig]
Handler = Callable[[argparse.Namespace, dict[str, str]], str]  # fills audit details, returns the target
EXIT_ERROR = 2  # as every ``hutong`` command: 0 success, 2 an error (the one-line ``error: REASON: ...``)


def config_from_args(args: argparse.Namespace) -> HsmConfig:
    module = args.module or os.environ.get("HUTONG_HSM_MODULE") or SOFTHSM_MODULE
    token = args.token or os.environ.get("HUTONG_HSM_TOKEN")
    if not module:
        raise errors.module_not_found("no PKCS#11 module: pass --module or set HUTONG_HSM_MODULE")
    if not token:
        raise errors.token_not_found("no token label: pass --token or set HUTONG_HSM_TOKEN")
    pin_file = args.pin_file or os.environ.get("HUTONG_HSM_PIN_FILE")
    return HsmConfig(
        module_path=module,
        token_label=token,
        pin_file=Path(pin_file) if pin_file else None,
        softhsm_conf=args.softhsm_conf,
    )


def _write_out(data: bytes, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(data.decode())
    else:
        out.write_bytes(data)


def _answer(args: argparse.Namespace, data: dict[str, Any], text: str | None) -> None:
    """A write command's answer: one JSON object with --json (for scripts), else a line for people."""
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2))
    elif text is not None:
        print(text)


def _info_row(k: KeyInfo | SecretKeyInfo) -> dict[str, str | bool]:
    return {
        "label": k.label,
        "id": k.id.hex(),
        "kind": k.kind,
        "uri": k.uri,
        "sensitive": k.sensitive,
        "extractable": k.extractable,
        "always_sensitive": k.always_sensitive,
        "never_extractable": k.never_extractable,
        "local": k.local,
        "key_gen_mechanism": k.key_gen_mechanism or "",
        "certificate": isinstance(k, KeyInfo) and k.has_certificate,
    }


# -- commands (run with an open KeyManager; they fill ``audit`` and return the audit target) ----------
def _status(km: KeyManager, args: argparse.Namespace, audit: dict[str, str]) -> str:
    t = km.token_info()
    pin = (
        "locked"
        if t.pin_locked
        else "final try"
        if t.pin_final_try
        else "count low"
        if t.pin_count_low
        else "ok"
    )
    data = {
        "label": t.label,
        "manufacturer": t.manufacturer,
        "model": t.model,
        "serial": t.serial,
        "pin": pin,
        "flags": list(t.flags),
        "keys": len(km.list_keys()),
        "free_public_memory": t.free_public_memory,
        "free_private_memory": t.free_private_memory,
    }
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        for k, v in data.items():
            print(f"{k + ':':22}{' '.join(v) if isinstance(v, list) else ('unknown' if v is None else v)}")
    audit["pin"] = pin
    return t.label


def _list(km: KeyManager, args: argparse.Namespace, audit: dict[str, str]) -> str:
    rows = [_info_row(k) for k in km.list_keys()]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        cols = ("label", "kind", "id", "sensitive", "never_extractable", "local", "certificate")
        table = [[c.upper().replace("_", "-") for c in cols]] + [
            [str(r[c]).lower() if isinstance(r[c], bool) else str(r[c]) for c in cols] for r in rows
        ]
        widths = [max(len(row[i]) for row in table) for i in range(len(cols))]
        for row in table:
            print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    audit["count"] = str(len(rows))
    return km.config.token_label


def _keygen(km: KeyManager, args: argparse.Namespace, audit: dict[str, str]) -> str:
    audit["algorithm"] = args.algorithm
    info = km.create_key(CreateKeyRequest(label=args.label, algorithm=KeyAlgorithm(args.algorithm)))
    audit.update(id=info.id.hex(), uri=info.uri)
    _answer(args, {"label": info.label, "id": info.id.hex(), "uri": info.uri}, info.uri)
    return args.label


def _export_public(km: KeyManager, args: argparse.Namespace, audit: dict[str, str]) -> str:
    info = km.get_key(args.key)
    pem = info.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _write_out(pem, args.out)
    audit["id"] = info.id.hex()
    return info.label


def _csr(km: KeyManager, args: argparse.Namespace, audit: dict[str, str]) -> str:
    try:
        subject = x509.Name.from_rfc4514_string(args.subject)
    except ValueError:
        raise InvalidArgument(
            "INVALID_ARGUMENT", f"'{args.subject}' is not a distinguished name like CN=x,O=y"
        ) from None
    signer = km.signer(args.key)
    csr = build_csr(signer, subject)
    _write_out(csr.public_bytes(serialization.Encoding.PEM), args.out)
    audit.update(id=signer.key.id.hex(), subject=subject.rfc4514_string())
    return signer.key.label


def _import_cert(km: KeyManager, args: argparse.Namespace, audit: dict[str, str]) -> str:
    raw = args.cert.read_bytes()
    try:
        cert = (
            x509.load_pem_x509_certificate(raw)
            if b"-----BEGIN" in raw
            else x509.load_der_x509_certificate(raw)
        )
    except ValueError:
        raise InvalidArgument(
            "INVALID_ARGUMENT", f"{args.cert} is not an X.509 certificate (PEM or DER)"
        ) from None
    km.import_certificate(args.key, cert)
    audit.update(serial=format(cert.serial_number, "x"), subject=cert.subject.rfc4514_string())
    _answer(args, {"key": args.key, "serial": audit["serial"], "subject": audit["subject"]}, None)
    return args.key


NODE_KEY_PREFIX = "node."  # a node's own keys: they roll over through the node, never by a raw swap


def _rotate_any(args: argparse.Namespace, audit: dict[str, str]) -> str:
    """A node's key (``node.*`` with --data-dir): the node's staged rollover; any other key: a raw rotation."""
    if args.label.startswith(NODE_KEY_PREFIX):
        if args.node_rotate is None or not getattr(args, "data_dir", None):
            raise FailedPrecondition("NODE_KEY_NEEDS_NODE", f"'{args.label}' is a node key: it rolls over "
                                     "through its node, name it with --data-dir")
        return str(args.node_rotate(args, audit))
    if args.dry_run or args.step != "auto":
        raise InvalidArgument("INVALID_ARGUMENT", "--dry-run and --step apply to node keys (node.*) only")
    with KeyManager(args.config_factory(args)) as km:
        audit["token"] = km.config.token_label
        return _rotate(km, args, audit)


def _rotate(km: KeyManager, args: argparse.Namespace, audit: dict[str, str]) -> str:
    new, retired = km.rotate_key(
        args.label, algorithm=KeyAlgorithm(args.algorithm) if args.algorithm else None
    )
    audit.update(id=new.id.hex(), retired_label=retired, algorithm=new.kind)
    _answer(args, {"active": new.uri, "retired": retired}, f"active:  {new.uri}\nretired: {retired}")
    return args.label


def _destroy(km: KeyManager, args: argparse.Namespace, audit: dict[str, str]) -> str:
    try:
        info: KeyInfo | SecretKeyInfo = km.get_key(args.key)
    except HsmError as exc:
        if exc.reason != errors.HSM_KEY_NOT_FOUND:
            raise
        info = km.get_secret_key(args.key)
    audit["id"] = info.id.hex()
    guard = getattr(args, "destroy_guard", None)
    if guard is not None:
        guard(args, info.label)  # e.g. a node key still needed to verify what it signed
    if not (args.yes and not sys.stdin.isatty()):
        # Typed confirmation: --yes alone is not enough at a terminal, where a slip is most likely.
        print(
            f"Destroying '{info.label}' ({info.kind}, id {info.id.hex()}) cannot be undone. "
            "Type the key label to confirm: ",
            end="",
            flush=True,
            file=sys.stderr,
        )
        answer = sys.stdin.readline().strip()
        if not sys.stdin.isatty():
            print(file=sys.stderr)  # a terminal echoed the newline; piped input did not
        if answer != info.label:
            audit["confirmed"] = "no"
            raise FailedPrecondition(
                "HSM_DESTROY_NOT_CONFIRMED", f"key '{info.label}' kept: confirmation did not match"
            )
    km.destroy_key(info.uri)
    _answer(args, {"destroyed": info.label, "id": info.id.hex()}, f"destroyed {info.label}")
    return info.label


def _init_token(args: argparse.Namespace, audit: dict[str, str]) -> str:
    """SoftHSM only: make a token in ``--dir`` (softhsm2.conf + tokens/); PIN files are created if missing."""
    token = args.token or os.environ.get("HUTONG_HSM_TOKEN")
    if not token:
        raise errors.token_not_found("no token label: pass --token or set HUTONG_HSM_TOKEN")
    pin = _pin_for_init(args.pin_file or os.environ.get("HUTONG_HSM_PIN_FILE"), "HUTONG_HSM_PIN", "user")
    so_pin = _pin_for_init(args.so_pin_file, "HUTONG_HSM_SO_PIN", "security officer")
    conf = args.dir / "softhsm2.conf"
    init_token(
        tokendir=args.dir / "tokens",
        conf_path=conf,
        label=token,
        pin=pin,
        so_pin=so_pin,
        module_path=args.module or os.environ.get("HUTONG_HSM_MODULE") or None,
    )
    audit["softhsm_conf"] = str(conf)
    _answer(args, {"token": token, "softhsm2_conf": str(conf)},
            f"token '{token}' initialised; SOFTHSM2_CONF={conf}")
    return token


def _pin_for_init(path: str | Path | None, env: str, who: str) -> str:
    if path is not None and Path(path).exists():
        return HsmConfig(module_path="", token_label="", pin_file=Path(path)).read_pin()
    if path is not None:
        pin = secrets.token_urlsafe(18)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(pin + "\n")
        return pin
    if os.environ.get(env):
        return os.environ[env]
    raise errors.pin_missing(f"no {who} PIN: pass a PIN file (created if missing) or set {env}")


# -- wiring ---------------------------------------------------------------------------------------
def _runner(
    name: str,
    handler: Callable[..., str],
    audit_sink_factory: AuditSinkFactory,
    config_factory: ConfigFactory,
    *,
    needs_token: bool = True,
) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        action = f"hsm.{name}"
        details: dict[str, str] = {}
        target = getattr(args, "key", None) or getattr(args, "label", None) or ""
        try:
            sink = audit_sink_factory(args)  # before acting: no audit, no operation
        except Exception as exc:  # the application's audit log: its errors carry a reason, others only a type
            reason = getattr(exc, "reason", None)
            print(f"error: {exc}" if reason else f"error: AUDIT_UNAVAILABLE: {type(exc).__name__}", file=sys.stderr)
            return EXIT_ERROR
        try:
            if needs_token:
                with KeyManager(config_factory(args)) as km:
                    details["token"] = km.config.token_label
                    target = handler(km, args, details)
            else:
                target = handler(args, details)
            details["outcome"] = "ok"
            code = 0
        except HsmError as exc:
            details.update(outcome="failed", reason=exc.reason, message=exc.message)
            print(f"error: {exc}", file=sys.stderr)
            code = EXIT_ERROR
        except OSError as exc:
            details.update(outcome="failed", reason="IO_ERROR", message=f"{exc.filename}: {exc.strerror}")
            print(f"error: IO_ERROR: {exc.filename}: {exc.strerror}", file=sys.stderr)
            code = EXIT_ERROR
        except Exception as exc:  # never a traceback for officers; the type tells an engineer where to look
            reason, message = getattr(exc, "reason", None), getattr(exc, "message", None)
            if isinstance(reason, str) and isinstance(message, str):  # the node's own errors (node_rotate, guard)
                details.update(outcome="failed", reason=reason, message=message)
                print(f"error: {reason}: {message}", file=sys.stderr)
                code = EXIT_ERROR
            else:
                details.update(outcome="failed", reason="INTERNAL", message=type(exc).__name__)
                print(f"error: INTERNAL: unexpected {type(exc).__name__}", file=sys.stderr)
                code = EXIT_ERROR
        try:
            sink(action, str(target), details)
        except Exception as exc:
            print(
                f"error: AUDIT_FAILED: the audit log did not record {action} ({type(exc).__name__})",
                file=sys.stderr,
            )
            return EXIT_ERROR
        return code

    return run


def register(
    subparsers: argparse._SubParsersAction,
    *,
    audit_sink_factory: AuditSinkFactory,  # type: ignore[type-arg]
    config_factory: ConfigFactory = config_from_args,
    node_rotate: Handler | None = None,
    destroy_guard: Callable[[argparse.Namespace, str], None] | None = None,
) -> None:
    """Add the ``hsm`` command group; each subcommand sets ``args.func(args) -> exit code``.

    ``node_rotate`` does the staged rollover of a node's own key (``hsm rotate --data-dir D --label node.*``);
    ``destroy_guard(args, label)`` raises to keep a key that is still needed."""
    hsm = subparsers.add_parser(
        "hsm", help="HSM officers' commands (keys inside the PKCS#11 token)",
        description="Keys never leave the token; PINs come from a file or HUTONG_HSM_PIN, never the command line. "
        "Every command is recorded in the node's audit log when --data-dir names the node.",
        epilog="examples:\n"
        "  hutong hsm status --data-dir var/node\n"
        "  hutong hsm list --data-dir var/node --json\n"
        "  hutong hsm keygen --data-dir var/node --label dept.seal-2027 --algorithm ec-p256\n"
        "  hutong hsm csr --data-dir var/node --key dept.seal-2027 --subject 'CN=Seal,O=Dept,C=CN' --out seal.csr\n"
        "  hutong hsm import-cert --data-dir var/node --key dept.seal-2027 --cert seal.pem\n"
        "  hutong hsm rotate --data-dir var/node --label node.token-signing --dry-run\n"
        "  hutong hsm rotate --data-dir var/node --label node.token-signing   # prepare, then run again: activate\n"
        "  hutong hsm destroy --data-dir var/node --key old-key      # asks you to type the label\n"
        "  hutong hsm list --module /opt/hsm/lib/pkcs11.so --token prod --pin-file /run/secrets/pin",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = hsm.add_subparsers(dest="hsm_command", required=True, metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--module", help="PKCS#11 module path (env HUTONG_HSM_MODULE; default SoftHSM2)")
    common.add_argument("--token", help="token label (env HUTONG_HSM_TOKEN)")
    common.add_argument(
        "--pin-file", help="file holding the user PIN (env HUTONG_HSM_PIN_FILE, else HUTONG_HSM_PIN)"
    )
    common.add_argument("--softhsm-conf", type=Path, help="softhsm2.conf, unless SOFTHSM2_CONF is set")
    common.add_argument("--data-dir", type=Path,
                        help="a node's data directory: use its token and record in its audit log")
    algorithms = [a.value for a in KeyAlgorithm]

    def add(
        name: str, handler: Callable[..., str], help_: str, *, needs_token: bool = True, answers_json: bool = True
    ) -> argparse.ArgumentParser:
        # No abbreviations: "--pin 1234" must be an error, not a PIN file called 1234.
        p = sub.add_parser(name, parents=[common], help=help_, description=help_, allow_abbrev=False)
        p.set_defaults(
            func=_runner(name, handler, audit_sink_factory, config_factory, needs_token=needs_token)
        )
        if answers_json:
            p.add_argument("--json", action="store_true", help="answer one JSON object")
        return p

    p = add(
        "init-token",
        _init_token,
        "create a SoftHSM2 token (PIN files are created if missing)",
        needs_token=False,
    )
    p.add_argument("--dir", type=Path, required=True, help="directory for softhsm2.conf and tokens/")
    p.add_argument("--so-pin-file", type=Path, help="file holding the SO PIN (env HUTONG_HSM_SO_PIN)")
    p = add("status", _status, "token status: model, serial, PIN state, key count")
    p = add("list", _list, "list keys with their attributes")
    p = add("keygen", _keygen, "generate a key pair inside the token")
    p.add_argument("--label", required=True)
    p.add_argument("--algorithm", choices=algorithms, default=KeyAlgorithm.EC_P256.value)
    p = add("export-public", _export_public, "export a public key (PEM)", answers_json=False)
    p.add_argument("--key", required=True, help="label or pkcs11: URI")
    p.add_argument("--out", type=Path)
    p = add("csr", _csr, "make a PKCS#10 request signed by a key in the token", answers_json=False)
    p.add_argument("--key", required=True, help="label or pkcs11: URI")
    p.add_argument("--subject", required=True, help='e.g. "CN=Seal CA,O=Hutong,C=CN"')
    p.add_argument("--out", type=Path)
    p = add("import-cert", _import_cert, "store a certificate beside its key")
    p.add_argument("--key", required=True, help="label or pkcs11: URI")
    p.add_argument("--cert", type=Path, required=True, help="PEM or DER file")
    p = add("rotate", _rotate_any, "roll a key over: a node key (node.ROLE, with --data-dir) in two audited "
            "steps, prepare (successor published, not used) then activate (used; the old key kept until what "
            "it signed expires; node.data-key: a third step, reencrypt, moves what the old key protected); "
            "any other key: new key under LABEL, the old one becomes LABEL.retired-<UTC time>",
            needs_token=False)
    p.add_argument("--label", required=True, help="e.g. node.token-signing, node.seal-ca, node.issuer-ca, node.tsa, "
                   "node.trust-list, node.federation-enc, node.data-key, node.blind-index, or a key of your own")
    p.add_argument("--algorithm", choices=algorithms, help="default: the old key's algorithm")
    p.add_argument("--step", choices=("auto", "prepare", "activate", "reencrypt", "reindex"), default="auto",
                   help="node keys: auto (default) prepares if nothing is pending, else activates the pending key; "
                   "node.data-key then re-encrypts what the old key protected, node.blind-index re-indexes what "
                   "it indexed (both resumable)")
    p.add_argument("--batch-size", type=int, default=200, help="reencrypt/reindex: records per transaction")
    p.add_argument("--pause", type=float, default=0.0, help="reencrypt/reindex: seconds between batches "
                   "(spare the HSM)")
    p.add_argument("--dry-run", action="store_true", help="say what the step would do; change nothing")
    p.set_defaults(node_rotate=node_rotate, config_factory=config_factory)
    p = add("destroy", _destroy, "destroy a key (asks for the label to be typed); a node key still needed is kept")
    p.set_defaults(destroy_guard=destroy_guard)
    p.add_argument("--key", required=True, help="label or pkcs11: URI")
    p.add_argument(
        "--yes", action="store_true", help="skip the confirmation, only when stdin is not a terminal"
    )


def _stderr_sink(args: argparse.Namespace) -> AuditSink:
    def sink(action: str, target: str, details: dict[str, str]) -> None:
        print(
            "audit: " + json.dumps({"action": action, "target": target, **details}, sort_keys=True),
            file=sys.stderr,
        )

    return sink


def main(argv: Sequence[str] | None = None, *, audit_sink_factory: AuditSinkFactory = _stderr_sink) -> int:
    """Stand-alone entry (``python -m hsm.cli hsm ...``); audit records go to stderr as JSON lines."""
    parser = argparse.ArgumentParser(prog="hutong")
    register(parser.add_subparsers(dest="command", required=True), audit_sink_factory=audit_sink_factory)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
