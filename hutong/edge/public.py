"""Public, cacheable GETs for verifiers without gRPC: JWKS, trust list, CRLs, status lists, and the
verification page's trust bundle.

Every answer carries a strong ``ETag`` (SHA-256 of the body; ``If-None-Match`` gets 304) and a
``Cache-Control: public, max-age`` no longer than the artefact stays current: a status list's
remaining time-to-live, a CRL's ``nextUpdate``, ``[edge] cache_seconds`` for the rest. All of it is
signed or public data; nothing about the caller is logged.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from anyio import to_thread
from cryptography.hazmat.primitives.serialization import Encoding
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hutong import pki
from hutong.edge.settings import EdgeSettings
from hutong.errors import FailedPrecondition, HutongError, NotFound
from hutong.node import Node

JOSE = "application/jose"  # compact JWS (RFC 7515 section 9.2.1)
CRL_NAMES = {"seal-ca": pki.SEAL_CA, "root-ca": pki.ROOT}


def cached(request: Request, body: bytes, media_type: str, max_age: int) -> Response:
    """``body`` with ETag and Cache-Control, or 304 when the client holds the same version."""
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"etag": etag, "cache-control": f"public, max-age={max(0, max_age)}",
               "access-control-allow-origin": "*"}
    wanted = [t.strip() for t in request.headers.get("if-none-match", "").split(",")]
    if etag in wanted or "*" in wanted:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


def _b64(der: bytes) -> str:
    return base64.b64encode(der).decode()


def fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def status_token(node: Node, list_id: str) -> tuple[str, int]:
    """The current status list JWS and how many seconds it stays fresh."""
    from cert_svc import statuslist
    from hutong.verify import jose

    token = statuslist.token(node, list_id)
    payload = jose.Compact(token).payload
    return token, int(payload["iat"]) + int(payload["ttl"]) - int(time.time())


def trust_list_summary(node: Node) -> dict[str, Any] | None:
    """What the page shows of the federation trust list: sequence, dates, freshness, member issuer CAs."""
    store = node.trust.store
    if store is None:
        return None
    try:
        tl = store.current()
        stale = False
    except HutongError as err:  # TRUST_LIST_STALE / TRUST_LIST_MISSING: say so, verify nothing against it
        if store.token is None:
            return {"sequence": 0, "stale": True, "reason": err.reason}
        from hutong.federation.trustlist import verify_trust_list

        tl, stale = verify_trust_list(store.token, store.known_roots()), True
    return {
        "sequence": tl.sequence, "hub": tl.hub_id, "issued_at": int(tl.issued_at.timestamp()),
        "next_update": int(tl.next_update.timestamp()), "grace_seconds": int(store.grace.total_seconds()),
        "stale": stale,
        # The hub roots this node was configured with (and, after a hub root rollover, those its list names):
        # the page checks the list's signature against them.
        "hub_roots": [_b64(r.public_bytes(Encoding.DER)) for r in store.known_roots()],
        "members": [{"node_id": m.node_id, "name": m.name,
                     "issuer_ca_sha256": fingerprint(m.certificates("issuer")[0].public_bytes(Encoding.DER))}
                    for m in tl.members],
    }


def verifier_bundle(node: Node) -> dict[str, Any]:
    """Everything the verification page needs besides status lists: this node's issuers (key ids,
    certificate chains, authorised types), its issuer CA, the trust list summary and type names."""
    from cert_svc import catalogue, issuers

    with node.db.session(readonly=True) as s:
        found = issuers.list_all(s)
        types = {t.code: t.name for t in catalogue.list_types(s)}
    issuer_ca = node.pki.certificate(pki.ISSUER_CA).public_bytes(Encoding.DER)
    return {
        "node": {"id": node.id, "name": node.config.node.name},
        "issuer_ca_sha256": fingerprint(issuer_ca),
        "trust_list": trust_list_summary(node),
        "issuers": [{"kid": i.kid, "uscc": i.uscc, "name": i.name, "types": list(i.type_codes),
                     "chain": [_b64(d) for d in issuers.chain_der(node, i)[:2]]} for i in found],
        "types": types,
    }


def _jwks(node: Node) -> bytes:
    from identity_svc.core import Identity

    return Identity.of(node).signer.jwks_json().encode()


def _trust_list_token(node: Node) -> bytes:
    from hutong.federation import hub

    try:
        return hub.latest(node).encode()  # the hub serves what it published
    except NotFound:
        token = node.trust.store.token if node.trust.store else None
        if token is None:
            raise FailedPrecondition("TRUST_LIST_MISSING", "this node holds no federation trust list") from None
        return token.encode()


def routes(node: Node, settings: EdgeSettings) -> list[BaseRoute]:
    age = settings.cache_seconds

    def blocking(fn: Callable[[Request], Response]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            return await to_thread.run_sync(fn, request)
        return endpoint

    def jwks(request: Request) -> Response:
        return cached(request, _jwks(node), "application/jwk-set+json", age)

    def trust_list(request: Request) -> Response:
        return cached(request, _trust_list_token(node), JOSE, age)

    def bundle(request: Request) -> Response:
        body = json.dumps(verifier_bundle(node), ensure_ascii=False, sort_keys=True).encode()
        return cached(request, body, "application/json", min(age, 60))

    def crl(request: Request) -> Response:
        from seal_svc.crl import current_crl
        from seal_svc.settings import load_settings

        name = request.path_params["name"]
        # After a seal CA or root rollover each key still published has a CRL of its own (pki.crl_name): the
        # role's name for its first key, the key's label for a successor.
        label, ca = next(((lb, role) for role in (pki.SEAL_CA, pki.ROOT) for lb in node.pki.published_labels(role)
                          if pki.crl_name(role, lb) == name), (None, CRL_NAMES.get(name)))
        if ca is None and label is None:
            raise NotFound("CRL_NOT_FOUND", "CRLs are published for seal-ca, root-ca and the seal CA keys of a "
                           "rollover (the name in a seal certificate's CRL distribution point)")
        info = current_crl(node, ca or pki.SEAL_CA, hours=load_settings(node).crl_hours, label=label)
        left = int((info.next_update - datetime.now(UTC)).total_seconds())
        return cached(request, info.der, "application/pkix-crl", min(age, left))

    def status(request: Request) -> Response:
        token, fresh_for = status_token(node, request.path_params["list_id"])
        return cached(request, token.encode(), JOSE, min(age, fresh_for))

    return [
        Route("/.well-known/jwks.json", blocking(jwks), methods=["GET"]),
        Route("/trust-list.jws", blocking(trust_list), methods=["GET"]),
        Route("/v/bundle.json", blocking(bundle), methods=["GET"]),
        Route("/crl/{name}.crl", blocking(crl), methods=["GET"]),
        Route("/status/{list_id}", blocking(status), methods=["GET"]),
    ]
