"""The seal service over a real gRPC server, real tokens: SDK and CLI, create -> grant -> seal -> verify -> revoke."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509

from bench.pdfgen import make_pdf_file
from hutong.cli import main as hutong_main
from hutong.common.v1 import common_pb2
from hutong.errors import PermissionDenied
from hutong.seal.v1 import seal_pb2
from tests.seal.conftest import ORG_A, USCC_A, SealRpc

CORNER = seal_pb2.Placement(page=1, x=400, y=60, width=120, height=120)


def test_sdk_lifecycle_over_grpc(rpc: SealRpc, tmp_path: Path) -> None:
    admin = rpc.client(rpc.admin)
    seal = admin.create_seal(org_uscc=USCC_A, org_name=ORG_A, type=seal_pb2.SEAL_TYPE_CONTRACT)  # type: ignore[attr-defined]
    assert seal.status == seal_pb2.SEAL_STATUS_ACTIVE and seal.image_png.startswith(b"\x89PNG")
    assert [s.seal_id for s in admin.list_seals()] == [seal.seal_id]  # type: ignore[attr-defined]
    grant = admin.grant(seal.seal_id, grantee=rpc.staff.subject, max_uses=5)  # type: ignore[attr-defined]
    assert grant.max_uses == 5 and grant.uses == 0

    user = rpc.client(rpc.staff)
    with pytest.raises(PermissionDenied):  # staff may use, not manage
        user.grant(seal.seal_id, grantee="someone-else")  # type: ignore[attr-defined]
    src = make_pdf_file(tmp_path / "contract.pdf", pages=3)
    result = user.sign_file(src, tmp_path / "sealed.pdf", seal.seal_id, placement=CORNER, reason="同意",  # type: ignore[attr-defined]
                            level=seal_pb2.PADES_LEVEL_B_LTA)
    assert result.field_name and result.level == seal_pb2.PADES_LEVEL_B_LTA
    report = user.verify_file(tmp_path / "sealed.pdf")  # type: ignore[attr-defined]
    assert report.verdict == common_pb2.VERDICT_VALID
    first = report.signatures[0]
    assert (first.org_uscc, first.seal_id, first.trusted, first.intact) == (USCC_A, seal.seal_id, True, True)
    assert first.has_timestamp and first.timestamp_valid
    assert first.revocation == seal_pb2.REVOCATION_STATUS_GOOD
    assert admin.list_grants(seal.seal_id)[0].uses == 1  # type: ignore[attr-defined]

    revoked = admin.revoke_seal(seal.seal_id, "key compromise")  # type: ignore[attr-defined]
    assert revoked.status == seal_pb2.SEAL_STATUS_REVOKED
    crl_resp = user.get_crl()  # type: ignore[attr-defined]
    crl = x509.load_der_x509_crl(crl_resp.crl_der)
    assert crl.get_revoked_certificate_by_serial_number(int(seal.certificate_serial, 16)) is not None
    assert len(crl_resp.ca_certificates_der) == 2 and crl_resp.root_crl_der
    again = user.verify_file(tmp_path / "sealed.pdf")  # type: ignore[attr-defined]
    assert again.verdict == common_pb2.VERDICT_INVALID
    assert again.signatures[0].revocation == seal_pb2.REVOCATION_STATUS_REVOKED


def test_cli_create_grant_sign_verify_revoke(rpc: SealRpc, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    conn = ["--target", rpc.target]
    admin_token = tmp_path / "admin.token"
    admin_token.write_text(rpc.admin.token)
    as_admin = [*conn, "--token-file", str(admin_token)]
    assert hutong_main(["seal", "create", "--org-uscc", USCC_A, "--org-name", ORG_A, "--type", "contract",
                        "--image-out", str(tmp_path / "seal.png"), *as_admin]) == 0
    seal_id = capsys.readouterr().out.split()[0]
    assert (tmp_path / "seal.png").read_bytes().startswith(b"\x89PNG")
    assert hutong_main(["seal", "list", *as_admin]) == 0
    assert seal_id in capsys.readouterr().out
    assert hutong_main(["seal", "grant", seal_id, "--person", rpc.staff.subject, "--max-uses", "2", *as_admin]) == 0
    capsys.readouterr()

    monkeypatch.setenv("HUTONG_TOKEN", rpc.staff.token)
    src = make_pdf_file(tmp_path / "in.pdf")
    assert hutong_main(["seal", "sign", seal_id, str(src), str(tmp_path / "out.pdf"), "--reason", "同意",
                        "--level", "B-B", *conn]) == 0
    assert hutong_main(["seal", "verify", str(tmp_path / "out.pdf"), *conn]) == 0
    assert ": valid" in capsys.readouterr().out
    assert hutong_main(["seal", "verify", str(src), "--json", *conn]) == 1  # no seal on it
    capsys.readouterr()
    assert hutong_main(["seal", "revoke", seal_id, *as_admin]) == 0
    assert hutong_main(["seal", "sign", seal_id, str(src), str(tmp_path / "out2.pdf"), *conn]) == 2
    assert "SEAL_REVOKED" in capsys.readouterr().err
    assert not (tmp_path / "out2.pdf").exists()
    monkeypatch.delenv("HUTONG_TOKEN")
    assert hutong_main(["seal", "list", *conn]) == 2
    assert "TOKEN_REQUIRED" in capsys.readouterr().err


def test_large_messages_are_chunked(rpc: SealRpc, tmp_path: Path) -> None:
    """A document bigger than gRPC's 4 MiB default message size goes through in chunks."""
    seal = rpc.seal_for()
    user = rpc.client(rpc.staff)
    src = make_pdf_file(tmp_path / "big.pdf", filler_bytes=12 * 1024 * 1024)
    user.sign_file(src, tmp_path / "big-sealed.pdf", seal.seal_id, placement=CORNER)  # type: ignore[attr-defined]
    assert (tmp_path / "big-sealed.pdf").stat().st_size > src.stat().st_size
    assert user.verify_file(tmp_path / "big-sealed.pdf").verdict == common_pb2.VERDICT_VALID  # type: ignore[attr-defined]

