"""``hutong cert types|issuers|issuer-add|issue|issue-batch|get|list|consent|access-log|suspend|revoke|rendition|
verify`` over gRPC through the SDK.

Who: ``--token-file`` / ``$HUTONG_TOKEN`` for a person, or ``--client-id`` + ``$HUTONG_CLIENT_SECRET`` for a
platform (a department's issuing system; the node operator's platform for ``issuer-add``). Never a secret
on the command line: it would show in process listings and shell history. ``verify`` needs no credentials.
Tables by default, ``--json`` for scripts.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from google.protobuf.json_format import MessageToDict

from hutong.cert.v1 import cert_pb2 as pb
from hutong.cli import (
    EXAMPLES,
    add_command,
    paging_args,
    personal_arg,
    print_json,
    print_table,
    progress,
    read_file,
    read_personal,
    sdk,
    show_list,
)
from hutong.common.v1 import common_pb2
from hutong.errors import InvalidArgument

EXIT_OK, EXIT_CHECK_FAILED = 0, 1
EXAMPLES_TEXT = """examples:
  hutong cert types
  hutong cert issuer-add 11430000006122244L 湖南省市场监督管理局 --type 11100000000013338W011 \\
      --platform amr-platform --client-id ops                      # the operator's platform
  hutong cert issue 11100000000013338W011 某某有限公司 --holder-id-file holder.txt --field name=某某有限公司 ... \\
      --fields-file private-fields.txt --client-id amr-platform   # NAME=VALUE lines: legal_representative_id=…
  hutong cert issue-batch 11100000000013338W011 licences.csv --client-id amr-platform   # progress bar
  hutong cert suspend 1.2.156.3005.2.... --reason 暂扣 --client-id amr-platform
  hutong cert verify 1.2.156.3005.2....          # or a JWS, or --pdf rendition.pdf; no credentials needed
  hutong cert list --json --token-file me.session

holder identifiers and ID-number fields never go on the command line: --holder-id-file (- = stdin) or
$HUTONG_HOLDER_ID; --fields-file for fields such as legal_representative_id
credentials: --token-file / $HUTONG_TOKEN (a person) or --client-id + $HUTONG_CLIENT_SECRET (a platform)
exit codes: 0 ok, 1 not valid (verify) or some rows refused (issue-batch), 2 error, 130 interrupted"""

_STATUS = {"suspend": pb.CERT_STATUS_SUSPENDED, "revoke": pb.CERT_STATUS_REVOKED}


def _client(args: argparse.Namespace, **kw: bool) -> Any:
    return sdk(args, **kw).cert


def _dict(message: Any) -> dict[str, Any]:
    return MessageToDict(message, preserving_proto_field_name=True)  # type: ignore[no-any-return]


def _status(value: int) -> str:
    return pb.CertStatus.Name(value).removeprefix("CERT_STATUS_").lower()


def _cert_row(c: Any) -> dict[str, Any]:
    return {"identifier": c.identifier, "type": c.type_name, "holder": c.holder.name, "status": _status(c.status),
            "valid_until": c.valid_until or "-", "version": c.version}


def _show_certs(args: argparse.Namespace, certs: list[Any]) -> None:
    if args.json:
        print_json([_dict(c) for c in certs])
    else:
        print_table([_cert_row(c) for c in certs], ("identifier", "type", "holder", "status", "valid_until"),
                    empty="no certificates")


def _show_cert(args: argparse.Namespace, cert: Any) -> None:
    if args.json:
        print_json(_dict(cert))
        return
    for key, value in _cert_row(cert).items():
        print(f"{key + ':':13}{value}")
    for name, value in sorted(cert.fields.items()):
        print(f"  {name}: {value}")


def _fields(pairs: list[str], fields_file: str | None = None) -> dict[str, str]:
    """``--field NAME=VALUE`` pairs, then ``--fields-file`` lines (where ID numbers go: never an argument)."""
    bad = [p for p in pairs if "=" not in p]
    if bad:
        raise InvalidArgument("ARGUMENTS_INVALID", f"--field takes NAME=VALUE, not {bad[0].split('=')[0][:20]!r}")
    fields = dict(p.split("=", 1) for p in pairs)
    if any(_is_citizen_id(v) for v in fields.values()):
        raise InvalidArgument("PERSONAL_DATA_ON_COMMAND_LINE", "a citizen ID number is never taken on the command "
                              "line (others see it in ps and shell history): put it in --fields-file")
    if fields_file:
        data = (sys.stdin.read() if fields_file == "-" else read_file(fields_file, "fields file").decode("utf-8-sig"))
        for line in data.splitlines():
            name, sep, value = line.strip().partition("=")
            if sep:
                fields[name] = value
    return fields


def _is_citizen_id(value: str) -> bool:
    from hutong.errors import HutongError
    from hutong.identifiers import normalise_citizen_id

    try:
        normalise_citizen_id(value.strip())
    except HutongError:
        return False
    return True


def _types(args: argparse.Namespace) -> int:
    types = _client(args, anonymous=True).types()
    if args.json:
        print_json([_dict(t) for t in types])
    else:
        print_table([{"code": t.code, "name": t.name, "authority": t.authority,
                      "holder": pb.HolderKind.Name(t.holder_kind).removeprefix("HOLDER_KIND_").lower()} for t in types],
                    ("code", "name", "authority", "holder"))
    return EXIT_OK


def _issuer_rows(issuers: list[Any]) -> list[dict[str, Any]]:
    return [{"uscc": i.uscc, "name": i.name, "types": " ".join(i.type_codes), "platform": i.platform_client_id}
            for i in issuers]


def _issuers(args: argparse.Namespace) -> int:
    issuers = _client(args, anonymous=True).issuers()
    if args.json:
        print_json(_issuer_rows(issuers))
    else:
        print_table(_issuer_rows(issuers), ("uscc", "name", "types", "platform"), empty="no issuers")
    return EXIT_OK


def _issuer_add(args: argparse.Namespace) -> int:
    issuer = _client(args).register_issuer(args.uscc, args.name, args.type, platform_client_id=args.platform,
                                           seal_id=args.seal_id)
    row = _issuer_rows([issuer])[0]
    if args.json:
        print_json(row)
    else:
        print(f"issuer {row['uscc']} ({row['name']}) registered for {row['types']}")
    return EXIT_OK


def _issue(args: argparse.Namespace) -> int:
    holder_id = read_personal(args, "holder-id", "HUTONG_HOLDER_ID", "holder identifier (ID number or USCC)")
    _show_cert(args, _client(args).issue(args.type_code, holder_id, args.holder_name,
                                         _fields(args.field, args.fields_file),
                                         valid_from=args.valid_from, valid_until=args.valid_until))
    return EXIT_OK


def _issue_batch(args: argparse.Namespace) -> int:
    data = read_file(args.csv, "CSV file")
    total = max(len(data.decode("utf-8-sig", errors="replace").strip().splitlines()) - 1, 0)
    rows: list[dict[str, Any]] = []
    summary: dict[str, int] = {}
    for response in _client(args).issue_batch(args.type_code, data, idempotency_key=args.idempotency_key):
        for r in response.results:
            rows.append({"row": r.row, "identifier": r.identifier, "reason": r.reason, "message": r.message})
        progress(len(rows), total, "rows")
        if response.HasField("summary"):
            s = response.summary
            summary = {"rows": s.rows, "issued": s.issued, "failed": s.failed}
    failed = [r for r in rows if r["reason"]]
    if args.json:
        print_json({"summary": summary, "results": rows})
    else:
        for r in rows:
            print(f"row {r['row']}: " + (f"{r['reason']}: {r['message']}" if r["reason"] else r["identifier"]))
        print(f"{summary.get('issued', 0)} issued, {summary.get('failed', 0)} failed of {summary.get('rows', 0)} rows")
    return EXIT_CHECK_FAILED if failed else EXIT_OK


def _get(args: argparse.Namespace) -> int:
    _show_cert(args, _client(args).get(args.identifier, args.purpose))
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    client = _client(args)
    holder_id = read_personal(args, "holder-id", "HUTONG_HOLDER_ID", "holder identifier", required=False)
    query: dict[str, Any] = {"holder_id": holder_id, "purpose": args.purpose, "type_code": args.type_code}
    return show_list(args, lambda size, token: client.list_page(**query, page_size=size, page_token=token),
                     lambda size, token: client.iter_certificates(**query, page_size=size, page_token=token),
                     lambda certs: _show_certs(args, certs))


def _consent(args: argparse.Namespace) -> int:
    client = _client(args, person=True)
    if args.withdraw:
        consent = client.withdraw_consent(args.withdraw)
    else:
        try:
            until = datetime.fromisoformat(args.until).replace(tzinfo=UTC)
        except ValueError:
            raise InvalidArgument("TIME_INVALID", f"not an ISO 8601 date: {args.until}") from None
        consent = client.grant_consent(args.platform, args.identifier, args.purpose, until)
    if args.json:
        print_json(_dict(consent))
    else:
        state = "withdrawn" if consent.HasField("withdrawn_at") else "in force"
        print(f"{consent.consent_id}  {state}  {consent.platform}  {consent.purpose}  "
              f"{len(consent.identifiers)} certificate(s)")
    return EXIT_OK


def _access_log(args: argparse.Namespace) -> int:
    """The caller's access log: who used which certificate, when, why; refused attempts with their reason."""
    client = _client(args, person=True)

    def show(records: list[Any]) -> None:
        if args.json:
            print_json([_dict(r) for r in records])
            return
        for r in records:
            outcome = f"refused ({r.reason})" if r.action == "refused" else r.action
            print(f"{r.at.ToDatetime(tzinfo=UTC).isoformat()}  {r.platform}  {outcome}  {r.identifier or '-'}  "
                  f"{r.purpose}")

    return show_list(args, lambda size, token: client.access_log_page(page_size=size, page_token=token),
                     lambda size, token: client.iter_access_log(page_size=size, page_token=token), show)


def _change(action: str) -> Any:
    def run(args: argparse.Namespace) -> int:
        _show_cert(args, _client(args).change_status(args.identifier, _STATUS[action], args.reason))
        return EXIT_OK

    return run


def _rendition(args: argparse.Namespace) -> int:
    size = _client(args).download_rendition(args.identifier, args.out, purpose=args.purpose)
    if args.json:
        print_json({"identifier": args.identifier, "output": str(args.out), "bytes": size})
    else:
        print(f"wrote {args.out} ({size} bytes)")
    return EXIT_OK


def _verify(args: argparse.Namespace) -> int:
    client = _client(args, anonymous=True)
    if args.pdf:
        result = client.verify_rendition(read_file(args.pdf, "PDF"))
    elif not args.subject:
        raise InvalidArgument("ARGUMENTS_INVALID", "give an identifier, a JWS, or --pdf FILE")
    elif args.subject.startswith("1.2.156.3005.2."):
        result = client.verify(identifier=args.subject)
    else:
        result = client.verify(jws_token=args.subject)
    verdict = common_pb2.Verdict.Name(result.verdict).removeprefix("VERDICT_").lower()
    if args.json:
        print_json(_dict(result))
    else:
        c = result.certificate
        print(f"{c.identifier or args.subject or args.pdf}: {verdict}"
              + (f"  ({c.type_name}, {_status(c.status)}, {c.issuer_name})" if c.identifier else ""))
        for f in result.findings:
            print(f"  {f.reason}: {f.message}")
    return EXIT_OK if result.verdict == common_pb2.VERDICT_VALID else EXIT_CHECK_FAILED


def register(subparsers: Any) -> None:
    cert = subparsers.add_parser("cert", help="e-certificates: catalogue, issuing, lifecycle, consent, verification",
                                 description="Electronic certificates (e-licences), over gRPC.",
                                 epilog=EXAMPLES_TEXT, formatter_class=EXAMPLES)
    sub = cert.add_subparsers(dest="sub", required=True, metavar="COMMAND")

    def command(name: str, help_: str, func: Any) -> argparse.ArgumentParser:
        return add_command(sub, name, help_, func, epilog=EXAMPLES_TEXT)

    command("types", "list the catalogue of certificate types", _types)
    command("issuers", "list the departments registered as issuers", _issuers)
    p = command("issuer-add", "register a department as an issuer (the node operator's platform)", _issuer_add)
    p.add_argument("uscc", help="the department's USCC")
    p.add_argument("name")
    p.add_argument("--type", action="append", required=True, metavar="TYPE_CODE", help="authorised type (repeat)")
    p.add_argument("--platform", default="", help="client id of the platform the department issues through")
    p.add_argument("--seal-id", default="", help="the department's seal for renditions")
    p = command("issue", "issue one certificate", _issue)
    p.add_argument("type_code")
    p.add_argument("holder_name")
    personal_arg(p, "holder-id", "HUTONG_HOLDER_ID", "the holder's ID number or USCC")
    p.add_argument("--field", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--fields-file", metavar="FILE", help="more NAME=VALUE lines ('-' = stdin): ID-number fields")
    p.add_argument("--valid-from", default="", help="YYYY-MM-DD (default today)")
    p.add_argument("--valid-until", default="", help="YYYY-MM-DD (default per the type)")
    p = command("issue-batch", "issue from a CSV (holder_id,holder_name,<fields>...); exit 1 if rows fail",
                _issue_batch)
    p.add_argument("type_code")
    p.add_argument("csv", type=Path)
    p.add_argument("--idempotency-key", default="", help="any unique string (a UUID): running the command again "
                   "with it returns the first run's outcomes and issues nothing twice")
    p = command("get", "show a certificate", _get)
    p.add_argument("identifier")
    p.add_argument("--purpose", default="", help="why (platforms reading within a consent)")
    p = command("list", "own certificates; issued ones (--type-code); a holder's within consent (--holder-id)", _list)
    personal_arg(p, "holder-id", "HUTONG_HOLDER_ID", "the holder's ID number or USCC (platforms, within consent)")
    p.add_argument("--purpose", default="")
    p.add_argument("--type-code", default="")
    paging_args(p)
    p = command("consent", "consent to a platform using certificates (or --withdraw ID)", _consent)
    p.add_argument("--platform", default="")
    p.add_argument("--identifier", action="append", default=[])
    p.add_argument("--purpose", default="")
    p.add_argument("--until", default="2099-01-01", help="YYYY-MM-DD")
    p.add_argument("--withdraw", default="", metavar="CONSENT_ID")
    paging_args(command("access-log", "who used the caller's certificates, when and why (refused attempts with "
                        "their reason)", _access_log))
    for name in _STATUS:
        p = command(name, f"{name} a certificate", _change(name))
        p.add_argument("identifier")
        p.add_argument("--reason", default="")
    p = command("rendition", "download the sealed PDF rendition", _rendition)
    p.add_argument("identifier")
    p.add_argument("out", type=Path)
    p.add_argument("--purpose", default="")
    p = command("verify", "verify an identifier, a JWS or (--pdf) a rendition (exit 1 unless valid)", _verify)
    p.add_argument("subject", nargs="?", default="")
    p.add_argument("--pdf", default="")
