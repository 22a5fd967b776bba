"""``hutong seal create|list|grant|revoke|sign|verify``: seals and sealed PDFs, over gRPC through the SDK.

Who: ``--token-file`` (a session from ``hutong identity login``) or ``$HUTONG_TOKEN`` for a person, or
``--client-id`` + ``$HUTONG_CLIENT_SECRET`` for a platform (never a secret on the command line: it would
show in the process list and shell history). Tables by default, ``--json`` for scripts.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from hutong.cli import EXAMPLES, add_command, paging_args, print_json, print_table, progress, sdk, show_list
from hutong.errors import AlreadyExists, InvalidArgument
from hutong.seal.v1 import seal_pb2

EXIT_OK, EXIT_CHECK_FAILED = 0, 1
_TYPES = {"official": seal_pb2.SEAL_TYPE_OFFICIAL, "contract": seal_pb2.SEAL_TYPE_CONTRACT,
          "finance": seal_pb2.SEAL_TYPE_FINANCE, "invoice": seal_pb2.SEAL_TYPE_INVOICE,
          "legal-representative": seal_pb2.SEAL_TYPE_LEGAL_REPRESENTATIVE}
_LEVELS = {"B-B": seal_pb2.PADES_LEVEL_B_B, "B-T": seal_pb2.PADES_LEVEL_B_T, "B-LT": seal_pb2.PADES_LEVEL_B_LT,
           "B-LTA": seal_pb2.PADES_LEVEL_B_LTA}
_CERTIFY = {"no-changes": seal_pb2.CERTIFICATION_NO_CHANGES, "form-filling": seal_pb2.CERTIFICATION_FORM_FILLING,
            "annotations": seal_pb2.CERTIFICATION_ANNOTATIONS}
EXAMPLES_TEXT = """examples:
  hutong seal create --org-uscc 91350100M000100Y43 --type contract --token-file me.session
  hutong seal list --org-uscc 91350100M000100Y43 --token-file me.session
  hutong seal grant SEAL_ID --platform portal --max-uses 100 --token-file me.session
  hutong seal sign SEAL_ID contract.pdf contract-sealed.pdf --reason 同意 --token-file me.session
  hutong seal sign SEAL_ID a.pdf b.pdf c.pdf --out-dir sealed/ --client-id portal   # many files, progress bar
  hutong seal verify contract-sealed.pdf --json --token-file me.session

exit codes: 0 ok, 1 a document does not verify as valid, 2 error, 130 interrupted"""


def _client(args: argparse.Namespace) -> Any:
    return sdk(args).seal


def _name(enum: Any, value: int, prefix: str) -> str:
    return str(enum.Name(value)).removeprefix(prefix).lower().replace("_", "-")


def _seal_row(s: Any) -> dict[str, str]:
    return {"seal_id": s.seal_id, "status": _name(seal_pb2.SealStatus, s.status, "SEAL_STATUS_"),
            "type": _name(seal_pb2.SealType, s.type, "SEAL_TYPE_"), "org_uscc": s.org_uscc, "name": s.name}


def _seal_out(args: argparse.Namespace, seals: list[Any], *, table: bool = True) -> None:
    rows = [_seal_row(s) for s in seals]
    if args.json:
        print_json(rows if table else rows[0])
    elif table:
        print_table(rows, ("seal_id", "status", "type", "org_uscc", "name"), empty="no seals")
    else:  # one seal: its id first, so scripts can take the first word
        r = rows[0]
        print(f"{r['seal_id']}  {r['status']}  {r['type']}  {r['org_uscc']}  {r['name']}")


def _create(args: argparse.Namespace) -> int:
    from hutong.cli import read_file

    image = read_file(args.image, "seal image") if args.image else b""
    seal = _client(args).create_seal(org_uscc=args.org_uscc, org_name=args.org_name, type=_TYPES[args.type],
                                     name=args.name, image_png=image)
    if args.image_out:
        Path(args.image_out).write_bytes(seal.image_png)
    _seal_out(args, [seal], table=False)
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    client, org = _client(args), args.org_uscc
    return show_list(args, lambda size, token: client.seals_page(org, page_size=size, page_token=token),
                     lambda size, token: client.iter_seals(org, page_size=size, page_token=token),
                     lambda seals: _seal_out(args, seals))


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).astimezone()
    except ValueError:
        raise InvalidArgument("TIME_INVALID", f"not an ISO 8601 time: {value}") from None


def _grant_row(g: Any, seal_id: str) -> dict[str, Any]:
    kind = _name(seal_pb2.GranteeKind, g.grantee_kind, "GRANTEE_KIND_") if g.grantee_kind else ""
    return {"grant_id": g.grant_id, "seal_id": seal_id, "grantee": f"{kind}:{g.grantee}" if kind else g.grantee,
            "uses": g.uses, "max_uses": g.max_uses or "unlimited"}


def _grant(args: argparse.Namespace) -> int:
    kind, grantee = ((seal_pb2.GRANTEE_KIND_PERSON, args.person) if args.person
                     else (seal_pb2.GRANTEE_KIND_PLATFORM, args.platform))
    g = _client(args).grant(args.seal_id, grantee=grantee, kind=kind, max_uses=args.max_uses,
                            not_before=_when(args.not_before), not_after=_when(args.not_after))
    row = _grant_row(g, args.seal_id)
    if args.json:
        print_json(row)
    else:
        print(f"{row['grant_id']}  {row['seal_id']}  {row['grantee']}  uses {row['uses']}/{row['max_uses']}")
    return EXIT_OK


def _revoke(args: argparse.Namespace) -> int:
    client = _client(args)
    if args.grant:
        g = client.revoke_grant(args.id)
        if args.json:
            print_json({"grant_id": g.grant_id, "revoked": True})
        else:
            print(f"{g.grant_id}  revoked")
    else:
        _seal_out(args, [client.revoke_seal(args.id, args.reason)], table=False)
    return EXIT_OK


def _sign_jobs(args: argparse.Namespace) -> list[tuple[Path, Path]]:
    files = [Path(f) for f in args.files]
    if args.out_dir is None:
        if len(files) != 2:
            raise InvalidArgument("ARGUMENTS_INVALID", "give INPUT OUTPUT, or several inputs with --out-dir DIR")
        return [(files[0], files[1])]
    out_dir = Path(args.out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InvalidArgument("ARGUMENTS_INVALID", f"--out-dir {out_dir} is not a directory")
    out_dir.mkdir(parents=True, exist_ok=True)
    return [(f, out_dir / f.name) for f in files]


def _sign(args: argparse.Namespace) -> int:
    jobs = _sign_jobs(args)
    for src, dest in jobs:
        if not src.is_file():
            raise InvalidArgument("FILE_UNREADABLE", f"cannot read the input {src}: no such file")
        # Checked before any call: sealing uses up a grant, and a sealed document is not to be lost silently.
        if dest.exists() and not args.force:
            raise AlreadyExists("OUTPUT_EXISTS", f"{dest} already exists: add --force to overwrite it")
    placement = None
    if args.field is None:
        placement = seal_pb2.Placement(page=args.page, x=args.x, y=args.y, width=args.size, height=args.size)
    client = _client(args)
    results = []
    for n, (src, dest) in enumerate(jobs, start=1):
        key = args.idempotency_key and (args.idempotency_key if len(jobs) == 1 else f"{args.idempotency_key}:{n}")
        result = client.sign_file(
            src, dest, args.seal_id, placement=placement, field_name=args.field or "", idempotency_key=key,
            reason=args.reason, location=args.location, level=_LEVELS[args.level],
            certification=_CERTIFY[args.certify] if args.certify else seal_pb2.CERTIFICATION_UNSPECIFIED)
        results.append({"input": str(src), "output": str(dest), "field": result.field_name, "level": args.level,
                        "sha256": result.output_sha256})
        if len(jobs) > 1:
            progress(n, len(jobs), src.name)
    if args.json:
        print_json(results if args.out_dir is not None else results[0])
    else:
        for r in results:
            print(f"sealed {r['output']}: field {r['field']}, {r['level']}, sha256 {r['sha256']}")
    return EXIT_OK


def _verify(args: argparse.Namespace) -> int:
    from google.protobuf.json_format import MessageToDict

    from hutong.common.v1 import common_pb2

    if not Path(args.input).is_file():
        raise InvalidArgument("FILE_UNREADABLE", f"cannot read the input {args.input}: no such file")
    report = _client(args).verify_file(args.input)
    verdict = common_pb2.Verdict.Name(report.verdict).removeprefix("VERDICT_").lower()
    if args.json:
        print_json(MessageToDict(report))
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


def register(subparsers: Any) -> None:
    seal = subparsers.add_parser("seal", help="electronic seals: create, grant, seal and verify PDFs",
                                 description="Electronic seals of organisations, over gRPC.", epilog=EXAMPLES_TEXT,
                                 formatter_class=EXAMPLES)
    sub = seal.add_subparsers(dest="sub", required=True, metavar="COMMAND")

    def command(name: str, help_: str, func: Any) -> argparse.ArgumentParser:
        return add_command(sub, name, help_, func, epilog=EXAMPLES_TEXT)

    p = command("create", "create a seal for your organisation (key in the node's HSM)", _create)
    p.add_argument("--org-uscc", required=True)
    p.add_argument("--org-name", default="", help="needed when the organisation is not registered at the node")
    p.add_argument("--type", choices=sorted(_TYPES), default="official")
    p.add_argument("--name", default="", help="display name (default: organisation name + type)")
    p.add_argument("--image", default=None, help="PNG to use instead of the generated red round seal")
    p.add_argument("--image-out", default=None, help="write the seal image (PNG) here")

    p = command("list", "list an organisation's seals", _list)
    p.add_argument("--org-uscc", default="", help="default: your organisation context")
    paging_args(p)

    p = command("grant", "let a person or a platform use a seal", _grant)
    p.add_argument("seal_id")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--person", help="the person's account id")
    who.add_argument("--platform", help="the platform's client id")
    p.add_argument("--max-uses", type=int, default=0, help="0 = unlimited")
    p.add_argument("--not-before", default=None, help="ISO 8601 time")
    p.add_argument("--not-after", default=None, help="ISO 8601 time")

    p = command("revoke", "revoke a seal (permanent, published on the CRL) or, with --grant, a grant", _revoke)
    p.add_argument("id", help="seal id (or grant id with --grant)")
    p.add_argument("--grant", action="store_true")
    p.add_argument("--reason", default="")

    p = command("sign", "seal PDF files: INPUT OUTPUT, or INPUT... --out-dir DIR (progress bar)", _sign)
    p.add_argument("seal_id")
    p.add_argument("files", nargs="+", metavar="FILE", help="INPUT OUTPUT, or inputs with --out-dir")
    p.add_argument("--out-dir", default=None, help="seal every input into this directory (same file names; "
                   "created if missing)")
    p.add_argument("--field", default=None, help="an existing empty signature field (instead of a position)")
    p.add_argument("--page", type=int, default=1)
    p.add_argument("--x", type=float, default=400.0, help="points from the left edge")
    p.add_argument("--y", type=float, default=60.0, help="points from the bottom edge")
    p.add_argument("--size", type=float, default=120.0, help="width and height of the seal in points")
    p.add_argument("--reason", default="")
    p.add_argument("--location", default="")
    p.add_argument("--level", choices=sorted(_LEVELS), default="B-T")
    p.add_argument("--certify", choices=sorted(_CERTIFY), default=None, help="certify the document (DocMDP)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.add_argument("--idempotency-key", default="", help="any unique string (a UUID): sealing again with it returns "
                   "the first sealed document and uses the grant once (each of several inputs gets KEY:N)")

    p = command("verify", "verify the seals on a PDF (exit 1 unless valid)", _verify)
    p.add_argument("input")


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use: hutong seal ...")
