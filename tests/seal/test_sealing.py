"""Sealing and verifying PDFs in process, checked by independent tools (poppler pdfsig, qpdf)."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
from asn1crypto import cms
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from pyhanko.pdf_utils.reader import PdfFileReader

from bench.pdfgen import MARKER, make_pdf
from hutong import pki
from hutong.errors import FailedPrecondition
from hutong.verify.pdf import Revocation, Verdict, verify_pdf
from seal_svc.sealing import Certification, PadesLevel, Placement, SealOptions, seal_pdf
from tests.seal.conftest import ORG_B, USCC_A, USCC_B, SealEnv, admin_of, staff

CORNER = Placement(page=1, x=400, y=60, width=120, height=120)


def _seal(env: SealEnv, seal_id: str, pdf: bytes, *, user: object = None, **opts: object) -> bytes:
    options = SealOptions(**{"placement": CORNER, "reason": "同意签署", "location": "福州", **opts})  # type: ignore[arg-type]
    return seal_pdf(env.node, seal_id=seal_id, pdf=pdf, principal=user or staff(), options=options,  # type: ignore[arg-type]
                    service=env.service)


def _verify(env: SealEnv, pdf: bytes):  # type: ignore[no-untyped-def]
    return verify_pdf(pdf, env.sealer.trust, limit=10**9, temp_dir=env.sealer.settings.temp_dir)


def _pdfsig(path: Path) -> str:
    return subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, timeout=60).stdout


def _qpdf_ok(path: Path) -> bool:
    # Exit 0 = no problems, 3 = warnings only; 2 = errors.
    return subprocess.run(["qpdf", "--check", str(path)], capture_output=True, timeout=60).returncode in (0, 3)


@pytest.mark.parametrize("level", list(PadesLevel))
def test_sealed_pdf_valid_for_pdfsig_qpdf_and_verify(env: SealEnv, tmp_path: Path, level: PadesLevel) -> None:
    info = env.seal_for()
    sealed = _seal(env, info.seal_id, make_pdf(), level=level)
    path = tmp_path / "sealed.pdf"
    path.write_bytes(sealed)
    out = _pdfsig(path)
    assert "Signature Validation: Signature is Valid." in out, out
    assert _qpdf_ok(path)
    report = _verify(env, sealed)
    assert report.verdict is Verdict.VALID, report
    seal = [s for s in report.signatures if s.kind == "seal"]
    assert len(seal) == 1
    s = seal[0]
    assert (s.intact, s.signature_valid, s.trusted, s.changes_allowed) == (True, True, True, True)
    assert (s.org_uscc, s.seal_id, s.org_name) == (USCC_A, info.seal_id, info.org_name)
    assert s.revocation is Revocation.GOOD and s.reason == "同意签署" and s.location == "福州"
    assert s.has_timestamp == (level is not PadesLevel.B_B) and s.timestamp_valid == s.has_timestamp
    assert "root-ca" in s.trust_anchor
    if level is PadesLevel.B_LTA:
        assert [t.kind for t in report.signatures] == ["seal", "document_timestamp"]
    if level in (PadesLevel.B_LT, PadesLevel.B_LTA):
        dss = PdfFileReader(__import__("io").BytesIO(sealed)).root["/DSS"]
        assert len(dss["/CRLs"]) >= 2 and len(dss["/Certs"]) >= 2  # validation data embedded


def test_flipped_byte_in_signed_range_is_reported_broken(env: SealEnv, tmp_path: Path) -> None:
    info = env.seal_for()
    sealed = bytearray(_seal(env, info.seal_id, make_pdf()))
    at = sealed.index(MARKER)
    sealed[at] ^= 0x01  # inside page 1's content stream, covered by the signature
    path = tmp_path / "tampered.pdf"
    path.write_bytes(sealed)
    out = _pdfsig(path)
    assert "Signature is Valid" not in out and "Digest Mismatch" in out, out
    report = _verify(env, bytes(sealed))
    assert report.verdict is Verdict.INVALID
    assert not report.signatures[0].intact
    assert report.signatures[0].findings[0].reason == "SIGNATURE_BROKEN"


def test_two_organisations_seal_in_turn_both_stay_valid(env: SealEnv, tmp_path: Path) -> None:
    a = env.seal_for()
    b = env.seal_for(USCC_B, ORG_B, user=staff("b-staff", USCC_B))
    once = _seal(env, a.seal_id, make_pdf())
    twice = _seal(env, b.seal_id, once, user=staff("b-staff", USCC_B),
                  placement=Placement(page=1, x=100, y=60, width=120, height=120))
    assert twice.startswith(once)  # an incremental update: the first seal's bytes are untouched
    path = tmp_path / "contract.pdf"
    path.write_bytes(twice)
    assert _pdfsig(path).count("Signature Validation: Signature is Valid.") == 2
    assert _qpdf_ok(path)
    report = _verify(env, twice)
    assert report.verdict is Verdict.VALID
    first, second = report.signatures
    assert (first.org_uscc, second.org_uscc) == (USCC_A, USCC_B)
    assert first.coverage == "entire_revision" and first.modification == "form_filling" and first.changes_allowed
    assert second.coverage == "entire_file"


def test_seal_revoked_after_sealing_is_reported_revoked(env: SealEnv) -> None:
    info = env.seal_for()
    sealed = _seal(env, info.seal_id, make_pdf(), level=PadesLevel.B_LT)
    assert _verify(env, sealed).verdict is Verdict.VALID
    env.service.revoke_seal(admin_of(USCC_A), info.seal_id, "key compromise")
    report = _verify(env, sealed)
    assert report.verdict is Verdict.INVALID
    s = report.signatures[0]
    assert s.revocation is Revocation.REVOKED and s.revoked_at is not None
    assert "SEAL_REVOKED" in [f.reason for f in s.findings]


def test_b_t_timestamp_token_is_from_the_node_tsa(env: SealEnv) -> None:
    info = env.seal_for()
    sealed = _seal(env, info.seal_id, make_pdf(), level=PadesLevel.B_T)
    sig = PdfFileReader(__import__("io").BytesIO(sealed)).embedded_signatures[0]
    signer_info = sig.signer_info
    token = signer_info["unsigned_attrs"][0]
    assert token["type"].native == "signature_time_stamp_token"
    signed_data: cms.SignedData = token["values"][0]["content"]
    tst_info = signed_data["encap_content_info"]["content"].parsed
    # The token stamps this signature's value ...
    assert tst_info["message_imprint"]["hashed_message"].native == hashlib.sha256(
        signer_info["signature"].native).digest()
    # ... and is signed by the node's TSA key (in the HSM), whose certificate it carries.
    tsa = env.node.pki.certificate(pki.TSA)  # type: ignore[attr-defined]
    from cryptography.hazmat.primitives import serialization

    tsa_der = tsa.public_bytes(serialization.Encoding.DER)
    assert any(c.chosen.dump() == tsa_der for c in signed_data["certificates"])
    ts_signer = signed_data["signer_infos"][0]
    public_key = tsa.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(ts_signer["signature"].native, ts_signer["signed_attrs"].untag().dump(),
                      ec.ECDSA(hashes.SHA256()))
    assert _verify(env, sealed).signatures[0].timestamp_valid


def test_existing_empty_field_is_filled_once(env: SealEnv) -> None:
    info = env.seal_for()
    pdf = make_pdf(with_field="乙方盖章")
    sealed = _seal(env, info.seal_id, pdf, placement=None, field_name="乙方盖章")
    report = _verify(env, sealed)
    assert report.verdict is Verdict.VALID and report.signatures[0].field_name == "乙方盖章"
    with pytest.raises(FailedPrecondition) as e:
        _seal(env, info.seal_id, sealed, placement=None, field_name="乙方盖章")
    assert e.value.reason == "FIELD_ALREADY_SIGNED"


def test_certification_levels(env: SealEnv) -> None:
    a = env.seal_for()
    b = env.seal_for(USCC_B, ORG_B, user=staff("b-staff", USCC_B))
    b_staff = staff("b-staff", USCC_B)
    certified = _seal(env, a.seal_id, make_pdf(with_field="乙方"), certification=Certification.FORM_FILLING)
    assert _verify(env, certified).signatures[0].certification == "form_filling"
    with pytest.raises(FailedPrecondition) as e:  # a new field would break the certification: refused
        _seal(env, b.seal_id, certified, user=b_staff)
    assert e.value.reason == "DOCUMENT_LOCKED"
    both = _seal(env, b.seal_id, certified, user=b_staff, placement=None, field_name="乙方")
    report = _verify(env, both)
    assert report.verdict is Verdict.VALID and report.signatures[0].changes_allowed
    with pytest.raises(FailedPrecondition) as e:  # only the first seal may certify
        _seal(env, a.seal_id, _seal(env, a.seal_id, make_pdf()), certification=Certification.ANNOTATIONS)
    assert e.value.reason == "CERTIFICATION_NOT_POSSIBLE"
    locked = _seal(env, a.seal_id, make_pdf(), certification=Certification.NO_CHANGES)
    with pytest.raises(FailedPrecondition) as e:
        _seal(env, b.seal_id, locked, user=b_staff)
    assert e.value.reason == "DOCUMENT_LOCKED"
    annotations = _seal(env, a.seal_id, make_pdf(with_field="乙方"), certification=Certification.ANNOTATIONS)
    again = _seal(env, b.seal_id, annotations, user=b_staff, placement=None, field_name="乙方")
    assert _verify(env, again).signatures[0].certification == "annotations"


def test_a_certificate_that_is_no_seal_is_not_a_trusted_seal(env: SealEnv, tmp_path: Path) -> None:
    """Signed with a certificate from the node's *issuer* CA (it chains to the trusted root, but no seal CA
    issued it): the verifier refuses to call it a seal."""
    import io

    from asn1crypto import keys as asn1_keys
    from asn1crypto import x509 as asn1_x509
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    from hutong import pki
    from hutong.verify.pdf import verify_pdf
    from hutong.verify.trust import TrustMaterial, combine

    node = env.node
    key = ec.generate_private_key(ec.SECP256R1())
    cert = node.pki.issue(ca=pki.ISSUER_CA, public_key=key.public_key(),  # type: ignore[attr-defined]
                          subject=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not a seal")]))
    chain = [cert, *node.pki.chain(pki.ISSUER_CA)]  # type: ignore[attr-defined]
    as_asn1 = [asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in chain]
    signer = signers.SimpleSigner(
        signing_cert=as_asn1[0], cert_registry=SimpleCertificateStore.from_certs(as_asn1),
        signing_key=asn1_keys.PrivateKeyInfo.load(key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())))
    out = io.BytesIO()
    signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(make_pdf())),
                     signers.PdfSignatureMetadata(field_name="NotASeal"), signer=signer, output=out)
    # Give the verifier the issuer CA's CRL too, so that the path itself validates: only the seal rule refuses.
    issuer_crl = node.pki.crl(ca=pki.ISSUER_CA, revoked=[], number=1)  # type: ignore[attr-defined]
    extra = TrustMaterial(roots=(), intermediates=(node.pki.certificate(pki.ISSUER_CA),),  # type: ignore[attr-defined]
                          crls_der=(issuer_crl.public_bytes(serialization.Encoding.DER),))
    report = verify_pdf(out.getvalue(), combine(env.sealer.trust, lambda: extra), limit=1 << 30,
                        temp_dir=str(tmp_path))
    sig = report.signatures[0]
    assert sig.intact and sig.signature_valid and not sig.trusted
    assert report.verdict.name == "INVALID"
    assert any(f.reason == "SIGNER_NOT_A_SEAL" for f in sig.findings)
