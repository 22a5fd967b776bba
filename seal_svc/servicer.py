"""gRPC servicer: protobuf <-> domain values, nothing else. Errors are mapped by ``hutong.rpc``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
from cryptography.hazmat.primitives import serialization

from hutong import convert, pki
from hutong.auth import Authenticator, Principal
from hutong.common.v1 import common_pb2
from hutong.convert import timestamp
from hutong.errors import InvalidArgument
from hutong.rpc import idempotency_key, metadata_dict
from hutong.seal.v1 import seal_pb2, seal_pb2_grpc
from hutong.verify.pdf import SignatureReport, Verdict, VerificationReport, verify_chunks
from hutong.verify.pdfio import too_large
from seal_svc.crl import root_crls, seal_ca_crls
from seal_svc.sealing import Certification, PadesLevel, Placement, Sealer, SealOptions
from seal_svc.seals import GrantInfo, SealInfo, SealService, SealStatus, SealType

_TYPES = {SealType.OFFICIAL: seal_pb2.SEAL_TYPE_OFFICIAL, SealType.CONTRACT: seal_pb2.SEAL_TYPE_CONTRACT,
          SealType.FINANCE: seal_pb2.SEAL_TYPE_FINANCE, SealType.INVOICE: seal_pb2.SEAL_TYPE_INVOICE,
          SealType.LEGAL_REPRESENTATIVE: seal_pb2.SEAL_TYPE_LEGAL_REPRESENTATIVE}
_TYPES_BACK = {v: k for k, v in _TYPES.items()}
_STATUS = {SealStatus.ACTIVE: seal_pb2.SEAL_STATUS_ACTIVE, SealStatus.SUSPENDED: seal_pb2.SEAL_STATUS_SUSPENDED,
           SealStatus.REVOKED: seal_pb2.SEAL_STATUS_REVOKED}
_LEVELS = {seal_pb2.PADES_LEVEL_UNSPECIFIED: PadesLevel.B_T, seal_pb2.PADES_LEVEL_B_B: PadesLevel.B_B,
           seal_pb2.PADES_LEVEL_B_T: PadesLevel.B_T, seal_pb2.PADES_LEVEL_B_LT: PadesLevel.B_LT,
           seal_pb2.PADES_LEVEL_B_LTA: PadesLevel.B_LTA}
_LEVELS_BACK = {v: k for k, v in _LEVELS.items() if k != seal_pb2.PADES_LEVEL_UNSPECIFIED}
_CERTIFY = {seal_pb2.CERTIFICATION_UNSPECIFIED: None, seal_pb2.CERTIFICATION_NO_CHANGES: Certification.NO_CHANGES,
            seal_pb2.CERTIFICATION_FORM_FILLING: Certification.FORM_FILLING,
            seal_pb2.CERTIFICATION_ANNOTATIONS: Certification.ANNOTATIONS}
_CERT_NAMES = {"no_changes": seal_pb2.CERTIFICATION_NO_CHANGES, "form_filling": seal_pb2.CERTIFICATION_FORM_FILLING,
               "annotations": seal_pb2.CERTIFICATION_ANNOTATIONS}
_GRANTEE = {seal_pb2.GRANTEE_KIND_PERSON: "person", seal_pb2.GRANTEE_KIND_PLATFORM: "platform"}
_GRANTEE_BACK = {v: k for k, v in _GRANTEE.items()}
_VERDICT = {Verdict.VALID: common_pb2.VERDICT_VALID, Verdict.INVALID: common_pb2.VERDICT_INVALID,
            Verdict.INDETERMINATE: common_pb2.VERDICT_INDETERMINATE}
_COVERAGE = {"entire_file": seal_pb2.COVERAGE_ENTIRE_FILE, "entire_revision": seal_pb2.COVERAGE_ENTIRE_REVISION,
             "partial": seal_pb2.COVERAGE_PARTIAL}
_MODIFICATION = {"none": seal_pb2.MODIFICATION_NONE, "lta_updates": seal_pb2.MODIFICATION_LTA_UPDATES,
                 "form_filling": seal_pb2.MODIFICATION_FORM_FILLING, "annotations": seal_pb2.MODIFICATION_ANNOTATIONS,
                 "other": seal_pb2.MODIFICATION_OTHER}
_REVOCATION = {"good": seal_pb2.REVOCATION_STATUS_GOOD, "revoked": seal_pb2.REVOCATION_STATUS_REVOKED,
               "unknown": seal_pb2.REVOCATION_STATUS_UNKNOWN}


def seal_msg(info: SealInfo) -> seal_pb2.Seal:
    return seal_pb2.Seal(
        seal_id=info.seal_id, org_uscc=info.org_uscc, org_name=info.org_name, type=_TYPES[info.type],
        name=info.name, status=_STATUS[info.status], certificate_serial=info.certificate_serial,
        certificate_der=info.certificate.public_bytes(serialization.Encoding.DER), image_png=info.image_png,
        created_at=timestamp(info.created_at), status_changed_at=timestamp(info.status_changed_at))


def grant_msg(g: GrantInfo) -> seal_pb2.Grant:
    return seal_pb2.Grant(
        grant_id=g.grant_id, seal_id=g.seal_id, grantee_kind=_GRANTEE_BACK[g.grantee_kind], grantee=g.grantee,
        not_before=timestamp(g.not_before), not_after=timestamp(g.not_after), max_uses=g.max_uses or 0, uses=g.uses,
        revoked=g.revoked, created_at=timestamp(g.created_at))


def options_from(header: seal_pb2.SignPdfHeader) -> SealOptions:
    placement = None
    if header.HasField("placement"):
        p = header.placement
        placement = Placement(page=p.page, x=p.x, y=p.y, width=p.width, height=p.height)
    if header.certification not in _CERTIFY or header.level not in _LEVELS:
        raise InvalidArgument("OPTION_INVALID", "unknown PAdES level or certification level")
    return SealOptions(placement=placement, field_name=header.field_name, reason=header.reason,
                       location=header.location, level=_LEVELS[header.level],
                       certification=_CERTIFY[header.certification])


def report_msg(r: SignatureReport) -> seal_pb2.SignatureReport:
    return seal_pb2.SignatureReport(
        field_name=r.field_name, verdict=_VERDICT[r.verdict], intact=r.intact, signature_valid=r.signature_valid,
        kind=seal_pb2.SIGNATURE_KIND_SEAL if r.kind == "seal" else seal_pb2.SIGNATURE_KIND_DOCUMENT_TIMESTAMP,
        trusted=r.trusted, coverage=_COVERAGE.get(r.coverage, seal_pb2.COVERAGE_UNSPECIFIED),
        modification=_MODIFICATION.get(r.modification, seal_pb2.MODIFICATION_UNSPECIFIED),
        changes_allowed=r.changes_allowed,
        certification=_CERT_NAMES.get(r.certification, seal_pb2.CERTIFICATION_UNSPECIFIED),
        org_name=r.org_name, org_uscc=r.org_uscc, seal_id=r.seal_id, seal_name=r.seal_name,
        signing_time=timestamp(r.signing_time), has_timestamp=r.has_timestamp, timestamp_valid=r.timestamp_valid,
        timestamp_time=timestamp(r.timestamp_time), revocation=_REVOCATION[r.revocation.value],
        revoked_at=timestamp(r.revoked_at), trust_anchor=r.trust_anchor, certificate_der=r.certificate_der,
        reason=r.reason, location=r.location,
        findings=[common_pb2.VerificationFinding(reason=f.reason, message=f.message, fatal=f.fatal)
                  for f in r.findings])


def verification_msg(rep: VerificationReport) -> seal_pb2.VerifyPdfResponse:
    return seal_pb2.VerifyPdfResponse(
        verdict=_VERDICT[rep.verdict], signatures=[report_msg(s) for s in rep.signatures],
        document_sha256=rep.document_sha256,
        findings=[common_pb2.VerificationFinding(reason=f.reason, message=f.message, fatal=f.fatal)
                  for f in rep.findings])


def _chunks(messages: Iterator[Any]) -> Iterator[bytes]:
    for m in messages:
        if m.WhichOneof("msg") != "chunk":
            raise InvalidArgument("STREAM_OUT_OF_ORDER", "after the header, only chunks may follow")
        yield m.chunk.data


class SealServicer(seal_pb2_grpc.SealServiceServicer):
    def __init__(self, seals: SealService, sealer: Sealer, authenticator: Authenticator) -> None:
        self.seals, self.sealer, self.auth = seals, sealer, authenticator

    def _who(self, context: grpc.ServicerContext) -> Principal:
        return self.auth.authenticate(metadata_dict(context))

    def CreateSeal(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        if request.type not in _TYPES_BACK:
            raise InvalidArgument("SEAL_TYPE_INVALID", "choose a seal type")
        info = self.seals.create_seal(self._who(context), org_uscc=request.org_uscc, org_name=request.org_name,
                                      seal_type=_TYPES_BACK[request.type], name=request.name,
                                      image_png=request.image_png)
        return seal_pb2.CreateSealResponse(seal=seal_msg(info))

    def GetSeal(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        return seal_pb2.GetSealResponse(seal=seal_msg(self.seals.get_seal(self._who(context), request.seal_id)))

    def ListSeals(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        page = convert.page(request.page)
        seals, after = self.seals.list_seals(self._who(context), org_uscc=request.org_uscc, page_size=page.size,
                                             page_token=page.cursor)
        return seal_pb2.ListSealsResponse(seals=[seal_msg(s) for s in seals],
                                          page=common_pb2.PageResponse(next_page_token=convert.next_token(after)))

    def SuspendSeal(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        info = self.seals.suspend_seal(self._who(context), request.seal_id, request.reason)
        return seal_pb2.SuspendSealResponse(seal=seal_msg(info))

    def ReactivateSeal(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        return seal_pb2.ReactivateSealResponse(seal=seal_msg(self.seals.reactivate_seal(self._who(context),
                                                                                        request.seal_id)))

    def RevokeSeal(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        info = self.seals.revoke_seal(self._who(context), request.seal_id, request.reason)
        return seal_pb2.RevokeSealResponse(seal=seal_msg(info))

    def GrantSeal(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        if request.grantee_kind not in _GRANTEE:
            raise InvalidArgument("GRANTEE_INVALID", "a grant names a person or a platform")
        g = self.seals.grant(self._who(context), request.seal_id, grantee_kind=_GRANTEE[request.grantee_kind],
                             grantee=request.grantee, not_before=convert.optional_time(request, "not_before"),
                             not_after=convert.optional_time(request, "not_after"), max_uses=request.max_uses or None)
        return seal_pb2.GrantSealResponse(grant=grant_msg(g))

    def ListGrants(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        grants = self.seals.list_grants(self._who(context), request.seal_id)
        return seal_pb2.ListGrantsResponse(grants=[grant_msg(g) for g in grants])

    def RevokeGrant(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        return seal_pb2.RevokeGrantResponse(grant=grant_msg(self.seals.revoke_grant(self._who(context),
                                                                                    request.grant_id)))

    def GetCrl(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        node, hours = self.seals.node, self.seals.settings.crl_hours
        crl, *others = seal_ca_crls(node, hours=hours)
        root_crl, *other_roots = root_crls(node, hours=hours)
        # The active seal CA and its root first, then (during a rollover) the other published ones.
        cas = node.pki.chain(pki.SEAL_CA)
        cas += [c for c in (*node.pki.with_retired(pki.SEAL_CA), *node.pki.with_retired(pki.ROOT),
                            *node.pki.cross_certificates()) if c not in cas]
        return seal_pb2.GetCrlResponse(
            crl_der=crl.der, crl_number=crl.number, this_update=timestamp(crl.this_update),
            next_update=timestamp(crl.next_update), root_crl_der=root_crl.der,
            other_crl_der=[c.der for c in (*others, *other_roots)],
            ca_certificates_der=[c.public_bytes(serialization.Encoding.DER) for c in cas])

    def SignPdf(self, request_iterator: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:  # noqa: N802
        principal = self._who(context)
        first = next(request_iterator, None)
        if first is None or first.WhichOneof("msg") != "header":
            raise InvalidArgument("HEADER_REQUIRED", "the first message must carry the sealing options")
        header = first.header
        doc = self.sealer.seal_chunks(principal, header.seal_id, _chunks(request_iterator), options_from(header),
                                      declared_size=header.document_size, idempotency_key=idempotency_key(context))
        try:
            yield seal_pb2.SignPdfResponse(result=seal_pb2.SignPdfResult(
                seal_id=doc.seal_id, field_name=doc.field_name, level=_LEVELS_BACK[doc.level],
                input_sha256=doc.input_sha256, output_sha256=doc.output.sha256, output_size=doc.output.size,
                signing_time=timestamp(doc.signing_time)))
            for block in doc.output.chunks(self.seals.settings.chunk_bytes):
                yield seal_pb2.SignPdfResponse(chunk=common_pb2.Chunk(data=block))
        finally:
            doc.close()

    def VerifyPdf(self, request_iterator: Iterator[Any], context: grpc.ServicerContext) -> Any:  # noqa: N802
        self._who(context)
        first = next(request_iterator, None)
        limit = self.seals.settings.max_upload_bytes
        if first is not None and first.WhichOneof("msg") == "header" and first.header.document_size > limit:
            raise too_large(limit)

        def chunks() -> Iterator[bytes]:
            if first is not None and first.WhichOneof("msg") == "chunk":
                yield first.chunk.data
            yield from _chunks(request_iterator)

        report = verify_chunks(chunks(), self.sealer.trust, limit=limit, temp_dir=self.seals.settings.temp_dir)
        return verification_msg(report)
