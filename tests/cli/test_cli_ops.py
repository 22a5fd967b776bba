"""Issue 15's command-line fixes against a real node: paging, --json on write commands, errors that say what
is wrong (broken pipe, wrong --data-dir, a file that is not a token), ``seal sign`` never overwriting silently."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hutong.seal.v1 import seal_pb2
from hutong_client import Hutong
from tests.clients.sdk_world import ACME, PASSWORD, ZHANG, World, licence_fields

Run = Callable[..., tuple[int, str, str]]


def _one_error_line(err: str, reason: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {reason}: ") and "Traceback" not in err, err


def _issue(world: World, run: Run, tmp_path: Path, count: int) -> None:
    fields = licence_fields(name="分页测试有限公司")
    rows = [f"{ACME[0]},{ACME[1]}," + ",".join(fields.values()) for _ in range(count)]
    csv = tmp_path / "page.csv"
    csv.write_text("holder_id,holder_name," + ",".join(fields) + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    code, out, err = run("cert", "issue-batch", world.licence_type, str(csv), "--json", "--target", world.target,
                         "--client-id", "amr-platform", env={"HUTONG_CLIENT_SECRET": world.regulator_secret})
    assert code == 0, err


def test_cert_list_pages(world: World, run: Run, tmp_path: Path) -> None:
    _issue(world, run, tmp_path, 7)
    conn = ["--target", world.target, "--client-id", "amr-platform", "--type-code", world.licence_type, "--json"]
    env = {"HUTONG_CLIENT_SECRET": world.regulator_secret}
    code, out, _ = run("cert", "list", *conn, env=env)
    everything = [c["identifier"] for c in json.loads(out)]
    assert code == 0 and len(everything) >= 8 and len(set(everything)) == len(everything)
    # One page at a time: the next page's token on stderr, the pages together are everything, in order.
    seen: list[str] = []
    token: list[str] = []
    for _ in range(len(everything)):
        code, out, err = run("cert", "list", *conn, "--page-size", "3", *token, env=env)
        page = [c["identifier"] for c in json.loads(out)]
        assert code == 0 and 0 < len(page) <= 3
        seen += page
        if "--page-token" not in err:
            break
        token = ["--page-token", err.split("--page-token", 1)[1].split()[0]]
    assert seen == everything
    code, out, err = run("cert", "list", *conn, "--page-size", "3", "--all", env=env)
    assert [c["identifier"] for c in json.loads(out)] == everything and "--page-token" not in err
    # The SDK's iterator fetches page after page.
    with Hutong(world.target, **world.regulator) as h:
        assert [c.identifier for c in h.cert.iter_certificates(type_code=world.licence_type, page_size=2)] \
            == everything
        page = h.cert.list_page(type_code=world.licence_type, page_size=2)
        assert len(page.items) == 2 and page.next_page_token


def test_a_closed_pipe_is_not_an_error(world: World) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUTONG_")}
    read, write = os.pipe()
    os.close(read)  # the reader has gone before the command writes: `hutong cert types | head -0`
    proc = subprocess.run([sys.executable, "-m", "hutong.cli", "cert", "types", "--target", world.target],
                          stdout=write, stderr=subprocess.PIPE, text=True, env=env, timeout=60)
    os.close(write)
    assert proc.stderr == "" and proc.returncode == 141


def test_wrong_data_dir_says_so(run: Run, tmp_path: Path) -> None:
    root = tmp_path / "hub-root.pem"
    root.write_text("-----BEGIN CERTIFICATE-----\n")
    for args in (("platform", "list"), ("audit", "verify"), ("federation", "describe"),
                 ("federation", "join", "--hub", "127.0.0.1:9", "--hub-root", str(root))):
        code, _, err = run(*args, "--data-dir", str(tmp_path / "no-such-node"))
        assert code == 2
        _one_error_line(err, "NODE_NOT_INITIALISED")
        assert "--data-dir" in err and "does not exist" in err
        assert err.count("node init") == 1, err  # what to do, said once
    code, _, err = run("platform", "list", "--data-dir", str(tmp_path))  # exists, but is not a node
    _one_error_line(err, "NODE_NOT_INITIALISED")
    assert "hutong.toml" in err


def test_a_token_file_that_holds_no_token(world: World, run: Run, tmp_path: Path) -> None:
    for name, content in (("binary", bytes(range(256))), ("words", b"hello world\n"), ("pem", b"-----BEGIN X\n"),
                          ("empty", b"\n")):
        path = tmp_path / name
        path.write_bytes(content)
        code, _, err = run("seal", "list", "--target", world.target, "--token-file", str(path))
        assert code == 2
        _one_error_line(err, "TOKEN_FILE_INVALID")
    code, _, err = run("seal", "list", "--target", world.target, env={"HUTONG_TOKEN": "two words"})
    _one_error_line(err, "TOKEN_FILE_INVALID")


def test_seal_sign_never_overwrites_without_force(world: World, run: Run, tmp_path: Path) -> None:
    from bench.pdfgen import make_pdf_file

    with Hutong(world.target, **world.portal) as portal:
        person = portal.as_person(portal.login(ZHANG, PASSWORD))
        if ACME[0] not in {o.uscc for o in person.identity.my_organisations()}:
            person.identity.register_organisation(ACME[0], ACME[1])
        company = portal.as_person(portal.identity.session(person.identity.switch_organisation(ACME[0])))
        seal = company.seal.create_seal(org_uscc=ACME[0], type=seal_pb2.SEAL_TYPE_FINANCE)
        grant = company.seal.grant(seal.seal_id, grantee="portal", kind=seal_pb2.GRANTEE_KIND_PLATFORM, max_uses=5)
    src = make_pdf_file(tmp_path / "in.pdf")
    dest = tmp_path / "out.pdf"
    dest.write_bytes(b"precious")
    env = {"HUTONG_CLIENT_SECRET": world.portal_secret}
    conn = ["--target", world.target, "--client-id", "portal", "--level", "B-B"]
    code, _, err = run("seal", "sign", seal.seal_id, str(src), str(dest), *conn, env=env)
    assert code == 2
    _one_error_line(err, "OUTPUT_EXISTS")
    assert "--force" in err and dest.read_bytes() == b"precious"
    with Hutong(world.target, **world.portal) as portal:
        company = portal.as_person(portal.identity.session(
            portal.as_person(portal.login(ZHANG, PASSWORD)).identity.switch_organisation(ACME[0])))
        assert [g.uses for g in company.seal.list_grants(seal.seal_id) if g.grant_id == grant.grant_id] == [0]
    code, out, err = run("seal", "sign", seal.seal_id, str(src), str(dest), *conn, "--force", "--json", env=env)
    assert code == 0, err
    assert json.loads(out)["output"] == str(dest) and dest.read_bytes().startswith(b"%PDF")


def test_write_commands_answer_json(run: Run, tmp_path: Path) -> None:
    code, out, err = run("node", "init", "--data-dir", str(tmp_path / "n"), "--node-id", "json-node", "--json")
    assert code == 0, err
    assert json.loads(out)["node_id"] == "json-node"
    root = tmp_path / "hub-root.pem"
    root.write_text("-----BEGIN CERTIFICATE-----\n")
    code, out, err = run("federation", "join", "--data-dir", str(tmp_path / "n"), "--hub", "127.0.0.1:9",
                         "--hub-root", str(root), "--json")
    assert code == 0, err
    assert json.loads(out) == {"hub": "127.0.0.1:9", "joined": True}


def _pages(run: Run, args: list[str], env: dict[str, str], key: str, size: int) -> list[list[str]]:
    """Every page of a list command, one ``--page-size`` page per run, following the token it prints."""
    pages: list[list[str]] = []
    token: list[str] = []
    for _ in range(50):
        code, out, err = run(*args, "--page-size", str(size), *token, env=env)
        assert code == 0, err
        pages.append([row[key] for row in json.loads(out)])
        if "--page-token" not in err:
            return pages
        token = ["--page-token", err.split("--page-token", 1)[1].split()[0]]
    raise AssertionError("paging never ended")


def test_seal_grants_and_access_log_lists_page(world: World, run: Run, tmp_path: Path) -> None:
    with Hutong(world.target, **world.portal) as portal:
        person = portal.as_person(portal.login(ZHANG, PASSWORD))
        if ACME[0] not in {o.uscc for o in person.identity.my_organisations()}:
            person.identity.register_organisation(ACME[0], ACME[1])
        tokens = person.identity.switch_organisation(ACME[0])
        company = portal.as_person(portal.identity.session(tokens))
        for _ in range(5):
            company.seal.create_seal(org_uscc=ACME[0], type=seal_pb2.SEAL_TYPE_CONTRACT)
        every_seal = [s.seal_id for s in company.seal.iter_seals(ACME[0], page_size=2)]
    token_file = tmp_path / "company.token"
    token_file.write_text(tokens.access_token)
    token_file.chmod(0o600)
    conn = ["--target", world.target, "--client-id", "portal", "--token-file", str(token_file), "--json"]
    env = {"HUTONG_CLIENT_SECRET": world.portal_secret}

    code, out, err = run("seal", "list", "--org-uscc", ACME[0], *conn, env=env)
    assert code == 0, err
    listed = [row["seal_id"] for row in json.loads(out)]
    assert len(listed) >= 5 and listed == every_seal and len(set(listed)) == len(listed)
    pages = _pages(run, ["seal", "list", "--org-uscc", ACME[0], *conn], env, "seal_id", 2)
    assert len(pages) >= 3 and all(0 < len(p) <= 2 for p in pages) and sum(pages, []) == listed
    code, out, err = run("seal", "list", "--org-uscc", ACME[0], *conn, "--page-size", "2", "--all", env=env)
    assert [row["seal_id"] for row in json.loads(out)] == listed and "--page-token" not in err

    # The organisation's grants and the person's access log page with the same flags.
    grant_pages = _pages(run, ["identity", "grants", ACME[0], *conn], env, "grant_id", 1)
    with Hutong(world.target, **world.portal) as portal:
        company = portal.as_person(portal.identity.session(tokens))
        assert sum(grant_pages, []) == [g.grant_id for g in company.identity.iter_grants(ACME[0])]
    code, _, err = run("cert", "access-log", *conn, "--page-size", "1", env=env)
    assert code == 0, err
    code, _, err = run("cert", "access-log", *conn, "--page-size", "0", "--page-token", "junk", env=env)
    _one_error_line(err, "PAGE_TOKEN_INVALID")


# Commands without --json: their output is already one machine-readable artefact (JSON, a PEM, a key line) or
# they are not one-shot commands.
NO_JSON = {"serve", "demo", "bench", "federation describe", "audit prove", "audit log-key", "hsm export-public",
           "hsm csr"}


def _leaf_commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> dict[str, set[str]]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return {" ".join(path): {o for a in parser._actions for o in a.option_strings}}
    found: dict[str, set[str]] = {}
    for action in subs:
        for name, sub in action.choices.items():
            found.update(_leaf_commands(sub, (*path, name)))
    return found


def test_every_command_answers_json_unless_its_output_already_is_machine_readable(run: Run, node: Any) -> None:
    from hutong import cli

    commands = _leaf_commands(cli.build_parser())
    assert len(commands) > 40
    without = {name for name, options in commands.items() if "--json" not in options}
    assert without <= NO_JSON, f"write commands without --json: {without - NO_JSON}"
    assert without >= NO_JSON, "a command gained --json: take it out of NO_JSON"
    node.audit.record(actor="tester", action="thing.do")
    code, out, err = run("audit", "checkpoint", "--data-dir", str(node.config.data_dir), "--json")
    assert code == 0, err
    answer = json.loads(out)
    assert answer["sequenced"] >= 1 and answer["checkpoint"].startswith(f"hutong.node/{node.id}/")


def test_platform_credentials_that_cannot_be_metadata_are_named(world: World) -> None:
    """A secret with a line break inside, a client id in Chinese: one clear line, never gRPC's "Invalid metadata"
    (and its C core's trace on stderr). Run as a real process: the C core writes to file descriptor 2."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("HUTONG_")}
    cases = ((["--client-id", "portal"], {"HUTONG_CLIENT_SECRET": "first\nsecond"}, "CLIENT_SECRET_INVALID"),
             (["--client-id", "portal"], {"HUTONG_CLIENT_SECRET": "密钥"}, "CLIENT_SECRET_INVALID"),
             (["--client-id", "门户"], {"HUTONG_CLIENT_SECRET": world.portal_secret}, "CLIENT_ID_INVALID"))
    for args, env, reason in cases:
        proc = subprocess.run([sys.executable, "-m", "hutong.cli", "seal", "list", "--target", world.target, *args],
                              capture_output=True, text=True, env={**base, **env}, timeout=60)
        assert proc.returncode == 2
        _one_error_line(proc.stderr, reason)
    # A secret exported with its trailing newline still works (the CLI strips it, as it does for a file).
    proc = subprocess.run([sys.executable, "-m", "hutong.cli", "cert", "types", "--target", world.target,
                           "--client-id", "portal"], capture_output=True, text=True,
                          env={**base, "HUTONG_CLIENT_SECRET": world.portal_secret + "\n"}, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_hsm_write_commands_answer_json(run: Run, tmp_path: Path) -> None:
    """Officers' scripts read what `hutong hsm` did from one JSON object, as for every other write command."""
    env = {"HUTONG_HSM_PIN": "1234", "HUTONG_HSM_SO_PIN": "5678", "HUTONG_HSM_TOKEN": "json-test"}
    code, out, err = run("hsm", "init-token", "--dir", str(tmp_path / "t"), "--json", env=env)
    assert code == 0, err
    conf = json.loads(out)["softhsm2_conf"]
    env["SOFTHSM2_CONF"] = conf
    code, out, err = run("hsm", "keygen", "--label", "k1", "--json", env=env)
    assert code == 0, err
    made = json.loads(out)
    assert made["label"] == "k1" and made["uri"].startswith("pkcs11:")
    code, out, err = run("hsm", "rotate", "--label", "k1", "--json", env=env)
    assert code == 0, err
    rotated = json.loads(out)
    assert rotated["active"] != made["uri"] and rotated["retired"].startswith("k1.retired-")
    code, out, err = run("hsm", "destroy", "--key", rotated["retired"], "--yes", "--json", env=env)
    assert code == 0, err
    assert json.loads(out)["destroyed"] == rotated["retired"]
