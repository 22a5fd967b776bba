"""OCSP responder for seal certificates: RFC 6960 ``POST /ocsp`` and RFC 5019 ``GET /ocsp/<base64>``.

Answers come from the seal table (active: good; suspended: revoked with reason certificateHold;
revoked: revoked with its time), for certificates of this node's seal CA identified by SHA-1 or
SHA-256 CertIDs; anything else is ``unknown``. Responses are signed in the HSM by a delegated
responder certificate (id-kp-OCSPSigning, id-pkix-ocsp-nocheck) that the seal CA issues to a
key generated in the token on first use and renews before it expires; a request nonce is echoed.

Seal CA rollover: RFC 6960 wants the delegated responder certified by the CA that issued the certificate
asked about, so every seal CA key still published (active, pending, retired but needed) has a responder
certificate of its own for the one responder key -- ``ocsp-responder`` for the first, ``ocsp-responder@<CA
key label>`` for a later one. A request is answered for the CA key its first known CertID names; CertIDs
of another key in the same request are ``unknown`` (clients ask one issuer at a time).
Undecodable requests get OCSP ``malformedRequest`` (HTTP 400).
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import threading
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from anyio import to_thread
from asn1crypto import ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hsm import CreateKeyRequest, KeyAlgorithm
from hutong import audit, pki
from hutong.edge.http import read_body, require_content_type
from hutong.edge.settings import EdgeSettings
from hutong.node import Node

REQUEST, RESPONSE = "application/ocsp-request", "application/ocsp-response"
MAX_REQUEST_BYTES = 16 * 1024
RESPONDER = "ocsp-responder"  # node certificate / key name
RENEW_DAYS = 30  # the responder certificate (3 years, pki.issue's default) is replaced this long before it ends
NEXT_UPDATE = timedelta(hours=1)
RESPONDER_PROFILE = pki.Profile(ca=False, key_usage=pki.TOKEN_PROFILE.key_usage,
                                eku=(ExtendedKeyUsageOID.OCSP_SIGNING,))


@dataclass(frozen=True)
class Responder:
    certificate: x509.Certificate
    der: bytes
    key_hash: bytes  # SHA-1 of the responder's public key: the ResponderID


_lock = threading.Lock()
_responders: dict[tuple[str, str], Responder] = {}  # (node id, seal CA key label)


def _key_bits(cert: x509.Certificate) -> bytes:
    return bytes(asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER)).public_key["public_key"])


def certificate_name(ca_label: str) -> str:
    """The node certificate name of the responder certified by the seal CA key ``ca_label``."""
    return RESPONDER if ca_label == pki.key_label(pki.SEAL_CA) else f"{RESPONDER}@{ca_label}"


def responder(node: Node, ca_label: str | None = None) -> Responder:
    """The delegated responder certificate from the seal CA key ``ca_label`` (default: the active one),
    created (key in the HSM, certificate from that CA key) on first use and renewed when fewer than
    RENEW_DAYS remain. A file lock keeps worker processes from creating two."""
    ca_label = ca_label or node.pki.label(pki.SEAL_CA)
    with _lock:
        found = _responders.get((node.id, ca_label))
        if found and found.certificate.not_valid_after_utc - datetime.now(UTC) > timedelta(days=RENEW_DAYS):
            return found
        lock_path = node.config.data_dir / f".{RESPONDER}.lock"
        with open(lock_path, "w") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            cert = _current_or_new(node, ca_label)
        found = Responder(cert, cert.public_bytes(Encoding.DER), hashlib.sha1(_key_bits(cert)).digest())  # noqa: S324
        _responders[(node.id, ca_label)] = found
        return found


def _current_or_new(node: Node, ca_label: str) -> x509.Certificate:
    label, name = pki.key_label(RESPONDER), certificate_name(ca_label)
    with node.db.session(readonly=True) as s:
        row = s.get(pki.NodeCertificate, name)
    if row is not None:
        cert = x509.load_pem_x509_certificate(row.pem.encode())
        if cert.not_valid_after_utc - datetime.now(UTC) > timedelta(days=RENEW_DAYS):
            return cert
    key = node.keys.get_or_create_key(CreateKeyRequest(label=label, algorithm=KeyAlgorithm.EC_P256))
    nocheck = x509.Extension(x509.OCSPNoCheck.oid, False, x509.OCSPNoCheck())
    cert = node.pki.issue(ca=pki.SEAL_CA, ca_label=ca_label,
                          subject=pki.node_name(node.id, node.config.node.name, RESPONDER),
                          public_key=key.public_key, profile=RESPONDER_PROFILE, extra=[nocheck])
    pem = cert.public_bytes(Encoding.PEM).decode()
    with node.db.session() as s:
        current = s.get(pki.NodeCertificate, name)
        if current is None:
            s.add(pki.NodeCertificate(name=name, key_label=label, pem=pem, created_at=datetime.now(UTC)))
        else:
            current.pem, current.created_at = pem, datetime.now(UTC)
        audit.append(s, actor="node", action="pki.certificate.create", target=name,
                     details={"serial": format(cert.serial_number, "x"), "issuer_key": ca_label})
    return cert


# -- answering ---------------------------------------------------------------------------------

def malformed() -> ocsp.OCSPResponse:
    return ocsp.OCSPResponse({"response_status": "malformed_request"})


def parse_request(body: bytes) -> ocsp.OCSPRequest | None:
    try:
        req = ocsp.OCSPRequest.load(body, strict=True)
        _ = req.native
    except (ValueError, TypeError, KeyError):
        return None
    if not req["tbs_request"]["request_list"]:
        return None
    return req


def _issuer_key(node: Node, cert_id: ocsp.CertId) -> str | None:
    """The label of the published seal CA key that ``cert_id`` names (issuer name and key hashes), if any."""
    algorithm = cert_id["hash_algorithm"]["algorithm"].native
    if algorithm not in ("sha1", "sha256", "sha384", "sha512"):
        return None
    for entry in node.pki.registry.snapshot().published(pki.SEAL_CA):
        ca = entry.certificate
        if ca is None:
            continue
        name = asn1_x509.Certificate.load(ca.public_bytes(Encoding.DER)).subject.dump()
        if cert_id["issuer_name_hash"].native == hashlib.new(algorithm, name).digest() and \
                cert_id["issuer_key_hash"].native == hashlib.new(algorithm, _key_bits(ca)).digest():
            return entry.label
    return None


def _status(node: Node, cert_id: ocsp.CertId, known: bool) -> ocsp.CertStatus:
    """``known``: the CertID names the seal CA key this response is for."""
    from seal_svc.models import SealRow

    if not known:
        return ocsp.CertStatus(name="unknown", value=None)
    serial = format(cert_id["serial_number"].native, "x")
    with node.db.session(readonly=True) as s:
        row = s.scalars(select(SealRow).where(SealRow.cert_serial == serial)).first()
    if row is None:
        return ocsp.CertStatus(name="unknown", value=None)
    if row.status == "active":
        return ocsp.CertStatus(name="good", value=None)
    at = row.revoked_at if row.status == "revoked" and row.revoked_at else row.status_changed_at
    at = (at if at.tzinfo else at.replace(tzinfo=UTC)).replace(microsecond=0)
    reason = "certificate_hold" if row.status == "suspended" else "unspecified"
    return ocsp.CertStatus(name="revoked", value={"revocation_time": at, "revocation_reason": reason})


def respond(node: Node, body: bytes) -> tuple[int, ocsp.OCSPResponse]:
    req = parse_request(body)
    if req is None:
        return 400, malformed()
    tbs = req["tbs_request"]
    now = datetime.now(UTC).replace(microsecond=0)
    issuers = [_issuer_key(node, r["req_cert"]) for r in tbs["request_list"]]
    ca_label = next((i for i in issuers if i), None) or node.pki.label(pki.SEAL_CA)
    answers = [ocsp.SingleResponse({"cert_id": r["req_cert"], "cert_status": _status(node, r["req_cert"],
                                                                                       issuer == ca_label),
                                    "this_update": now, "next_update": now + NEXT_UPDATE})
               for r, issuer in zip(tbs["request_list"], issuers, strict=True)]
    extensions = [ocsp.ResponseDataExtension({"extn_id": "nonce", "critical": False,
                                              "extn_value": e["extn_value"].parsed})
                  for e in tbs["request_extensions"] if e["extn_id"].native == "nonce"] \
        if tbs["request_extensions"].native else []
    signer = responder(node, ca_label)
    data = ocsp.ResponseData({"responder_id": ocsp.ResponderId(name="by_key", value=signer.key_hash),
                              "produced_at": now, "responses": answers,
                              **({"response_extensions": extensions} if extensions else {})})
    signature = node.keys.signer(pki.key_label(RESPONDER)).sign(data.dump(), hash_name="sha256")
    basic = ocsp.BasicOCSPResponse({"tbs_response_data": data, "signature_algorithm": {"algorithm": "sha256_ecdsa"},
                                    "signature": signature, "certs": [asn1_x509.Certificate.load(signer.der)]})
    return 200, ocsp.OCSPResponse({"response_status": "successful", "response_bytes": {
        "response_type": "basic_ocsp_response", "response": basic}})


def routes(node: Node, settings: EdgeSettings) -> list[BaseRoute]:
    def answer(status: int, resp: ocsp.OCSPResponse, cacheable: bool) -> Response:
        headers = {"cache-control": "public, max-age=300" if cacheable and status == 200 else "no-store"}
        return Response(resp.dump(), status_code=status, media_type=RESPONSE, headers=headers)

    async def post(request: Request) -> Response:
        require_content_type(request, (REQUEST,))
        body = await read_body(request, MAX_REQUEST_BYTES)
        return answer(*await to_thread.run_sync(respond, node, body), False)

    async def get(request: Request) -> Response:
        encoded = urllib.parse.unquote(request.path_params["encoded"])
        if len(encoded) > MAX_REQUEST_BYTES * 2:
            return answer(400, malformed(), False)
        try:
            body = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            return answer(400, malformed(), False)
        return answer(*await to_thread.run_sync(respond, node, body), True)

    return [Route("/ocsp", post, methods=["POST"]), Route("/ocsp/{encoded:path}", get, methods=["GET"])]
