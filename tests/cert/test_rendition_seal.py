"""The rendition's page and seal are written in one pass (``seal_svc.sealing.Sealer.seal_built``): one revision
whose signature covers the whole file, checked with pdfsig, qpdf and openssl (not our PDF library); the grant
charged and audited as for an upload; a seal suspended or revoked between two renditions is not used."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import grpc
import pytest
from sqlalchemy import select

from cert_svc import catalogue, issuers
from hutong.audit import AuditRecord
from hutong.errors import InvalidArgument
from hutong_client.cert import CertClient
from seal_svc.sealing import Sealer, SealOptions
from seal_svc.seals import SealInfo, SealService, SealType

from .conftest import PERSON_ID, Env, diploma_fields
from .test_issue import issue, reason_of

SEALED_ISSUER = "121200004013590816"
TOOLS = ("pdfsig", "qpdf", "openssl")


@pytest.fixture(scope="module")
def seal(env: Env) -> SealInfo:
    seals, operator = SealService(env.node), env.people.operator().principal
    info = seals.create_seal(operator, org_uscc=SEALED_ISSUER, org_name="某某大学", seal_type=SealType.OFFICIAL)
    seals.grant(operator, info.seal_id, grantee_kind="platform", grantee="uni-platform")
    issuers.register(env.node, operator, uscc=SEALED_ISSUER, name="某某大学", type_codes=[catalogue.DIPLOMA],
                     platform_client_id="uni-platform", seal_id=info.seal_id)
    return info


def _rendition(env: Env) -> bytes:
    cert = issue(env, env.people.platform("uni-platform").metadata, type_code=catalogue.DIPLOMA,
                 holder_id=PERSON_ID, fields=diploma_fields())
    return CertClient(env.channel, metadata=env.alice).rendition(cert.identifier)


def _uses(env: Env, seal_id: str) -> list[dict[str, object]]:
    with env.node.db.session() as s:
        found = s.scalars(select(AuditRecord.details).where(AuditRecord.action == "seal.use",
                                                            AuditRecord.target == seal_id)).all()
    return [d if isinstance(d, dict) else json.loads(d) for d in found]


@pytest.mark.skipif(any(shutil.which(t) is None for t in TOOLS), reason="pdfsig, qpdf or openssl not installed")
def test_one_revision_signed_whole_and_the_cms_verifies(env: Env, seal: SealInfo, tmp_path: Path) -> None:
    pdf = _rendition(env)
    path = tmp_path / "r.pdf"
    path.write_bytes(pdf)
    # One revision: the page was not written, parsed and updated; the signature covers every byte but its own.
    assert pdf.count(b"%%EOF") == 1
    ranges = re.findall(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", pdf)
    assert len(ranges) == 1
    a, b, c, d = (int(v) for v in ranges[0])
    assert a == 0 and c + d == len(pdf)
    out = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True)
    assert "Signature is Valid" in out.stdout and "Total document signed" in out.stdout, out.stdout
    subprocess.run(["qpdf", "--check", str(path)], check=True, capture_output=True)
    # openssl checks the CMS over the signed byte ranges on its own (the hex between them is the CMS, zero-padded).
    contents = bytes.fromhex(pdf[b + 1:c - 1].decode())
    assert contents[:2] == b"\x30\x82"
    (tmp_path / "sig.der").write_bytes(contents[:4 + int.from_bytes(contents[2:4], "big")])
    (tmp_path / "signed.bin").write_bytes(pdf[:b] + pdf[c:])
    cms = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(tmp_path / "sig.der"),
                          "-content", str(tmp_path / "signed.bin"), "-noverify", "-out", "/dev/null"],
                         capture_output=True, text=True)
    assert cms.returncode == 0 and "Verification successful" in cms.stderr, cms.stderr
    # Charged and audited as an upload's seal: the sealed document's hash (there was no input document).
    use = _uses(env, seal.seal_id)[-1]
    assert use["sealed_sha256"] == hashlib.sha256(pdf).hexdigest() and use["size"] == len(pdf)
    assert use["document_sha256"] is None and use["level"] == "B-T"


def test_two_renditions_differ_only_where_they_must(env: Env, seal: SealInfo) -> None:
    """Both carry the same seal image objects (the stamp is the seal's, not the certificate's) and one signature
    each; their certificate tokens differ."""
    from cert_svc.rendition import embedded_token

    first, second = _rendition(env), _rendition(env)
    assert embedded_token(first) != embedded_token(second)
    images = [re.findall(rb"/Subtype\s*/Image", p) for p in (first, second)]
    assert len(images[0]) == len(images[1]) == 2  # the colour and its alpha mask, once each
    assert first.count(b"/Type /Sig") == second.count(b"/Type /Sig") == 1


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) not installed")
def test_a_type_changed_shows_in_the_next_rendition(env: Env, seal: SealInfo, tmp_path: Path) -> None:
    """The type and the issuer are read for each rendition (not kept by the worker): a new layout shows at once."""
    from dataclasses import replace

    _rendition(env)
    with env.node.db.session() as s:
        spec = catalogue.get_type(s, catalogue.DIPLOMA)
        catalogue.put_type(s, replace(spec, layout=replace(spec.layout, title="新版学位证书")), actor="test")
    (tmp_path / "r.pdf").write_bytes(_rendition(env))
    text = subprocess.run(["pdftotext", str(tmp_path / "r.pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "新版学位证书" in text.replace(" ", "")


def test_a_seal_suspended_or_revoked_after_a_rendition_is_not_used(env: Env, seal: SealInfo) -> None:
    seals, operator = SealService(env.node), env.people.operator().principal
    _rendition(env)  # the sealer has this seal's signer and image at hand
    before = len(_uses(env, seal.seal_id))
    seals.suspend_seal(operator, seal.seal_id, "lost")
    assert reason_of(lambda: _rendition(env)) == (grpc.StatusCode.FAILED_PRECONDITION, "SEAL_SUSPENDED")
    seals.reactivate_seal(operator, seal.seal_id)
    _rendition(env)
    seals.revoke_seal(operator, seal.seal_id, "compromised")
    assert reason_of(lambda: _rendition(env)) == (grpc.StatusCode.FAILED_PRECONDITION, "SEAL_REVOKED")
    assert len(_uses(env, seal.seal_id)) == before + 1  # the refused ones charged nothing


def test_a_built_document_is_sealed_at_a_position_only(env: Env) -> None:
    from pyhanko.pdf_utils.writer import PdfFileWriter

    sealer = Sealer(SealService(env.node))
    with pytest.raises(InvalidArgument) as info:
        sealer.seal_built(env.people.operator().principal, None, PdfFileWriter(),  # type: ignore[arg-type]
                          SealOptions(field_name="Sig1"))
    assert info.value.reason == "PLACEMENT_REQUIRED"
