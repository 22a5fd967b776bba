"""``hutong`` across its groups against a real node: same option names, tables by default, --json for scripts,
documented exit codes (0 ok, 1 check failed, 2 error), one-line errors with what to do, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from hutong.seal.v1 import seal_pb2
from hutong_client import Hutong
from tests.clients.sdk_world import ACME, PASSWORD, ZHANG, World, licence_fields

ROOT = Path(__file__).resolve().parents[2]
Run = Callable[..., tuple[int, str, str]]  # the ``run`` fixture (tests/cli/conftest.py)


def _pdf(path: Path) -> Path:
    from bench.pdfgen import make_pdf_file

    return make_pdf_file(path)


@pytest.mark.parametrize("group", ["registry", "platform", "identity", "seal", "cert"])
def test_every_group_has_help_with_examples(run: Run, group: str) -> None:
    code, out, _ = run(group, "--help")
    assert code == 0 and "examples:" in out and f"hutong {group} " in out


def test_top_level_help_documents_exit_codes(run: Run) -> None:
    code, out, _ = run("--help")
    assert code == 0 and "exit codes: 0 ok, 1 a check failed" in out and "130 interrupted" in out


def test_platform_list_table_and_json(world: World, run: Run) -> None:
    d = ["--data-dir", str(world.data_dir)]
    code, out, _ = run("platform", "list", *d)
    assert code == 0 and out.splitlines()[0].split() == ["CLIENT-ID", "REQUIRED-ACR", "SCOPES", "SUBJECT", "NAME"]
    assert any(line.startswith("portal ") for line in out.splitlines())
    code, out, _ = run("platform", "list", "--json", *d)
    assert code == 0 and {p["client_id"] for p in json.loads(out)} >= {"portal", "amr-platform", "ops"}


def test_identity_login_session_file_whoami(world: World, run: Run, tmp_path: Path) -> None:
    session = tmp_path / "me.session"
    platform = {"HUTONG_CLIENT_SECRET": world.portal_secret, "HUTONG_PASSWORD": PASSWORD}
    conn = ["--target", world.target, "--client-id", "portal"]
    code, out, err = run("identity", "login", "--token-file", str(session), "--json", *conn,
                         env={**platform, "HUTONG_ID_NUMBER": ZHANG})
    assert code == 0, err
    assert json.loads(out)["acr"] == "substantial" and oct(session.stat().st_mode & 0o777) == "0o600"
    code, out, _ = run("identity", "whoami", "--token-file", str(session), *conn, env=platform)
    assert code == 0 and "active:" in out and "True" in out
    # the session file refreshes itself when due: make it due, and the rotated tokens are written back
    saved = json.loads(session.read_text())
    session.write_text(json.dumps({**saved, "expires_at": 0}))
    code, out, _ = run("identity", "whoami", "--json", "--token-file", str(session), *conn, env=platform)
    assert code == 0 and json.loads(out)["active"] is True
    assert json.loads(session.read_text())["refresh_token"] != saved["refresh_token"]
    id_token = tmp_path / "id.jwt"
    id_token.write_text(json.loads(session.read_text())["id_token"])
    assert run("identity", "verify-token", str(id_token), *conn, env=platform)[0] == 0
    id_token.write_text(saved["id_token"][:-4] + "AAAA")  # tampered signature
    code, out, _ = run("identity", "verify-token", str(id_token), "--json", *conn, env=platform)
    assert code == 1 and json.loads(out)["reason"] == "TOKEN_INVALID"


def test_seal_many_files_and_verify(world: World, run: Run, tmp_path: Path) -> None:
    with Hutong(world.target, **world.portal) as portal:  # the company's administrator lets the portal seal
        person = portal.as_person(portal.login(ZHANG, PASSWORD))
        if ACME[0] not in {o.uscc for o in person.identity.my_organisations()}:
            person.identity.register_organisation(ACME[0], ACME[1])
        company = portal.as_person(portal.identity.session(person.identity.switch_organisation(ACME[0])))
        seal = company.seal.create_seal(org_uscc=ACME[0], type=seal_pb2.SEAL_TYPE_INVOICE)
        company.seal.grant(seal.seal_id, grantee="portal", kind=seal_pb2.GRANTEE_KIND_PLATFORM)
    inputs = [_pdf(tmp_path / f"invoice-{i}.pdf") for i in range(3)]
    out_dir = tmp_path / "sealed"
    out_dir.mkdir()
    env = {"HUTONG_CLIENT_SECRET": world.portal_secret}
    conn = ["--target", world.target, "--client-id", "portal"]
    code, out, err = run("seal", "sign", seal.seal_id, *map(str, inputs), "--out-dir", str(out_dir), "--level", "B-B",
                         "--json", *conn, env=env)
    assert code == 0, err
    assert [Path(r["output"]).name for r in json.loads(out)] == [p.name for p in inputs]
    code, out, _ = run("seal", "verify", str(out_dir / "invoice-0.pdf"), *conn, env=env)
    assert code == 0 and ": valid" in out
    code, out, _ = run("seal", "verify", str(inputs[0]), "--json", *conn, env=env)
    assert code == 1 and json.loads(out)["verdict"] == "VERDICT_INVALID"  # no seal on it
    code, out, _ = run("seal", "list", "--org-uscc", ACME[0], *conn, env=env)
    assert code == 2 or "SEAL-ID" in out  # a platform may not list an organisation's seals: then an error line


def test_cert_types_verify_and_batch(world: World, run: Run, tmp_path: Path) -> None:
    conn = ["--target", world.target]
    code, out, _ = run("cert", "types", *conn)
    assert code == 0 and out.split()[:2] == ["CODE", "NAME"] and world.licence_type in out
    code, out, _ = run("cert", "verify", world.certificate_id, *conn)
    assert code == 0 and f"{world.certificate_id}: valid" in out
    code, out, _ = run("cert", "verify", world.certificate_id, "--json", *conn)
    assert json.loads(out)["verdict"] == "VERDICT_VALID"
    fields = licence_fields(name="批量测试有限公司")
    csv = tmp_path / "batch.csv"
    csv.write_text("holder_id,holder_name," + ",".join(fields) + "\n"
                   + f"{ACME[0]},{ACME[1]}," + ",".join(fields.values()) + "\n"
                   + "91110000600037341N,坏," + ",".join(fields.values()) + "\n", encoding="utf-8")
    env = {"HUTONG_CLIENT_SECRET": world.regulator_secret}
    code, out, _ = run("cert", "issue-batch", world.licence_type, str(csv), "--json", *conn,
                       "--client-id", "amr-platform", env=env)
    result = json.loads(out)
    assert code == 1 and result["summary"] == {"rows": 2, "issued": 1, "failed": 1}  # some rows refused: exit 1


def _one_error_line(err: str, reason: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {reason}: ") and "Traceback" not in err, err


def test_errors_are_one_line_with_what_to_do(world: World, run: Run, tmp_path: Path) -> None:
    code, _, err = run("cert", "verify", world.certificate_id, "--target", "127.0.0.1:1", "--timeout", "3")
    assert code == 2
    _one_error_line(err, "UNAVAILABLE")
    assert "--target" in err  # what to do
    code, _, err = run("seal", "list", "--target", world.target)
    assert code == 2
    _one_error_line(err, "TOKEN_REQUIRED")
    assert "hutong identity login" in err
    code, _, err = run("seal", "verify", str(tmp_path / "missing.pdf"), "--target", world.target,
                       env={"HUTONG_TOKEN": "x"})
    assert code == 2
    _one_error_line(err, "FILE_UNREADABLE")
    code, _, err = run("cert", "issue-batch", world.licence_type, str(tmp_path / "none.csv"), "--target", world.target,
                       "--client-id", "amr-platform", env={"HUTONG_CLIENT_SECRET": world.regulator_secret})
    assert code == 2
    _one_error_line(err, "FILE_UNREADABLE")
    code, _, err = run("seal", "list", "--target", world.target, "--token-file", str(tmp_path / "no.session"))
    assert code == 2
    _one_error_line(err, "FILE_UNREADABLE")
    code, _, err = run("seal", "list", "--target", world.target, env={"HUTONG_TOKEN": "not-a-token"})
    assert code == 2
    _one_error_line(err, "TOKEN_INVALID")


def test_a_real_process_prints_no_traceback(world: World, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUTONG_")}
    proc = subprocess.run([sys.executable, "-m", "hutong.cli", "cert", "verify", "--pdf", str(tmp_path / "nope.pdf"),
                           "--target", world.target], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 2
    _one_error_line(proc.stderr, "FILE_UNREADABLE")
    proc = subprocess.run([sys.executable, "-m", "hutong.cli", "seal", "sign"], capture_output=True, text=True,
                          env=env, timeout=60)
    assert proc.returncode == 2 and "usage:" in proc.stderr and "Traceback" not in proc.stderr


def test_id_numbers_never_come_from_the_command_line(world: World, run: Run, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    session = tmp_path / "me.session"
    platform = {"HUTONG_CLIENT_SECRET": world.portal_secret, "HUTONG_PASSWORD": PASSWORD}
    conn = ["--target", world.target, "--client-id", "portal", "--token-file", str(session)]
    code, out, err = run("identity", "login", "--id-number", ZHANG, *conn, env=platform)
    assert code == 2 and "PERSONAL_DATA_ON_COMMAND_LINE" in err and ZHANG not in out + err
    monkeypatch.setattr("sys.stdin", io.StringIO(ZHANG + "\n"))
    code, _, err = run("identity", "login", "--id-number-file", "-", *conn, env=platform)
    assert code == 0, err
    id_file = tmp_path / "id.txt"
    id_file.write_text(ZHANG + "\n")
    assert run("identity", "login", "--id-number-file", str(id_file), *conn, env=platform)[0] == 0
    code, out, err = run("cert", "issue", "11100000000013338W011", "某公司", "--holder-id-file", str(id_file),
                         "--field", f"legal_representative_id={ZHANG}", *conn, env=platform)
    assert code == 2 and "PERSONAL_DATA_ON_COMMAND_LINE" in err and ZHANG not in out + err
