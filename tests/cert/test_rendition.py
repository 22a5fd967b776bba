"""The printable rendition: sealed by the issuing department, pdfsig agrees, verifiable as a certificate."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from cert_svc import catalogue, issuers
from hutong.audit import AuditRecord
from hutong_client.cert import CertClient

from .conftest import PERSON_ID, Env, diploma_fields
from .test_issue import issue

SEALED_ISSUER = "121200004013590816"


@pytest.mark.skipif(shutil.which("pdfsig") is None, reason="poppler-utils (pdfsig) not installed")
def test_sealed_rendition(env: Env, tmp_path: Path) -> None:
    from sqlalchemy import select

    from seal_svc.seals import SealService, SealType

    seals, operator = SealService(env.node), env.people.operator().principal
    seal = seals.create_seal(operator, org_uscc=SEALED_ISSUER, org_name="某某大学", seal_type=SealType.OFFICIAL)
    seals.grant(operator, seal.seal_id, grantee_kind="platform", grantee="uni-platform")
    issuers.register(env.node, operator, uscc=SEALED_ISSUER, name="某某大学", type_codes=[catalogue.DIPLOMA],
                     platform_client_id="uni-platform", seal_id=seal.seal_id)
    cert = issue(env, env.people.platform("uni-platform").metadata, type_code=catalogue.DIPLOMA,
                 holder_id=PERSON_ID, fields=diploma_fields())
    client = CertClient(env.channel, metadata=env.alice)
    pdf = client.rendition(cert.identifier)
    (tmp_path / "r.pdf").write_bytes(pdf)
    out = subprocess.run(["pdfsig", str(tmp_path / "r.pdf")], capture_output=True, text=True)
    assert "Signature is Valid" in out.stdout, out.stdout
    # The rendition is a public artefact: no citizen ID number anywhere in it (qpdf expands every stream).
    subprocess.run(["qpdf", "--qdf", "--object-streams=disable", str(tmp_path / "r.pdf"), str(tmp_path / "q.pdf")],
                   check=True)
    assert PERSON_ID.encode() not in (tmp_path / "q.pdf").read_bytes()
    assert PERSON_ID not in subprocess.run(["pdftotext", str(tmp_path / "r.pdf"), "-"], capture_output=True,
                                           text=True).stdout
    result = client.verify_rendition(pdf)
    assert result.verdict == 1, result.findings
    assert result.certificate.identifier == cert.identifier
    with env.node.db.session() as s:  # sealed in-process by cert_svc, with the department platform's grant
        actors = set(s.scalars(select(AuditRecord.actor).where(AuditRecord.action == "seal.use",
                                                               AuditRecord.target == seal.seal_id)))
    assert actors == {"service:cert_svc via uni-platform"}
