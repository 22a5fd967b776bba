"""Verifying a sealed PDF (needs pyHanko; the report types are in ``pdfreport``): pyHanko's
``validate_pdf_signature`` per signature, against the roots and CRLs of a ``TrustSource``, summed up into
one verdict per signature and one for the document. Revocation is judged now, so a seal revoked after
sealing shows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESFailure, AdESIndeterminate
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.fields import MDPPerm
from pyhanko.sign.validation import async_validate_pdf_signature, async_validate_pdf_timestamp
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import ModificationInfo, SignatureCoverageLevel, SignatureStatus
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.policy_decl import CertRevTrustPolicy, RevocationCheckingPolicy, RevocationCheckingRule

from hutong.verify import loops, pathcache
from hutong.verify.findings import Finding
from hutong.verify.pdfio import Spooled, open_pdf, spool, spool_bytes
from hutong.verify.pdfreport import Revocation, SignatureReport, Verdict, VerificationReport
from hutong.verify.trust import TrustMaterial, TrustSource
from hutong.verify.x509 import seal_identity

pathcache.install()

_COVERAGE = {
    SignatureCoverageLevel.ENTIRE_FILE: "entire_file",
    SignatureCoverageLevel.ENTIRE_REVISION: "entire_revision",
}
_MODIFICATION = {
    ModificationLevel.NONE: "none",
    ModificationLevel.LTA_UPDATES: "lta_updates",
    ModificationLevel.FORM_FILLING: "form_filling",
    ModificationLevel.ANNOTATIONS: "annotations",
    ModificationLevel.OTHER: "other",
}
_CERTIFICATION = {MDPPerm.NO_CHANGES: "no_changes", MDPPerm.FILL_FORMS: "form_filling",
                  MDPPerm.ANNOTATE: "annotations"}
# Trust problems that mean "cannot tell yet" rather than "wrong".
_UNDECIDED = {AdESIndeterminate.TRY_LATER, AdESIndeterminate.REVOCATION_OUT_OF_BOUNDS_NO_POE,
              AdESIndeterminate.OUT_OF_BOUNDS_NO_POE, AdESIndeterminate.NO_POE, AdESIndeterminate.GENERIC,
              AdESIndeterminate.OUT_OF_BOUNDS_NOT_REVOKED}


def _text(sig: EmbeddedPdfSignature, key: str) -> str:
    value = sig.sig_object.get(key)
    return str(value) if value is not None else ""


def _integrity(report: SignatureReport, status: ModificationInfo) -> None:
    report.coverage = _COVERAGE.get(status.coverage, "partial") if status.coverage else "partial"
    level = status.modification_level
    report.modification = _MODIFICATION[level] if level is not None else ""
    allowed = status.docmdp_ok if status.docmdp_ok is not None else level is not ModificationLevel.OTHER
    report.changes_allowed = bool(allowed) and report.coverage != "partial"
    if report.coverage == "partial":
        report.findings.append(Finding("COVERAGE_PARTIAL", "the signature does not cover a whole revision", True))
    elif not report.changes_allowed:
        report.findings.append(Finding("CHANGE_NOT_ALLOWED", "the document was changed after sealing in a way "
                                       "that is not allowed", True))


def _crypto_and_trust(report: SignatureReport, status: SignatureStatus) -> None:
    report.intact, report.signature_valid, report.trusted = status.intact, status.valid, status.trusted
    report.certificate_der = status.signing_cert.dump()
    if status.validation_path is not None:
        report.trust_anchor = status.validation_path.first.subject.human_friendly
    if not status.intact:
        report.findings.append(Finding("SIGNATURE_BROKEN", "the signed bytes were changed after sealing", True))
    elif not status.valid:
        report.findings.append(Finding("SIGNATURE_INVALID", "the cryptographic signature does not verify", True))
    problem = status.trust_problem_indic
    if status.revoked or problem in (AdESFailure.REVOKED, AdESIndeterminate.REVOKED_NO_POE,
                                     AdESIndeterminate.REVOKED_CA_NO_POE):
        report.revocation = Revocation.REVOKED
        details = status.revocation_details
        report.revoked_at = details.revocation_date if details else None
        report.findings.append(Finding("SEAL_REVOKED", "the seal's certificate has been revoked", True))
    elif status.trusted:
        report.revocation = Revocation.GOOD
    elif problem in _UNDECIDED:
        report.findings.append(Finding("REVOCATION_UNKNOWN", f"the certificate status cannot be established "
                                       f"({problem.standard_name})", False))
    elif status.intact and status.valid:
        report.findings.append(Finding("SIGNER_UNTRUSTED", "the certificate does not chain to a trusted node CA "
                                       f"({problem.standard_name if problem else 'no path'})", True))


def _require_seal_ca(report: SignatureReport, sig: EmbeddedPdfSignature, material: TrustMaterial) -> None:
    """A seal is a certificate from a node's seal CA: chaining to a trusted root is not enough (a department's
    or the TSA's certificate chains there too)."""
    if not report.trusted or not material.seal_cas:
        return
    issuer = sig.signer_cert.issuer.dump()
    if not any(ca.subject.public_bytes() == issuer for ca in material.seal_cas):
        report.trusted = False
        report.findings.append(Finding("SIGNER_NOT_A_SEAL", "the signing certificate was not issued by a node's "
                                       "seal CA: this is no electronic seal", True))


def _timestamp(report: SignatureReport, status: Any) -> None:
    tst = getattr(status, "timestamp_validity", None)
    if tst is None:
        return
    report.has_timestamp = True
    report.timestamp_time = tst.timestamp
    report.timestamp_valid = bool(tst.intact and tst.valid and tst.trusted)
    if not report.timestamp_valid:
        report.findings.append(Finding("TIMESTAMP_INVALID", "the signature timestamp does not verify or is not "
                                       "from a trusted TSA", not (tst.intact and tst.valid)))


def _identity(report: SignatureReport, sig: EmbeddedPdfSignature) -> None:
    who = seal_identity(sig.signer_cert.dump())
    report.org_name, report.org_uscc, report.seal_id, report.seal_name = (
        who.org_name, who.org_uscc, who.seal_id, who.seal_name)


def _decide(report: SignatureReport) -> Verdict:
    if any(f.fatal for f in report.findings):
        return Verdict.INVALID
    if report.findings or not report.trusted:
        return Verdict.INDETERMINATE
    return Verdict.VALID


def _verify_one(sig: EmbeddedPdfSignature, trust: TrustSource) -> SignatureReport:
    is_ts = sig.sig_object_type == "/DocTimeStamp"
    report = SignatureReport(field_name=str(sig.field_name), kind="document_timestamp" if is_ts else "seal",
                             reason=_text(sig, "/Reason"), location=_text(sig, "/Location"))
    try:
        material = trust()
        vc = validation_context(material, reuse_paths=True)
        status: Any
        if is_ts:
            status = loops.run(async_validate_pdf_timestamp(sig, validation_context=vc))
            report.timestamp_time, report.has_timestamp = status.timestamp, True
            report.timestamp_valid = status.trusted
        else:
            status = loops.run(async_validate_pdf_signature(sig, signer_validation_context=vc,
                                                            ts_validation_context=vc))
            report.signing_time = status.signer_reported_dt
            level = sig.docmdp_level
            report.certification = _CERTIFICATION.get(level, "") if level else ""
            _identity(report, sig)
            _timestamp(report, status)
        _crypto_and_trust(report, status)
        if not is_ts:
            _require_seal_ca(report, sig, material)
        _integrity(report, status)
    except Exception as exc:  # noqa: BLE001 - a damaged signature is a finding about the document, not an error
        report.findings.append(Finding("SIGNATURE_UNREADABLE", f"the signature cannot be evaluated: "
                                       f"{type(exc).__name__}", True))
    report.verdict = _decide(report)
    return report


def verify_reader(reader: PdfFileReader, trust: TrustSource, document_sha256: str) -> VerificationReport:
    sigs = list(reader.embedded_signatures)
    if not sigs:
        return VerificationReport(Verdict.INVALID, [], [Finding("NO_SIGNATURES", "the document carries no seal",
                                                                True)], document_sha256)
    reports = [_verify_one(sig, trust) for sig in sigs]
    verdicts = {r.verdict for r in reports}
    overall = (Verdict.INVALID if Verdict.INVALID in verdicts
               else Verdict.INDETERMINATE if Verdict.INDETERMINATE in verdicts else Verdict.VALID)
    return VerificationReport(overall, reports, [], document_sha256)


def verify_spooled(doc: Spooled, trust: TrustSource) -> VerificationReport:
    return verify_reader(open_pdf(doc), trust, doc.sha256)


def verify_chunks(chunks: Iterable[bytes], trust: TrustSource, *, limit: int, temp_dir: str) -> VerificationReport:
    doc = spool(chunks, limit=limit, temp_dir=temp_dir)
    try:
        return verify_spooled(doc, trust)
    finally:
        doc.close()


def verify_pdf(pdf: bytes, trust: TrustSource, *, limit: int, temp_dir: str) -> VerificationReport:
    """In-process API: verify a PDF held in memory."""
    doc = spool_bytes(pdf, limit=limit, temp_dir=temp_dir)
    try:
        return verify_spooled(doc, trust)
    finally:
        doc.close()


# Every certificate below a trust anchor must have revocation data (CRLs come with the trust
# material, nothing is fetched): a seal whose status cannot be checked is not reported good.
REVOCATION_REQUIRED = CertRevTrustPolicy(RevocationCheckingPolicy(
    ee_certificate_rule=RevocationCheckingRule.CRL_REQUIRED,
    intermediate_ca_cert_rule=RevocationCheckingRule.CRL_REQUIRED,
))


def validation_context(material: TrustMaterial, *, reuse_paths: bool = False) -> ValidationContext:
    """pyHanko/certvalidator context over the material: no network, CRLs required, time = now.

    A new context per call (its validation time is now, and it keeps per-validation state); the parsed
    certificates and CRLs in it are reused until the material changes (a CRL re-issued or re-fetched is new
    bytes, so a new parse). When sealing at B-LT/B-LTA pyHanko embeds exactly these in the DSS.
    ``reuse_paths`` (verifying only): certificate paths validated against this very material are reused
    (``pathcache``).
    """
    der = serialization.Encoding.DER
    roots = [c.public_bytes(der) for c in material.roots]
    others = [c.public_bytes(der) for c in material.intermediates]
    crls = [_parsed_crl(d) for d in material.crls_der]
    context = ValidationContext(
        trust_roots=[_parsed_cert(d) for d in roots],
        other_certs=[_parsed_cert(d) for d in others],
        crls=crls,
        allow_fetching=False,
        revinfo_policy=REVOCATION_REQUIRED,
    )
    if reuse_paths:
        digest = hashlib.sha256()
        for part in (roots, others, list(material.crls_der)):
            digest.update(len(part).to_bytes(4, "big"))
            for d in part:
                digest.update(len(d).to_bytes(4, "big") + d)
        updates = [c["tbs_cert_list"]["next_update"].native for c in crls]
        pathcache.mark(context, digest.digest(), min((u for u in updates if u is not None), default=None))
    return context


# Parsed in full when first seen (``.native``), so the threads sharing them only read them afterwards.
@lru_cache(maxsize=512)
def _parsed_cert(der: bytes) -> asn1_x509.Certificate:
    cert = asn1_x509.Certificate.load(der)
    _ = cert.native, cert.sha256, cert.issuer_serial
    return cert


@lru_cache(maxsize=128)
def _parsed_crl(der: bytes) -> asn1_crl.CertificateList:
    crl = asn1_crl.CertificateList.load(der)
    _ = crl.native, crl.sha256
    return crl
