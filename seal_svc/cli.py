"""``hutong seal ...``: manage seals and seal/verify PDFs on disk, talking to a node over gRPC.

The access token comes from ``--token-file`` or ``HUTONG_TOKEN`` (never a command-line value: it
would show in the process list and shell history).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import grpc

from hutong.errors import InvalidArgument, Unauthenticated
from hutong.seal.v1 import seal_pb2

EXIT_OK, EXIT_CHECK_FAILED = 0, 1
_TYPES = {"official": seal_pb2.SEAL_TYPE_OFFICIAL, "contract": seal_pb2.SEAL_TYPE_CONTRACT,
          "finance": seal_pb2.SEAL_TYPE_FINANCE, "invoice": seal_pb2.SEAL_TYPE_INVOICE,
          "legal-representative": seal_pb2.SEAL_TYPE_LEGAL_REPRESENTATIVE}
_LEVELS = {"B-B": seal_pb2.PADES_LEVEL_B_B, "B-T": seal_pb2.PADES_LEVEL_B_T, "B-LT": seal_pb2.PADES_LEVEL_B_LT,
           "B-LTA": seal_pb2.PADES_LEVEL_B_LTA}
_CERTIFY = {"no-changes": seal_pb2.CERTIFICATION_NO_CHANGES, "form-filling": seal_pb2.CERTIFICATION_FORM_FILLING,
            "annotations": seal_pb2.CERTIFICATION_ANNOTATIONS}
MAX_MESSAGE = 8 * 1024 * 1024


def _token(args: argparse.Namespace) -> str:
    if args.token_file:
        return Path(args.token_file).read_text(encoding="utf-8").strip()
    token = os.environ.get("HUTONG_TOKEN", "")
    if not token:
        raise Unauthenticated("TOKEN_REQUIRED", "give --token-file or set HUTONG_TOKEN")
    return token


def _client(args: argparse.Namespace) -> Any:
    from hutong_client.seal import SealClient

    options = [("grpc.max_receive_message_length", MAX_MESSAGE), ("grpc.max_send_message_length", MAX_MESSAGE)]
    if args.tls_ca:
        creds = grpc.ssl_channel_credentials(root_certificates=Path(args.tls_ca).read_bytes())
        channel = grpc.secure_channel(args.target, creds, options=options)
    else:
        channel = grpc.insecure_channel(args.target, options=options)
    return SealClient(channel, token=_token(args))


def _seal_line(s: Any) -> str:
    status = seal_pb2.SealStatus.Name(s.status).removeprefix("SEAL_STATUS_").lower()
    kind = seal_pb2.SealType.Name(s.type).removeprefix("SEAL_TYPE_").lower()
    return f"{s.seal_id}  {status:9}  {kind:20}  {s.org_uscc}  {s.name}"


def _create(args: argparse.Namespace) -> int:
    image = Path(args.image).read_bytes() if args.image else b""
    seal = _client(args).create_seal(org_uscc=args.org_uscc, org_name=args.org_name, type=_TYPES[args.type],
                                     name=args.name, image_png=image)
    print(_seal_line(seal))
    if args.image_out:
        Path(args.image_out).write_bytes(seal.image_png)
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    for seal in _client(args).list_seals(args.org_uscc):
        print(_seal_line(seal))
    return EXIT_OK


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).astimezone()
    except ValueError:
        raise InvalidArgument("TIME_INVALID", f"not an ISO 8601 time: {value}") from None


def _grant(args: argparse.Namespace) -> int:
    kind, grantee = ((seal_pb2.GRANTEE_KIND_PERSON, args.person) if args.person
                     else (seal_pb2.GRANTEE_KIND_PLATFORM, args.platform))
    g = _client(args).grant(args.seal_id, grantee=grantee, kind=kind, max_uses=args.max_uses,
                            not_before=_when(args.not_before), not_after=_when(args.not_after))
    print(f"{g.grant_id}  {args.seal_id}  {'person' if args.person else 'platform'}:{g.grantee}"
          f"  uses {g.uses}/{g.max_uses or 'unlimited'}")
    return EXIT_OK


def _revoke(args: argparse.Namespace) -> int:
    client = _client(args)
    if args.grant:
        g = client.revoke_grant(args.id)
        print(f"{g.grant_id}  revoked")
    else:
        print(_seal_line(client.revoke_seal(args.id, args.reason)))
    return EXIT_OK


def _sign(args: argparse.Namespace) -> int:
    placement = None
    if args.field is None:
        placement = seal_pb2.Placement(page=args.page, x=args.x, y=args.y, width=args.size, height=args.size)
    result = _client(args).sign_file(
        args.input, args.output, args.seal_id, placement=placement, field_name=args.field or "",
        reason=args.reason, location=args.location, level=_LEVELS[args.level],
        certification=_CERTIFY[args.certify] if args.certify else seal_pb2.CERTIFICATION_UNSPECIFIED)
    print(f"sealed {args.output}: field {result.field_name}, {args.level}, sha256 {result.output_sha256}")
    return EXIT_OK


def _verify(args: argparse.Namespace) -> int:
    from google.protobuf.json_format import MessageToDict

    from hutong.common.v1 import common_pb2

    report = _client(args).verify_file(args.input)
    verdict = common_pb2.Verdict.Name(report.verdict).removeprefix("VERDICT_").lower()
    if args.json:
        print(json.dumps(MessageToDict(report), ensure_ascii=False, indent=2))
    else:
        print(f"{args.input}: {verdict}")
        for s in report.signatures:
            v = common_pb2.Verdict.Name(s.verdict).removeprefix("VERDICT_").lower()
            ts = s.timestamp_time.ToDatetime().isoformat() + "Z" if s.has_timestamp else "no timestamp"
            print(f"  {s.field_name}: {v}  {s.org_name} ({s.org_uscc}) seal {s.seal_id}  {ts}")
            for f in s.findings:
                print(f"    {f.reason}: {f.message}")
        for f in report.findings:
            print(f"  {f.reason}: {f.message}")
    return EXIT_OK if report.verdict == common_pb2.VERDICT_VALID else EXIT_CHECK_FAILED


def _connection_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target", default=os.environ.get("HUTONG_TARGET", "127.0.0.1:7443"),
                   help="the node, HOST:PORT (default: $HUTONG_TARGET or 127.0.0.1:7443)")
    p.add_argument("--token-file", default=None, help="file holding an access token (else $HUTONG_TOKEN)")
    p.add_argument("--tls-ca", default=None, help="CA certificate (PEM) to use TLS to the node")


def register(subparsers: Any) -> None:
    seal = subparsers.add_parser("seal", help="electronic seals: create, grant, seal and verify PDFs")
    sub = seal.add_subparsers(dest="sub", required=True, metavar="COMMAND")

    p = sub.add_parser("create", help="create a seal for your organisation (key in the node's HSM)")
    p.add_argument("--org-uscc", required=True)
    p.add_argument("--org-name", default="", help="needed when the organisation is not registered at the node")
    p.add_argument("--type", choices=sorted(_TYPES), default="official")
    p.add_argument("--name", default="", help="display name (default: organisation name + type)")
    p.add_argument("--image", default=None, help="PNG to use instead of the generated red round seal")
    p.add_argument("--image-out", default=None, help="write the seal image (PNG) here")
    p.set_defaults(func=_create)

    p = sub.add_parser("list", help="list an organisation's seals")
    p.add_argument("--org-uscc", default="", help="default: your organisation context")
    p.set_defaults(func=_list)

    p = sub.add_parser("grant", help="let a person or a platform use a seal")
    p.add_argument("seal_id")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--person", help="the person's account id")
    who.add_argument("--platform", help="the platform's client id")
    p.add_argument("--max-uses", type=int, default=0, help="0 = unlimited")
    p.add_argument("--not-before", default=None, help="ISO 8601 time")
    p.add_argument("--not-after", default=None, help="ISO 8601 time")
    p.set_defaults(func=_grant)

    p = sub.add_parser("revoke", help="revoke a seal (permanent, published on the CRL) or, with --grant, a grant")
    p.add_argument("id", help="seal id (or grant id with --grant)")
    p.add_argument("--grant", action="store_true")
    p.add_argument("--reason", default="")
    p.set_defaults(func=_revoke)

    p = sub.add_parser("sign", help="seal a PDF file")
    p.add_argument("seal_id")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--field", default=None, help="an existing empty signature field (instead of a position)")
    p.add_argument("--page", type=int, default=1)
    p.add_argument("--x", type=float, default=400.0, help="points from the left edge")
    p.add_argument("--y", type=float, default=60.0, help="points from the bottom edge")
    p.add_argument("--size", type=float, default=120.0, help="width and height of the seal in points")
    p.add_argument("--reason", default="")
    p.add_argument("--location", default="")
    p.add_argument("--level", choices=sorted(_LEVELS), default="B-T")
    p.add_argument("--certify", choices=sorted(_CERTIFY), default=None, help="certify the document (DocMDP)")
    p.set_defaults(func=_sign)

    p = sub.add_parser("verify", help="verify the seals on a PDF (exit 1 unless valid)")
    p.add_argument("input")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_verify)

    for parser in sub.choices.values():
        _connection_args(parser)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use: hutong seal ...")
