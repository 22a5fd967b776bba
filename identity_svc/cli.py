"""``hutong registry import FILE.csv`` and ``hutong platform add|list|remove`` (operators, on the node's data
directory), and ``hutong identity register|login|whoami|orgs|org-register|switch-org|verify-token|logout``
(people and platforms, over gRPC through the SDK).

Secrets never go on the command line: passwords come from ``--password-file``, ``$HUTONG_PASSWORD`` or a
prompt; a platform's secret from ``--client-secret-file`` or ``$HUTONG_CLIENT_SECRET``. ``identity login``
writes a session file (mode 0600) that the other gRPC commands take as ``--token-file``; it refreshes
itself (rotating the refresh token) while the platform's credentials are at hand.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hutong.cli import (
    EXAMPLES,
    EXIT_CHECK_FAILED,
    EXIT_OK,
    add_command,
    data_dir_arg,
    paging_args,
    personal_arg,
    print_json,
    print_table,
    read_file,
    read_personal,
    sdk,
    show_list,
)
from hutong.errors import HutongError, InvalidArgument
from identity_svc.vocabulary import LEVELS, SCOPES

if TYPE_CHECKING:  # the domain (SQLAlchemy, Argon2) loads only for the commands that use it
    from identity_svc import platforms
    from identity_svc.core import Identity


@contextmanager
def _identity(args: argparse.Namespace) -> Iterator[Identity]:
    from hutong.node import open_node
    from identity_svc.core import Identity

    node = open_node(args.data_dir)
    try:
        yield Identity.of(node)
    finally:
        node.close()


def _import(args: argparse.Namespace) -> int:
    with _identity(args) as idn:
        from identity_svc import registers

        report = registers.import_csv(idn, args.file)
    if args.json:
        print_json({"rows": report.rows, "kind": report.kind})
    else:
        print(f"imported {report.rows} {report.kind} into the embedded register")
    return EXIT_OK


def _platform_json(p: platforms.PlatformInfo) -> dict[str, Any]:
    return {"client_id": p.client_id, "name": p.name, "scopes": sorted(p.scopes), "required_acr": p.required_acr,
            "pairwise": p.pairwise, "redirect_uris": list(p.redirect_uris),
            "backchannel_logout_uri": p.backchannel_logout_uri}


def _add(args: argparse.Namespace) -> int:
    from identity_svc import platforms

    with _identity(args) as idn:
        new = platforms.add_platform(idn, client_id=args.client_id, name=args.name or args.client_id,
                                     scopes=args.scope or ["openid"], required_acr=args.required_level,
                                     pairwise=not args.public_subject,
                                     client_cert_pem=args.client_cert.read_bytes() if args.client_cert else b"",
                                     redirect_uris=args.redirect_uri or [],
                                     backchannel_logout_uri=args.backchannel_logout_uri or "")
    if args.json:
        print(json.dumps({**_platform_json(new.info), "client_secret": new.client_secret}))
    else:
        print(f"platform {new.info.client_id} added; client secret (shown once, store it now):")
        print(new.client_secret)
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    from identity_svc import platforms

    with _identity(args) as idn:
        rows = platforms.list_platforms(idn)
    if args.json:
        print(json.dumps([_platform_json(p) for p in rows]))
    else:
        print_table([{**_platform_json(p), "scopes": " ".join(sorted(p.scopes)),
                      "subject": "pairwise" if p.pairwise else "public"} for p in rows],
                    ("client_id", "required_acr", "scopes", "subject", "name"), empty="no platforms")
    return EXIT_OK


def _remove(args: argparse.Namespace) -> int:
    from identity_svc import sessions

    with _identity(args) as idn:
        sessions.remove_platform(idn, args.client_id)
    if args.json:
        print_json({"client_id": args.client_id, "removed": True})
    else:
        print(f"platform {args.client_id} removed; its sessions are revoked")
    return EXIT_OK


def _command(group: Any, name: str, help_: str, func: Callable[[argparse.Namespace], int],
             epilog: str = "") -> argparse.ArgumentParser:
    p = add_command(group, name, help_, func, epilog=epilog, connection=False)
    data_dir_arg(p)
    return p


# -- hutong identity ... (over gRPC) ----------------------------------------------------------------
IDENTITY_EXAMPLES = """examples:
  hutong identity register --id-number-file me.id --name 张三 --client-id portal
  hutong identity login --token-file me.session --client-id portal        # prompts for the ID number
  hutong identity whoami --token-file me.session --client-id portal
  hutong identity org-register 91350100M000100Y43 福州阿克米有限公司 --token-file me.session
  hutong identity switch-org 91350100M000100Y43 --token-file me.session --client-id portal
  hutong identity grants 91350100M000100Y43 --page-size 20 --token-file me.session   # one page; --all for every one
  hutong identity verify-token id-token.jwt --client-id portal     # offline, against the node's JWKS
  hutong identity logout --token-file me.session --client-id portal

platform credentials: --client-id (or $HUTONG_CLIENT_ID), the secret in $HUTONG_CLIENT_SECRET
passwords: --password-file, $HUTONG_PASSWORD, or a prompt (never on the command line)
ID numbers: --id-number-file (- = stdin), $HUTONG_ID_NUMBER, or a prompt (never on the command line)
exit codes: 0 ok, 1 a token does not verify, 2 error, 130 interrupted"""


def _password(args: argparse.Namespace) -> str:
    import getpass
    import os
    import sys

    if args.password_file:
        return read_file(args.password_file, "password file").decode().rstrip("\r\n")
    if os.environ.get("HUTONG_PASSWORD"):
        return os.environ["HUTONG_PASSWORD"]
    if sys.stdin.isatty():
        return getpass.getpass("password: ")
    raise InvalidArgument("PASSWORD_REQUIRED", "give --password-file or set HUTONG_PASSWORD")


def _id_number(args: argparse.Namespace) -> str:
    return read_personal(args, "id-number", "HUTONG_ID_NUMBER", "citizen ID number")


def _platform(args: argparse.Namespace) -> Any:
    """The platform's own calls (no person's token)."""
    return sdk(args, anonymous=True, token_file=False)


def _register_person(args: argparse.Namespace) -> int:
    subject = _platform(args).identity.register_person(_id_number(args), args.name, _password(args))
    if args.json:
        print_json({"subject": subject})
    else:
        print(f"registered; subject for {args.client_id or 'this platform'}: {subject}")
    return EXIT_OK


def _session_out(args: argparse.Namespace, tokens: Any) -> int:
    from hutong.common.v1 import common_pb2
    from hutong_client.session_file import save_session

    if not args.token_file:
        raise InvalidArgument("ARGUMENTS_INVALID", "give --token-file: where to keep the session")
    save_session(args.token_file, tokens, client_id=args.client_id)
    info = {"subject": tokens.subject, "acr": common_pb2.LevelOfAssurance.Name(tokens.acr)
            .removeprefix("LEVEL_OF_ASSURANCE_").lower(), "amr": list(tokens.amr), "expires_in": tokens.expires_in,
            "token_file": str(args.token_file)}
    if args.json:
        print_json(info)
    else:
        print(f"logged in as {info['subject']} (level {info['acr']}, {' '.join(info['amr'])}); "
              f"session in {args.token_file}")
    return EXIT_OK


def _login(args: argparse.Namespace) -> int:
    tokens = _platform(args).identity.login(_id_number(args), _password(args), totp_code=args.totp_code or "",
                                            scopes=args.scope or ())
    return _session_out(args, tokens)


def _whoami(args: argparse.Namespace) -> int:
    from google.protobuf.json_format import MessageToDict

    client = sdk(args, person=True)
    info = client.identity.introspect(client.access_token())

    data = MessageToDict(info, preserving_proto_field_name=True)
    if args.json:
        print_json(data)
    else:
        for key in ("active", "subject", "client_id", "acr", "org_uscc", "roles", "expire_time", "inactive_reason"):
            if key in data:
                value = data[key]
                print(f"{key + ':':17}{' '.join(value) if isinstance(value, list) else value}")
    return EXIT_OK if info.active else EXIT_CHECK_FAILED


def _orgs(args: argparse.Namespace) -> int:
    orgs = sdk(args, person=True).identity.my_organisations()
    rows = [{"uscc": o.uscc, "name": o.name, "roles": " ".join(o.roles)} for o in orgs]
    if args.json:
        print_json(rows)
    else:
        print_table(rows, ("uscc", "name", "roles"), empty="no organisations")
    return EXIT_OK


def _grants(args: argparse.Namespace) -> int:
    from hutong.identity.v1 import identity_pb2 as pb

    client = sdk(args, person=True).identity

    def show(grants: list[Any]) -> None:
        rows = [{"grant_id": g.grant_id, "person": f"{g.person_name} {g.person_masked_id}",
                 "role": pb.GrantRole.Name(g.role).removeprefix("GRANT_ROLE_").lower(),
                 "matters": "all" if g.all_matters else " ".join(g.matters),
                 "in_force": "yes" if g.in_force else "no"} for g in grants]
        if args.json:
            print_json(rows)
        else:
            print_table(rows, ("grant_id", "person", "role", "matters", "in_force"), empty="no grants")

    return show_list(args, lambda size, token: client.grants_page(args.uscc, page_size=size, page_token=token),
                     lambda size, token: client.iter_grants(args.uscc, page_size=size, page_token=token), show)


def _org_register(args: argparse.Namespace) -> int:
    org = sdk(args, person=True).identity.register_organisation(args.uscc, args.name)
    if args.json:
        print_json({"uscc": org.uscc, "name": org.name, "roles": list(org.roles)})
    else:
        print(f"organisation {org.uscc} ({org.name}) registered")
    return EXIT_OK


def _switch_org(args: argparse.Namespace) -> int:
    tokens = sdk(args, person=True).identity.switch_organisation(args.uscc)
    if args.out:
        args.token_file = args.out
    return _session_out(args, tokens)


def _verify_token(args: argparse.Namespace) -> int:
    token = read_file(args.token, "token file").decode().strip()
    client = _platform(args)
    try:
        claims = client.identity.verify(token, kind=args.kind)
    except HutongError as err:
        if err.kind.value != "UNAUTHENTICATED":
            raise
        if args.json:
            print_json({"valid": False, "reason": err.reason, "message": err.message})
        else:
            print(f"{args.token}: invalid: {err.reason}: {err.message}")
        return EXIT_CHECK_FAILED
    if args.json:
        print_json({"valid": True, "claims": claims})
    else:
        print(f"{args.token}: valid {args.kind} token for {claims.get('sub')} (level {claims.get('acr')})")
    return EXIT_OK


def _logout(args: argparse.Namespace) -> int:
    client = sdk(args, person=True)
    if args.everywhere:
        ended = client.identity.logout_everywhere()
        message = f"{ended} session(s) ended"
    else:
        import json as _json

        raw = read_file(args.token_file, "token file").decode().strip() if args.token_file else ""
        data = _json.loads(raw) if raw.startswith("{") else {"access_token": raw}
        client.identity.revoke(data.get("refresh_token") or data["access_token"])
        message = "session ended"
    if args.json:
        print_json({"ok": True, "message": message})
    else:
        print(message)
    return EXIT_OK


def _register_identity(subparsers: Any) -> None:
    identity = subparsers.add_parser("identity", help="people: register, log in, act for organisations (gRPC)",
                                     description="Persons and their sessions, over gRPC.", epilog=IDENTITY_EXAMPLES,
                                     formatter_class=EXAMPLES)
    sub = identity.add_subparsers(dest="sub", required=True, metavar="COMMAND")

    def command(name: str, help_: str, func: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
        return add_command(sub, name, help_, func, epilog=IDENTITY_EXAMPLES)

    p = command("register", "register a person at the node (checked against the population register)",
                _register_person)
    personal_arg(p, "id-number", "HUTONG_ID_NUMBER", "citizen ID number")
    p.add_argument("--name", required=True)
    p.add_argument("--password-file", default=None)
    p = command("login", "log a person in through a platform; writes a session file (--token-file)", _login)
    personal_arg(p, "id-number", "HUTONG_ID_NUMBER", "citizen ID number")
    p.add_argument("--password-file", default=None)
    p.add_argument("--totp-code", default=None, help="one-time code (level high)")
    p.add_argument("--scope", action="append", choices=[s for s in SCOPES if ":" not in s],
                   help="requested scope (repeat)")
    command("whoami", "introspect the session's token (exit 1 if not active)", _whoami)
    command("orgs", "organisations the person may act for", _orgs)
    p = command("org-register", "register a business (the caller must be its legal representative)", _org_register)
    p.add_argument("uscc")
    p.add_argument("name")
    p = command("grants", "who may act for an organisation (its administrators see every grant)", _grants)
    p.add_argument("uscc")
    paging_args(p)
    p = command("switch-org", "act for an organisation: replaces the session file (or --out FILE)", _switch_org)
    p.add_argument("uscc")
    p.add_argument("--out", default=None, help="write the organisation session here instead")
    p = command("verify-token", "verify a token offline against the node's JWKS (exit 1 if invalid)", _verify_token)
    p.add_argument("token", help="file holding the token (JWT)")
    p.add_argument("--kind", choices=("id", "access"), default="id")
    p = command("logout", "end the session (or --everywhere: every session of the person)", _logout)
    p.add_argument("--everywhere", action="store_true")


REGISTRY_EXAMPLES = """examples:
  hutong registry import people.csv --data-dir var/node     # name,id_number
  hutong registry import orgs.csv --data-dir var/node       # name,uscc,representative_name,representative_id_number

exit codes: 0 ok, 2 error (nothing imported), 130 interrupted"""
PLATFORM_EXAMPLES = """examples:
  hutong platform add portal --name 政务门户 --scope profile --data-dir var/node   # prints the secret once
  hutong platform add ops --scope node:operate --data-dir var/node               # the node operator's platform
  hutong platform add shop --scope profile --redirect-uri https://shop.example/cb \
      --backchannel-logout-uri https://shop.example/bcl --data-dir var/node      # an OpenID Connect platform
  hutong platform list --data-dir var/node
  hutong platform list --json --data-dir var/node
  hutong platform remove portal --data-dir var/node

exit codes: 0 ok, 2 error, 130 interrupted"""


def register(subparsers: Any) -> None:
    registry = subparsers.add_parser("registry", help="the embedded real-name register",
                                     description="The embedded real-name register (on the node's data directory).",
                                     epilog=REGISTRY_EXAMPLES, formatter_class=EXAMPLES).add_subparsers(
        dest="sub", required=True, metavar="COMMAND")
    imp = _command(registry, "import", "load people.csv (name,id_number) or orgs.csv "
                   "(name,uscc,representative_name,representative_id_number); all rows or none", _import,
                   REGISTRY_EXAMPLES)
    imp.add_argument("file", type=Path)

    platform = subparsers.add_parser("platform", help="relying platforms (OAuth clients)",
                                     description="Relying platforms (on the node's data directory).",
                                     epilog=PLATFORM_EXAMPLES, formatter_class=EXAMPLES).add_subparsers(
        dest="sub", required=True, metavar="COMMAND")
    add = _command(platform, "add", "register a platform; prints its client secret once", _add, PLATFORM_EXAMPLES)
    add.add_argument("client_id")
    add.add_argument("--name", default="")
    add.add_argument("--scope", action="append", choices=SCOPES,
                     help="allowed scope (repeat); default openid")
    add.add_argument("--required-level", choices=LEVELS, default="substantial")
    add.add_argument("--client-cert", type=Path, metavar="PEM",
                     help="the platform's mTLS client certificate: it may then call without its secret")
    add.add_argument("--public-subject", action="store_true",
                     help="give this platform the account id as sub instead of a pairwise one")
    add.add_argument("--redirect-uri", action="append", metavar="URI",
                     help="OpenID Connect: an exact redirect URI (repeat); https, or http to a loopback host")
    add.add_argument("--backchannel-logout-uri", metavar="URI",
                     help="OpenID Connect Back-Channel Logout 1.0: where logout tokens are POSTed")
    _command(platform, "list", "list platforms", _list, PLATFORM_EXAMPLES)
    rm = _command(platform, "remove", "remove a platform and revoke its sessions", _remove, PLATFORM_EXAMPLES)
    rm.add_argument("client_id")
    _register_identity(subparsers)
