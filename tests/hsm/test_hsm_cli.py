"""The officers' CLI, parsed into a fresh parser and run in-process (plus one real subprocess)."""

from __future__ import annotations

import argparse
import io
import json
import os
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from hsm import HsmConfig, KeyManager
from hsm.cli import register
from hsm.x509 import issue_certificate
from hutong.errors import Unavailable

REPO = Path(__file__).resolve().parents[2]
Audit = list[tuple[str, str, dict[str, str]]]


class Cli:
    def __init__(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
        self.capsys, self.monkeypatch = capsys, monkeypatch
        self.audit: Audit = []

    def __call__(self, *argv: str, stdin: str = "", tty: bool = False) -> tuple[int, str, str]:
        parser = argparse.ArgumentParser(prog="hutong")
        register(
            parser.add_subparsers(dest="command", required=True),
            audit_sink_factory=lambda args: (
                lambda action, target, details: self.audit.append((action, target, details))
            ),
        )
        fake_stdin = io.StringIO(stdin)
        fake_stdin.isatty = lambda: tty  # type: ignore[method-assign]
        self.monkeypatch.setattr(sys, "stdin", fake_stdin)
        self.capsys.readouterr()
        args = parser.parse_args(["hsm", *argv])
        code = args.func(args)
        out, err = self.capsys.readouterr()
        return code, out, err


@pytest.fixture
def cli(token: HsmConfig, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("HUTONG_HSM_MODULE", token.module_path)
    monkeypatch.setenv("HUTONG_HSM_TOKEN", token.token_label)
    monkeypatch.setenv("HUTONG_HSM_PIN_FILE", str(token.pin_file))
    return Cli(capsys, monkeypatch)


def test_keygen_list_status_export_csr_import(
    cli: Cli, token: HsmConfig, tmp_path: Path, test_pin: str
) -> None:
    code, out, _ = cli("keygen", "--label", "seal-ca", "--algorithm", "ec-p384")
    assert code == 0 and out.startswith("pkcs11:token=")
    code, out, _ = cli("list", "--json")
    [row] = json.loads(out)
    assert row["label"] == "seal-ca" and row["kind"] == "ec-p384"
    assert row["sensitive"] and row["never_extractable"] and not row["extractable"] and not row["certificate"]
    code, out, _ = cli("list")
    assert code == 0 and out.splitlines()[0].split()[:2] == ["LABEL", "KIND"] and "seal-ca" in out
    code, out, _ = cli("status", "--json")
    assert code == 0 and json.loads(out)["label"] == token.token_label and json.loads(out)["pin"] == "ok"

    code, _, _ = cli("export-public", "--key", "seal-ca", "--out", str(tmp_path / "pub.pem"))
    public = serialization.load_pem_public_key((tmp_path / "pub.pem").read_bytes())
    with KeyManager(token) as km:
        assert public == km.public_key("seal-ca")
        signer = km.signer("seal-ca")
    code, _, _ = cli(
        "csr", "--key", "seal-ca", "--subject", "CN=Seal CA,O=Hutong,C=CN", "--out", str(tmp_path / "req.pem")
    )
    csr = x509.load_pem_x509_csr((tmp_path / "req.pem").read_bytes())
    assert code == 0 and csr.is_signature_valid and csr.public_key() == public
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Seal CA"

    now = datetime.now(UTC)
    with KeyManager(token) as km:
        cert = issue_certificate(
            issuer_signer=km.signer("seal-ca"),
            issuer_name=None,
            subject=csr.subject,
            subject_public_key=signer.public_key,
            serial=99,
            not_before=now,
            not_after=now + timedelta(days=1),
            extensions=[],
        )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    code, _, _ = cli("import-cert", "--key", "seal-ca", "--cert", str(tmp_path / "cert.pem"))
    assert code == 0 and json.loads(cli("list", "--json")[1])[0]["certificate"]

    actions = [(a, t, d["outcome"]) for a, t, d in cli.audit]
    assert ("hsm.keygen", "seal-ca", "ok") in actions and ("hsm.import-cert", "seal-ca", "ok") in actions
    assert len(actions) == 8 and all(o == "ok" for _, _, o in actions)
    assert test_pin not in json.dumps(cli.audit)


def test_rotate(cli: Cli) -> None:
    cli("keygen", "--label", "tsa")
    code, out, _ = cli("rotate", "--label", "tsa")
    assert code == 0
    retired = out.split("retired:")[1].strip()
    assert retired.startswith("tsa.retired-") and retired.endswith("Z")
    assert {r["label"] for r in json.loads(cli("list", "--json")[1])} == {"tsa", retired}
    assert cli.audit[1][0] == "hsm.rotate" and cli.audit[1][2]["retired_label"] == retired


def test_destroy_needs_typed_confirmation(cli: Cli) -> None:
    cli("keygen", "--label", "doomed")
    for argv, stdin, tty in (
        (["destroy", "--key", "doomed"], "", False),  # nothing typed
        (["destroy", "--key", "doomed"], "dooomed\n", True),  # mistyped
        (["destroy", "--key", "doomed", "--yes"], "\n", True),
    ):  # --yes at a terminal asks
        code, out, err = cli(*argv, stdin=stdin, tty=tty)
        assert code == 2
        # The error ends the output as one line (after the prompt, which a terminal would end with Enter).
        assert "error: HSM_DESTROY_NOT_CONFIRMED: " in err.splitlines()[-1] and "Traceback" not in err
        assert err.splitlines()[-1].startswith("error: ") or tty
    assert [r["label"] for r in json.loads(cli("list", "--json")[1])] == ["doomed"]
    assert cli.audit[-2][2]["outcome"] == "failed"

    code, out, _ = cli("destroy", "--key", "doomed", stdin="doomed\n", tty=True)
    assert code == 0 and "destroyed doomed" in out
    cli("keygen", "--label", "doomed2")
    code, _, _ = cli("destroy", "--key", "doomed2", "--yes")  # not a terminal: --yes is enough
    assert code == 0 and json.loads(cli("list", "--json")[1]) == []


def test_errors_are_one_line_and_audited(cli: Cli, tmp_path: Path, test_pin: str) -> None:
    code, _, err = cli("export-public", "--key", "missing")
    assert (
        code == 2
        and err.strip().splitlines() == [err.strip()]
        and err.startswith("error: HSM_KEY_NOT_FOUND: ")
    )
    wrong = tmp_path / "wrong"
    wrong.write_text("wrong-pin-1111\n")
    code, _, err = cli("list", "--pin-file", str(wrong))
    assert code == 2 and err.startswith("error: HSM_PIN_INCORRECT: ") and "wrong-pin-1111" not in err
    code, _, err = cli("csr", "--key", "x", "--subject", "not a dn")
    assert code == 2 and err.startswith("error: ")
    assert [d["outcome"] for _, _, d in cli.audit] == ["failed"] * 3
    assert cli.audit[1][2]["reason"] == "HSM_PIN_INCORRECT"
    assert "wrong-pin-1111" not in json.dumps(cli.audit) and test_pin not in json.dumps(cli.audit)


def test_there_is_no_pin_option(cli: Cli) -> None:
    with pytest.raises(SystemExit):
        cli("list", "--pin", "1234")


def test_no_audit_no_operation(
    token: HsmConfig, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(args: argparse.Namespace) -> None:
        raise Unavailable("AUDIT_UNAVAILABLE", "audit log unreachable")

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(), audit_sink_factory=broken)  # type: ignore[arg-type]
    args = parser.parse_args(
        [
            "hsm",
            "keygen",
            "--label",
            "k",
            "--module",
            token.module_path,
            "--token",
            token.token_label,
            "--pin-file",
            str(token.pin_file),
        ]
    )
    assert args.func(args) == 2
    assert "AUDIT_UNAVAILABLE" in capsys.readouterr().err
    with KeyManager(token) as km:
        assert km.list_keys() == []


def test_init_token_creates_pin_files(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pin, so_pin = tmp_path / "secrets" / "pin", tmp_path / "secrets" / "so-pin"
    pin.parent.mkdir()
    monkeypatch.delenv("HUTONG_HSM_PIN_FILE")
    code, out, err = cli(
        "init-token",
        "--dir",
        str(tmp_path / "softhsm"),
        "--token",
        "cli-made",
        "--pin-file",
        str(pin),
        "--so-pin-file",
        str(so_pin),
    )
    assert code == 0, err
    for path in (pin, so_pin):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(path.read_text().strip()) >= 20
    assert (tmp_path / "softhsm" / "softhsm2.conf").exists()
    code, out, _ = cli("status", "--json", "--token", "cli-made", "--pin-file", str(pin))
    assert code == 0 and json.loads(out)["label"] == "cli-made"
    code, _, err = cli(
        "init-token",
        "--dir",
        str(tmp_path / "softhsm"),
        "--token",
        "cli-made",
        "--pin-file",
        str(pin),
        "--so-pin-file",
        str(so_pin),
    )
    assert code == 2 and err.startswith("error: HSM_TOKEN_EXISTS: ")
    assert pin.read_text() not in json.dumps(cli.audit)


def test_subprocess(token: HsmConfig, softhsm_conf: Path) -> None:
    env = {
        **os.environ,
        "SOFTHSM2_CONF": str(softhsm_conf),
        "PYTHONPATH": str(REPO),
        "HUTONG_HSM_TOKEN": token.token_label,
        "HUTONG_HSM_PIN_FILE": str(token.pin_file),
    }
    ok = subprocess.run(
        [sys.executable, "-m", "hsm.cli", "hsm", "keygen", "--label", "sub"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    audit = json.loads(ok.stderr.split("audit: ", 1)[1])
    assert audit["action"] == "hsm.keygen" and audit["outcome"] == "ok"
    bad = subprocess.run(
        [sys.executable, "-m", "hsm.cli", "hsm", "list", "--token", "absent-token"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert [line for line in bad.stderr.splitlines() if line.startswith("error:")] == [
        "error: HSM_TOKEN_NOT_FOUND: no HSM token labelled 'absent-token' in PKCS#11 module "
        f"{token.module_path}"
    ]
