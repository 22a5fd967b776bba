"""``hutong cert types|issue|issue-batch|get|list|consent|revoke|suspend|verify`` over gRPC.

Credentials: ``HUTONG_TOKEN`` (or ``--token-file``) for a person's access token, or
``HUTONG_CLIENT_ID`` + ``HUTONG_CLIENT_SECRET`` for a platform (a department's issuing system).
Never on the command line: it would show in process listings and shell history.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.json_format import MessageToDict

from hutong.auth import CLIENT_ID, CLIENT_SECRET

EXIT_OK, EXIT_FAILED_ROWS = 0, 3


def _client(args: argparse.Namespace) -> Any:
    from hutong_client.cert import CertClient

    token = Path(args.token_file).read_text().strip() if args.token_file else os.environ.get("HUTONG_TOKEN", "")
    metadata: list[tuple[str, str]] = []
    if os.environ.get("HUTONG_CLIENT_ID"):
        metadata = [(CLIENT_ID, os.environ["HUTONG_CLIENT_ID"]),
                    (CLIENT_SECRET, os.environ.get("HUTONG_CLIENT_SECRET", ""))]
    return CertClient(grpc.insecure_channel(args.target), token=token or None, metadata=metadata)


def _print(message: Any) -> None:
    print(json.dumps(MessageToDict(message), ensure_ascii=False, indent=2))


def _fields(pairs: list[str]) -> dict[str, str]:
    return dict(p.split("=", 1) for p in pairs)


def _types(args: argparse.Namespace) -> int:
    for t in _client(args).types():
        print(f"{t.code}\t{t.name}\t{t.authority}")
    return EXIT_OK


def _issue(args: argparse.Namespace) -> int:
    _print(_client(args).issue(args.type_code, args.holder_id, args.holder_name, _fields(args.field),
                               valid_from=args.valid_from, valid_until=args.valid_until))
    return EXIT_OK


def _progress(done: int, total: int) -> None:
    width = 40
    filled = width * done // max(total, 1)
    print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end="", file=sys.stderr, flush=True)


def _issue_batch(args: argparse.Namespace) -> int:
    data = Path(args.csv).read_bytes()
    total, done, failed = max(len(data.decode("utf-8-sig").splitlines()) - 1, 0), 0, 0
    for response in _client(args).issue_batch(args.type_code, data):
        for r in response.results:
            done += 1
            if r.reason:
                failed += 1
                print(f"row {r.row}: {r.reason}: {r.message}", file=sys.stdout)
        _progress(done, total)
        if response.HasField("summary"):
            s = response.summary
            print(f"\n{s.issued} issued, {s.failed} failed of {s.rows} rows", file=sys.stderr)
    return EXIT_FAILED_ROWS if failed else EXIT_OK


def _get(args: argparse.Namespace) -> int:
    _print(_client(args).get(args.identifier, args.purpose))
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    for c in _client(args).list(holder_id=args.holder_id, purpose=args.purpose, type_code=args.type_code):
        print(f"{c.identifier}\t{c.type_name}\t{c.holder.name}")
    return EXIT_OK


def _consent(args: argparse.Namespace) -> int:
    client = _client(args)
    if args.withdraw:
        _print(client.withdraw_consent(args.withdraw))
        return EXIT_OK
    until = datetime.fromisoformat(args.until).replace(tzinfo=UTC)
    _print(client.grant_consent(args.platform, args.identifier, args.purpose, until))
    return EXIT_OK


def _status(action: str) -> Any:
    def run(args: argparse.Namespace) -> int:
        _print(getattr(_client(args), action)(args.identifier, args.reason))
        return EXIT_OK

    return run


def _verify(args: argparse.Namespace) -> int:
    client = _client(args)
    if args.pdf:
        result = client.verify_rendition(Path(args.pdf).read_bytes())
    elif args.subject.startswith("1.2.156.3005.2."):
        result = client.verify(identifier=args.subject)
    else:
        result = client.verify(jws_token=args.subject)
    _print(result)
    return EXIT_OK if result.verdict == 1 else 1


def _cmd(group: Any, name: str, help_: str, func: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = group.add_parser(name, help=help_)
    p.add_argument("--target", default=os.environ.get("HUTONG_TARGET", "127.0.0.1:7443"))
    p.add_argument("--token-file", default="", help="file holding an access token (else $HUTONG_TOKEN)")
    p.set_defaults(func=func)
    return p


def register(subparsers: Any) -> None:
    cert = subparsers.add_parser("cert", help="e-certificates (over gRPC)").add_subparsers(dest="sub", required=True)
    _cmd(cert, "types", "list the catalogue", _types)
    p = _cmd(cert, "issue", "issue one certificate", _issue)
    p.add_argument("type_code")
    p.add_argument("holder_id")
    p.add_argument("holder_name")
    p.add_argument("--field", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--valid-from", default="")
    p.add_argument("--valid-until", default="")
    p = _cmd(cert, "issue-batch", "issue from a CSV (holder_id,holder_name,fields...)", _issue_batch)
    p.add_argument("type_code")
    p.add_argument("csv")
    p = _cmd(cert, "get", "show a certificate", _get)
    p.add_argument("identifier")
    p.add_argument("--purpose", default="")
    p = _cmd(cert, "list", "own certificates; issued ones (--type); a holder's within consent (--holder-id)", _list)
    p.add_argument("--holder-id", default="")
    p.add_argument("--purpose", default="")
    p.add_argument("--type-code", default="")
    p = _cmd(cert, "consent", "consent to a platform (or --withdraw ID)", _consent)
    p.add_argument("--platform", default="")
    p.add_argument("--identifier", action="append", default=[])
    p.add_argument("--purpose", default="")
    p.add_argument("--until", default="2099-01-01", help="YYYY-MM-DD")
    p.add_argument("--withdraw", default="", metavar="CONSENT_ID")
    for name in ("revoke", "suspend"):
        p = _cmd(cert, name, f"{name} a certificate", _status(name))
        p.add_argument("identifier")
        p.add_argument("--reason", default="")
    p = _cmd(cert, "verify", "verify an identifier, a JWS or (--pdf) a rendition", _verify)
    p.add_argument("subject", nargs="?", default="")
    p.add_argument("--pdf", default="")
