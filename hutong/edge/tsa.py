"""RFC 3161 time-stamp authority over HTTP: ``POST /tsa`` with ``application/timestamp-query``.

The token is built by the same ``HsmTimeStamper`` that timestamps seals (PAdES B-T): signed in the
HSM by the node's TSA key, ``signingCertificateV2`` (ESSCertIDv2) naming the TSA certificate, the
node's TSA policy OID, a fresh 127-bit random serial number per token and the request's nonce
echoed. A request naming another policy, or a hash other than SHA-256/384/512, is rejected in the
protocol's own terms (``PKIStatus rejection`` with ``unacceptedPolicy`` / ``badAlg``); an
undecodable one gets ``badDataFormat`` (HTTP 400). Wrong content types and oversized bodies get
the edge's JSON error.
"""

from __future__ import annotations

from anyio import to_thread
from asn1crypto import core, tsp
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hutong import pki
from hutong.edge.http import read_body, require_content_type
from hutong.edge.settings import EdgeSettings
from hutong.node import Node

QUERY, REPLY = "application/timestamp-query", "application/timestamp-reply"
MAX_QUERY_BYTES = 16 * 1024


class _StatusOnly(core.Sequence):
    """A TimeStampResp without a token (asn1crypto's class insists on one): ``SEQUENCE { status }``."""

    _fields = [("status", tsp.PKIStatusInfo)]


def rejection(fail_info: str, text: str) -> bytes:
    return _StatusOnly({"status": {"status": "rejection", "status_string": [text],
                                   "fail_info": tsp.PKIFailureInfo({fail_info})}}).dump()


def _der(resp: tsp.TimeStampResp) -> bytes:
    if resp["status"]["status"].native in ("granted", "granted_with_mods"):
        return bytes(resp.dump())
    return _StatusOnly({"status": resp["status"]}).dump()  # e.g. the stamper's badAlg rejection


def parse_query(body: bytes) -> tsp.TimeStampReq | None:
    """The request, fully decoded; None when it is not a DER TimeStampReq."""
    try:
        req = tsp.TimeStampReq.load(body, strict=True)
        _ = req.native  # asn1crypto parses lazily: force every field now
    except (ValueError, TypeError, KeyError):
        return None
    return req


def stamp(node: Node, body: bytes) -> tuple[int, bytes]:
    """HTTP status and the DER TimeStampResp for a DER request."""
    from seal_svc.pdf_signer import TSA_POLICY_OID, HsmTimeStamper

    req = parse_query(body)
    if req is None:
        return 400, rejection("bad_data_format", "not a DER-encoded RFC 3161 TimeStampReq")
    policy = req["req_policy"].native
    if policy is not None and policy != TSA_POLICY_OID:
        return 200, rejection("unaccepted_policy", f"this TSA issues tokens under policy {TSA_POLICY_OID} only")
    signer, cert = node.pki.signing_pair(pki.TSA)  # the active TSA key and its certificate (rollover)
    stamper = HsmTimeStamper(signer, cert, node.pki.issuer_chain(cert))  # the root that certified it
    return 200, _der(stamper.request_tsa_response(req))


def routes(node: Node, settings: EdgeSettings) -> list[BaseRoute]:
    async def endpoint(request: Request) -> Response:
        require_content_type(request, (QUERY,))
        body = await read_body(request, MAX_QUERY_BYTES)
        status, resp = await to_thread.run_sync(stamp, node, body)
        return Response(resp, status_code=status, media_type=REPLY, headers={"cache-control": "no-store"})

    return [Route("/tsa", endpoint, methods=["POST"])]
