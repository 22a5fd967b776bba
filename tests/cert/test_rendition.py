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
    # Downloaded again: the same sealed bytes, not sealed a second time (one use of the seal for the certificate)
    assert client.rendition(cert.identifier) == pdf
    with env.node.db.session() as s:
        uses = s.scalars(select(AuditRecord.details).where(AuditRecord.action == "seal.use",
                                                           AuditRecord.target == seal.seal_id)).all()
    assert len(uses) == 1


@pytest.mark.skipif(shutil.which("zbarimg") is None or shutil.which("pdftoppm") is None,
                    reason="zbar-tools (zbarimg) or poppler-utils (pdftoppm) not installed")
def test_the_qr_decodes_and_is_qrcodes_own_symbol(env: Env, tmp_path: Path) -> None:
    """``cert_svc.qr`` encodes faster than qrcode but makes the very symbol qrcode makes of the same segment and
    mask (module by module, for sizes across versions and the byte-count boundary at version 10); the page's QR,
    rasterised by poppler, decodes with zbarimg to the content."""
    import random

    import qrcode
    from qrcode import util

    from cert_svc import qr
    from cert_svc.records import CertView, Holder

    rng = random.Random(7)
    for n in (1, 14, 100, 213, 214, 215, 300, 500, 700, 1200):
        content = "".join(rng.choice("abcXYZ0123-_.#/:测") for _ in range(n))
        ref = qrcode.QRCode(error_correction=qr.ERROR_CORRECTION, border=qr.BORDER, mask_pattern=qr.MASK)
        ref.add_data(util.QRData(content.encode(), mode=util.MODE_8BIT_BYTE))
        ref.make(fit=True)
        assert qr.version_for(content.encode()) == ref.version
        assert qr.matrix(content) == [[bool(m) for m in row] for row in ref.get_matrix()], n

    from datetime import UTC, date, datetime

    from cert_svc import rendition

    with env.node.db.session() as s:
        spec = catalogue.get_type(s, catalogue.DIPLOMA)
    link = "https://verify.example.cn/v#" + "eyJhbGciOiJFUzI1NiJ9." + "x" * 380 + "." + "y" * 86
    now = datetime.now(UTC)
    view = CertView("1.2.156.3005.2.x", catalogue.DIPLOMA, "学位证书", SEALED_ISSUER, "某某大学",
                    Holder("person", "", "张三"), {}, date(2020, 1, 1), None, "valid", "", 1, now, now, "a.b.c",
                    "q.r.s")
    (tmp_path / "r.pdf").write_bytes(rendition.render(view, spec, link))
    subprocess.run(["pdftoppm", "-r", "200", "-png", "-f", "1", "-l", "1", str(tmp_path / "r.pdf"),
                    str(tmp_path / "page")], check=True)
    out = subprocess.run(["zbarimg", "--raw", "-q", str(next(tmp_path.glob("page*.png")))], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == link


@pytest.mark.skipif(shutil.which("qpdf") is None, reason="qpdf not installed")
def test_the_token_is_an_object_of_its_own_and_older_renditions_still_read(env: Env, tmp_path: Path) -> None:
    """The JWS sits in the catalogue as an indirect object (sealing rewrites the catalogue, not the token); qpdf
    finds the file sound and reads the same token back; a rendition of the older form (the JWS a direct string in
    the catalogue) still gives its token."""
    import io
    import re
    from datetime import UTC, date, datetime

    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.generic import pdf_name
    from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

    from cert_svc import rendition
    from cert_svc.records import CertView, Holder

    with env.node.db.session() as s:
        spec = catalogue.get_type(s, catalogue.DIPLOMA)
    now = datetime.now(UTC)
    jws = "eyJhbGciOiJFUzI1NiJ9.eyJqdGkiOiIxLjIifQ.c2ln-_0"
    view = CertView("1.2.156.3005.2.x", catalogue.DIPLOMA, "学位证书", SEALED_ISSUER, "某某大学",
                    Holder("person", "", "张三"), {}, date(2020, 1, 1), None, "valid", "", 1, now, now, jws, "q.r.s")
    pdf = rendition.render(view, spec, "https://verify.example.cn/v#q.r.s")
    (tmp_path / "r.pdf").write_bytes(pdf)
    subprocess.run(["qpdf", "--check", str(tmp_path / "r.pdf")], check=True, capture_output=True)
    def show(obj: str) -> str:
        return subprocess.run(["qpdf", f"--show-object={obj}", str(tmp_path / "r.pdf")], check=True,
                              capture_output=True, text=True).stdout

    root = re.search(r"/Root (\d+) 0 R", show("trailer"))
    assert root is not None
    entry = re.search(re.escape(rendition.CATALOG_KEY) + r" (\d+) 0 R", show(root[1]))
    assert entry is not None, show(root[1])  # a reference, not the string itself
    assert show(entry[1]).strip() == "(" + jws + ")"  # qpdf reads the token (written with octal escapes)
    assert rendition.embedded_token(pdf) == jws

    older = PdfFileWriter()
    older.insert_page(PageObject(contents=older.add_object(generic.StreamObject(stream_data=b"")),
                                         media_box=[0, 0, 100, 100]))
    older.root[pdf_name(rendition.CATALOG_KEY)] = generic.TextStringObject(jws)
    out = io.BytesIO()
    older.write(out)
    assert rendition.embedded_token(out.getvalue()) == jws
