"""gRPC <-> domain for cert_svc: converts messages (the caller's metadata to a ``Principal``), calls the
service's facade (``cert_svc.facade.CertService``: transactions and authorisation live there), converts back."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeAlias

import grpc
from cryptography.hazmat.primitives.serialization import Encoding

from cert_svc import catalogue, consent, issuance, lifecycle, reasons
from cert_svc.catalogue import CertTypeSpec, FieldSpec, Layout, ValidityRule
from cert_svc.facade import CertService
from cert_svc.issuers import Issuer
from cert_svc.records import CertView, Holder
from hutong import convert
from hutong.auth import AUTHORIZATION, CLIENT_ID, CLIENT_SECRET, Authenticator, Principal
from hutong.cert.v1 import cert_pb2 as pb
from hutong.cert.v1 import cert_pb2_grpc as pb_grpc
from hutong.common.v1 import common_pb2
from hutong.convert import timestamp
from hutong.errors import InvalidArgument
from hutong.rpc import idempotency_key, metadata_dict
from hutong.verify.certs import Verification

CREDENTIAL_KEYS = (AUTHORIZATION, CLIENT_ID, CLIENT_SECRET)
Ctx: TypeAlias = grpc.ServicerContext

_KIND_TO_PB = {"person": pb.HOLDER_KIND_PERSON, "organisation": pb.HOLDER_KIND_ORGANISATION}
_KIND_FROM_PB = {v: k for k, v in _KIND_TO_PB.items()}
_TYPE_TO_PB = {t: getattr(pb, f"FIELD_TYPE_{t.upper()}") for t in catalogue.FIELD_TYPES}
_TYPE_FROM_PB = {v: k for k, v in _TYPE_TO_PB.items()}
_STATUS_TO_PB = {s: getattr(pb, f"CERT_STATUS_{s.upper()}") for s in lifecycle.STATES}
_STATUS_FROM_PB = {v: k for k, v in _STATUS_TO_PB.items()}
_VERDICT = {"valid": common_pb2.VERDICT_VALID, "invalid": common_pb2.VERDICT_INVALID,
            "indeterminate": common_pb2.VERDICT_INDETERMINATE}


# -- conversions ---------------------------------------------------------------------------------

def type_to_pb(t: CertTypeSpec) -> pb.CertType:
    return pb.CertType(
        code=t.code, name=t.name, authority=t.authority, holder_kind=_KIND_TO_PB[t.holder_kind], active=t.active,
        fields=[pb.FieldSpec(name=f.name, label=f.label, type=_TYPE_TO_PB[f.type], required=f.required,
                             pattern=f.pattern, max_length=f.max_length, choices=list(f.choices)) for f in t.fields],
        validity=pb.ValidityRule(default_years=t.validity.default_years, max_years=t.validity.max_years,
                                 open_ended_allowed=t.validity.open_ended_allowed),
        layout=pb.Layout(title=t.layout.title, field_order=list(t.layout.field_order), footer=t.layout.footer),
    )


def type_from_pb(t: pb.CertType) -> CertTypeSpec:
    return CertTypeSpec(
        code=t.code, name=t.name, authority=t.authority, holder_kind=_KIND_FROM_PB.get(t.holder_kind, ""),  # type: ignore[arg-type]
        fields=tuple(FieldSpec(name=f.name, label=f.label, type=_TYPE_FROM_PB.get(f.type, ""),  # type: ignore[arg-type]
                               required=f.required, pattern=f.pattern, max_length=f.max_length,
                               choices=tuple(f.choices)) for f in t.fields),
        validity=ValidityRule(t.validity.default_years, t.validity.max_years, t.validity.open_ended_allowed),
        layout=Layout(t.layout.title, tuple(t.layout.field_order), t.layout.footer), active=t.active,
    )


def cert_to_pb(c: CertView) -> pb.Certificate:
    return pb.Certificate(
        identifier=c.identifier, type_code=c.type_code, type_name=c.type_name, issuer_uscc=c.issuer_uscc,
        issuer_name=c.issuer_name, holder=pb.Holder(kind=_KIND_TO_PB[c.holder.kind], id=c.holder.id,
                                                    name=c.holder.name),
        fields=c.fields, valid_from=c.valid_from.isoformat(),
        valid_until=c.valid_until.isoformat() if c.valid_until else "", status=_STATUS_TO_PB[c.status],
        status_reason=c.status_reason, version=c.version, supersedes=c.links.get("supersedes", ""),
        superseded_by=c.links.get("superseded_by", ""), predecessor=c.links.get("predecessor", ""),
        successor=c.links.get("successor", ""), issued_at=timestamp(c.issued_at),
        status_changed_at=timestamp(c.status_changed_at), jws=c.jws, qr=c.qr,
    )


def _holder(h: pb.Holder) -> Holder:
    return Holder(kind=_KIND_FROM_PB.get(h.kind, ""), id=h.id, name=h.name)


def _consent(c: consent.Consent) -> pb.Consent:
    return pb.Consent(consent_id=c.consent_id, platform=c.platform, identifiers=list(c.identifiers),
                      purpose=c.purpose, expires_at=timestamp(c.expires_at), created_at=timestamp(c.created_at),
                      withdrawn_at=timestamp(c.withdrawn_at))


def verification_to_pb(v: Verification) -> pb.VerifyResponse:
    c = v.claims
    summary = pb.CertificateSummary(
        identifier=str(c.get("jti", "")), type_code=str(c.get("type", "")), type_name=str(c.get("type_name", "")),
        issuer_uscc=str(c.get("iss", "")), issuer_name=str(c.get("iss_name", "")),
        status=_STATUS_TO_PB.get(v.status or "", pb.CERT_STATUS_UNSPECIFIED),
        valid_from=str(c.get("valid_from", "")), valid_until=str(c.get("valid_until") or ""))
    return pb.VerifyResponse(verdict=_VERDICT[v.verdict], certificate=summary, findings=[
        common_pb2.VerificationFinding(reason=f.reason, message=f.message, fatal=f.fatal) for f in v.findings])


def _issuer(i: Issuer, chain_der: list[bytes]) -> pb.Issuer:
    return pb.Issuer(uscc=i.uscc, name=i.name, type_codes=list(i.type_codes),
                     platform_client_id=i.platform_client_id or "", seal_id=i.seal_id or "", kid=i.kid,
                     created_at=timestamp(i.created_at),
                     chain=common_pb2.CertificateChain(certificates_der=chain_der))


# -- the service ---------------------------------------------------------------------------------

class CertServicer(pb_grpc.CertServiceServicer):
    def __init__(self, certs: CertService, authn: Authenticator) -> None:
        self.certs, self.authn = certs, authn
        certs.renditions.warm()  # a served worker loads the rendition font at start, not in its first download

    def _who(self, context: Ctx) -> Principal:
        return self.authn.authenticate(metadata_dict(context))

    def _optional(self, context: Ctx) -> Principal | None:
        """The caller of a public read: None without credentials; credentials sent are checked."""
        md = metadata_dict(context)
        return self.authn.authenticate(md) if any(k in md for k in CREDENTIAL_KEYS) else None

    def _issuer(self, i: Issuer) -> pb.Issuer:
        return _issuer(i, self.certs.issuer_chain(i))

    # catalogue
    def ListTypes(self, request: pb.ListTypesRequest, context: Ctx) -> pb.ListTypesResponse:
        return pb.ListTypesResponse(types=[type_to_pb(t) for t in self.certs.list_types()])

    def GetType(self, request: pb.GetTypeRequest, context: Ctx) -> pb.GetTypeResponse:
        return pb.GetTypeResponse(type=type_to_pb(self.certs.get_type(request.code)))

    def PutType(self, request: pb.PutTypeRequest, context: Ctx) -> pb.PutTypeResponse:
        return pb.PutTypeResponse(type=type_to_pb(self.certs.put_type(self._who(context), type_from_pb(request.type))))

    # issuers
    def RegisterIssuer(self, request: pb.RegisterIssuerRequest, context: Ctx) -> pb.RegisterIssuerResponse:
        issuer = self.certs.register_issuer(self._who(context), uscc=request.uscc, name=request.name,
                                            type_codes=list(request.type_codes),
                                            platform_client_id=request.platform_client_id or None,
                                            seal_id=request.seal_id or None)
        return pb.RegisterIssuerResponse(issuer=self._issuer(issuer))

    def AuthoriseIssuer(self, request: pb.AuthoriseIssuerRequest, context: Ctx) -> pb.AuthoriseIssuerResponse:
        issuer = self.certs.authorise_issuer(self._who(context), uscc=request.uscc,
                                             type_codes=list(request.type_codes))
        return pb.AuthoriseIssuerResponse(issuer=self._issuer(issuer))

    def ListIssuers(self, request: pb.ListIssuersRequest, context: Ctx) -> pb.ListIssuersResponse:
        found = self.certs.list_issuers(self._optional(context))
        return pb.ListIssuersResponse(issuers=[self._issuer(i) for i in found])

    # issuance and lifecycle
    def IssueCertificate(self, request: pb.IssueCertificateRequest, context: Ctx) -> pb.IssueCertificateResponse:
        req = issuance.IssueRequest(type_code=request.type_code, holder=_holder(request.holder),
                                    fields=dict(request.fields), valid_from=request.valid_from,
                                    valid_until=request.valid_until, predecessor=request.predecessor)
        return pb.IssueCertificateResponse(certificate=cert_to_pb(self.certs.issue(self._who(context), req)))

    def IssueBatch(self, request_iterator: Iterable[pb.IssueBatchRequest],
                   context: Ctx) -> Iterator[pb.IssueBatchResponse]:
        principal = self._who(context)
        type_code, data = _read_batch(request_iterator)
        batch = self.certs.issue_csv(principal, type_code, data, idempotency_key=idempotency_key(context))
        issued = failed = 0
        for outcomes in batch.outcomes:
            results = []
            for o in outcomes:
                err = o.error
                results.append(pb.BatchRowResult(row=o.row, identifier=o.identifier, reason=err.reason if err else "",
                                                 message=err.message if err else ""))
                issued, failed = issued + (err is None), failed + (err is not None)
            yield pb.IssueBatchResponse(results=results)
        yield pb.IssueBatchResponse(summary=pb.BatchSummary(rows=batch.rows, issued=issued, failed=failed))

    def UpdateCertificate(self, request: pb.UpdateCertificateRequest, context: Ctx) -> pb.UpdateCertificateResponse:
        view = self.certs.new_version(self._who(context), request.identifier, dict(request.fields),
                                      request.valid_until, request.reason)
        return pb.UpdateCertificateResponse(certificate=cert_to_pb(view))

    def ChangeStatus(self, request: pb.ChangeStatusRequest, context: Ctx) -> pb.ChangeStatusResponse:
        view = self.certs.change_status(self._who(context), request.identifier, _STATUS_FROM_PB.get(request.status),
                                        request.reason)
        return pb.ChangeStatusResponse(certificate=cert_to_pb(view))

    # reading
    def GetCertificate(self, request: pb.GetCertificateRequest, context: Ctx) -> pb.GetCertificateResponse:
        view = self.certs.get(self._who(context), request.identifier, request.purpose)
        return pb.GetCertificateResponse(certificate=cert_to_pb(view))

    def FetchRemoteCertificate(self, request: pb.FetchRemoteCertificateRequest,
                               context: Ctx) -> pb.FetchRemoteCertificateResponse:
        token = self.certs.fetch_remote(self._who(context), node_id=request.node_id, identifier=request.identifier,
                                        purpose=request.purpose)
        return pb.FetchRemoteCertificateResponse(jws=token, node_id=request.node_id)

    def ListCertificates(self, request: pb.ListCertificatesRequest, context: Ctx) -> pb.ListCertificatesResponse:
        principal = self._who(context)
        if request.holder.id:
            found = self.certs.certificates_of(principal, _holder(request.holder), request.purpose)
            return pb.ListCertificatesResponse(certificates=[cert_to_pb(c) for c in found])
        page = convert.page(request.page)
        views, more = self.certs.list_certificates(principal, request.type_code, page.offset, page.size)
        token = convert.next_offset_token(page.offset, len(views), more)
        return pb.ListCertificatesResponse(certificates=[cert_to_pb(c) for c in views],
                                           page=common_pb2.PageResponse(next_page_token=token))

    def DownloadRendition(self, request: pb.DownloadRenditionRequest, context: Ctx) -> Iterator[common_pb2.Chunk]:
        for chunk in self.certs.rendition_chunks(self._who(context), request.identifier, request.purpose):
            yield common_pb2.Chunk(data=chunk)

    # consents
    def GrantConsent(self, request: pb.GrantConsentRequest, context: Ctx) -> pb.GrantConsentResponse:
        principal = self._who(context)
        granted = self.certs.grant_consent(principal, platform=request.platform, identifiers=list(request.identifiers),
                                           purpose=request.purpose,
                                           expires_at=convert.optional_time(request, "expires_at"))
        return pb.GrantConsentResponse(consent=_consent(granted))

    def WithdrawConsent(self, request: pb.WithdrawConsentRequest, context: Ctx) -> pb.WithdrawConsentResponse:
        return pb.WithdrawConsentResponse(consent=_consent(self.certs.withdraw_consent(self._who(context),
                                                                                      request.consent_id)))

    def ListConsents(self, request: pb.ListConsentsRequest, context: Ctx) -> pb.ListConsentsResponse:
        return pb.ListConsentsResponse(consents=[_consent(c) for c in self.certs.list_consents(self._who(context))])

    def ListAccessLog(self, request: pb.ListAccessLogRequest, context: Ctx) -> pb.ListAccessLogResponse:
        principal = self._who(context)
        page = convert.page(request.page)
        records, more = self.certs.access_log(principal, page.offset, page.size)
        return pb.ListAccessLogResponse(page=common_pb2.PageResponse(
            next_page_token=convert.next_offset_token(page.offset, len(records), more)), records=[
            pb.AccessRecord(at=timestamp(r.at), platform=r.platform, identifier=r.identifier, purpose=r.purpose,
                            consent_id=r.consent_id, action=r.action, reason=r.reason) for r in records])

    # verification (no authentication)
    def GetStatusList(self, request: pb.GetStatusListRequest, context: Ctx) -> pb.GetStatusListResponse:
        return pb.GetStatusListResponse(token=self.certs.status_list(request.list_id))

    def GetTrustBundle(self, request: pb.GetTrustBundleRequest, context: Ctx) -> pb.GetTrustBundleResponse:
        bundle = self.certs.trust_bundle()
        node = self.certs.node
        return pb.GetTrustBundleResponse(
            root_certificates_der=[c.public_bytes(Encoding.DER) for c in bundle.roots],
            issuer_chains=[common_pb2.CertificateChain(certificates_der=c) for c in bundle.issuer_chains],
            node=common_pb2.NodeInfo(node_id=node.id, node_name=node.config.node.name))

    def Verify(self, request: pb.VerifyRequest, context: Ctx) -> pb.VerifyResponse:
        which = request.WhichOneof("subject")
        if which == "identifier":
            return verification_to_pb(self.certs.verify_identifier(request.identifier, self._optional(context),
                                                                   context.peer()))
        if which == "jws":
            return verification_to_pb(self.certs.verify_token(request.jws))
        if which == "qr":
            return verification_to_pb(self.certs.verify_qr(request.qr))
        raise InvalidArgument(reasons.JWS_INVALID, "give an identifier, a JWS or the QR content")

    def VerifyRendition(self, request_iterator: Iterable[common_pb2.Chunk], context: Ctx) -> pb.VerifyResponse:
        return verification_to_pb(self.certs.verify_rendition(chunk.data for chunk in request_iterator))


def _read_batch(requests: Iterable[pb.IssueBatchRequest]) -> tuple[str, bytes]:
    type_code, data = "", bytearray()
    for req in requests:
        if req.HasField("header"):
            type_code = req.header.type_code
        elif req.HasField("csv"):
            data += req.csv.data
    return type_code, bytes(data)

