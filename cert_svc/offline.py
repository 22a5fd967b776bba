"""Verifying an e-certificate from its JWS or QR content, with no database: the one verdict logic.

The server's ``Verify`` RPC and the SDK's offline verifier both call ``verify_token``; they differ
only in where trust roots, issuer chains (for QR content, which carries only a ``kid``) and status
come from. A status list is accepted only while fresh (``iat + ttl``); a stale one is refused with
STATUS_LIST_STALE rather than trusted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cached_property
from typing import Any, Literal

from cryptography import x509

from cert_svc import jws, reasons
from hutong import metrics
from hutong.errors import FailedPrecondition, HutongError, InvalidArgument

Verdict = Literal["valid", "invalid", "indeterminate"]
Roots = Callable[[], Sequence[x509.Certificate]]  # pluggable: federation adds member nodes' roots
ChainForKid = Callable[[str], Sequence[x509.Certificate] | None]
StatusOf = Callable[[Mapping[str, Any]], str | None]  # claims -> lifecycle state, None when unknown
Authorised = Callable[[str, str], bool]  # (issuer USCC, type code) -> still authorised?


@dataclass(frozen=True)
class Finding:
    reason: str
    message: str
    fatal: bool = False


@dataclass
class Verification:
    verdict: Verdict
    findings: list[Finding]
    claims: dict[str, Any] = field(default_factory=dict)
    status: str | None = None


def verify_token(
    token: str,
    *,
    roots: Roots,
    status_of: StatusOf,
    chain_for_kid: ChainForKid | None = None,
    is_authorised: Authorised | None = None,
    now: datetime | None = None,
) -> Verification:
    """Verify a certificate JWS or QR JWS. A token that is malformed or whose signature does not
    verify raises JWS_INVALID; everything else is a finding in the verdict."""
    now = now or datetime.now(UTC)
    parsed = jws.Compact(token)
    if parsed.header.get("typ") not in (jws.CERT_TYP, jws.QR_TYP):
        raise InvalidArgument(reasons.JWS_INVALID, "the JWS is not a Hutong e-certificate")
    chain = _chain(parsed, chain_for_kid)
    parsed.verify(chain[0].public_key())
    claims = parsed.payload
    _require_claims(claims)
    findings = [Finding(reasons.SIGNATURE_VALID, "the signature verifies with the issuer certificate")]
    findings.append(_chain_finding(chain, roots(), now))
    findings.append(_authorisation_finding(chain[0], claims, is_authorised))
    status = status_of(claims)
    findings.append(_status_finding(status))
    findings.extend(_date_findings(claims, now.date()))
    return Verification(verdict=verdict_of(findings), findings=findings, claims=claims, status=status)


def verdict_of(findings: Sequence[Finding]) -> Verdict:
    if any(f.fatal for f in findings):
        return "invalid"
    if any(f.reason == reasons.STATUS_UNKNOWN for f in findings):
        return "indeterminate"
    return "valid"


def _chain(parsed: jws.Compact, chain_for_kid: ChainForKid | None) -> Sequence[x509.Certificate]:
    chain = parsed.x5c()
    if not chain and chain_for_kid is not None and isinstance(parsed.header.get("kid"), str):
        chain = list(chain_for_kid(parsed.header["kid"]) or [])
    if not chain:
        raise InvalidArgument(reasons.JWS_INVALID, "the JWS names no issuer certificate this verifier knows")
    return chain


def _require_claims(claims: Mapping[str, Any]) -> None:
    for name in ("jti", "iss", "type", "valid_from", "status"):
        if name not in claims:
            raise InvalidArgument(reasons.JWS_INVALID, f"the JWS lacks the {name!r} claim")


def _chain_finding(chain: Sequence[x509.Certificate], roots: Sequence[x509.Certificate], now: datetime) -> Finding:
    problem = jws.chain_problem(chain, roots, now)
    if problem:
        return Finding(reasons.CHAIN_UNTRUSTED, problem, fatal=True)
    return Finding("CHAIN_TRUSTED", "the issuer certificate chains to a trusted CA")


def _authorisation_finding(leaf: x509.Certificate, claims: Mapping[str, Any],
                           is_authorised: Authorised | None) -> Finding:
    iss, type_code = str(claims["iss"]), str(claims["type"])
    if jws.organisation_id(leaf) != iss:
        return Finding(reasons.ISSUER_NOT_AUTHORISED, "the issuer certificate belongs to another organisation", True)
    if type_code not in jws.authorised_types(leaf) or (is_authorised and not is_authorised(iss, type_code)):
        return Finding(reasons.ISSUER_NOT_AUTHORISED, "the issuer is not authorised for this certificate type", True)
    return Finding(reasons.ISSUER_AUTHORISED, "the issuer is authorised for this certificate type")


def _status_finding(status: str | None) -> Finding:
    if status is None:
        return Finding(reasons.STATUS_UNKNOWN, "the certificate's status could not be determined")
    return Finding(reasons.CERT_STATUS, f"status: {status}", fatal=status != "valid")


def _date_findings(claims: Mapping[str, Any], today: date) -> list[Finding]:
    out = []
    try:
        if date.fromisoformat(str(claims["valid_from"])) > today:
            out.append(Finding(reasons.NOT_YET_VALID, "the certificate is not valid yet", True))
        if claims.get("valid_until") and date.fromisoformat(str(claims["valid_until"])) < today:
            out.append(Finding(reasons.EXPIRED, "the certificate's validity has ended", True))
    except ValueError:
        raise InvalidArgument(reasons.JWS_INVALID, "the JWS carries unreadable validity dates") from None
    return out


# -- status lists --------------------------------------------------------------------------------

@dataclass(frozen=True)
class StatusList:
    uri: str
    issuer: str
    issued_at: int
    ttl: int
    bits: int
    lst: str

    def fresh(self, now: float) -> bool:
        return now < self.issued_at + self.ttl

    @cached_property
    def _data(self) -> bytes:  # decompressed once per fetched list, not per lookup
        return jws.status_bytes(self.lst)

    def status_at(self, index: int) -> str:
        value = jws.status_value(self._data, index, self.bits)
        return jws.STATUS_NAMES.get(value, "invalid")


def parse_status_list(token: str, roots: Sequence[x509.Certificate], now: float | None = None) -> StatusList:
    """Verify a status list token's signature and issuer chain (not its freshness)."""
    try:
        parsed = jws.Compact(token)
    except HutongError:
        raise InvalidArgument(reasons.STATUS_LIST_INVALID, "the status list is not a compact JWS") from None
    chain = parsed.x5c()
    problem = jws.chain_problem(chain, roots, datetime.fromtimestamp(now or time.time(), UTC))
    if parsed.header.get("typ") != jws.STATUS_LIST_TYP or problem:
        raise InvalidArgument(reasons.STATUS_LIST_INVALID, f"the status list is not trusted: {problem or 'typ'}")
    try:
        parsed.verify(chain[0].public_key())
        p = parsed.payload
        return StatusList(uri=str(p["sub"]), issuer=jws.organisation_id(chain[0]), issued_at=int(p["iat"]),
                          ttl=int(p["ttl"]), bits=int(p["status_list"]["bits"]), lst=str(p["status_list"]["lst"]))
    except (HutongError, KeyError, TypeError, ValueError):
        raise InvalidArgument(reasons.STATUS_LIST_INVALID, "the status list's signature or content is wrong") from None


def stale_error(uri: str) -> FailedPrecondition:
    return FailedPrecondition(reasons.STATUS_LIST_STALE, f"status list {uri} is older than its time-to-live",
                              metadata={"list": uri})


class StatusListCache:
    """Verifier-side cache: a list is used until its TTL runs out, then fetched again; a list that
    cannot be refreshed is refused (STATUS_LIST_STALE), never used stale."""

    def __init__(self, roots: Roots, fetch: Callable[[str], str] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._roots, self._fetch, self._clock = roots, fetch, clock
        self._lists: dict[str, StatusList] = {}
        self._lock = threading.Lock()

    def put(self, token: str) -> StatusList:
        lst = parse_status_list(token, self._roots(), self._clock())
        with self._lock:
            self._lists[lst.uri] = lst
        return lst

    def get(self, uri: str) -> StatusList:
        with self._lock:
            cached = self._lists.get(uri)
        if cached is not None and cached.fresh(self._clock()):
            metrics.status_list_used(self._clock() - cached.issued_at)
            return cached
        if self._fetch is None:
            metrics.status_list_stale()
            raise stale_error(uri)
        lst = self.put(self._fetch(uri))
        if not lst.fresh(self._clock()):
            metrics.status_list_stale()
            raise stale_error(uri)
        metrics.status_list_used(self._clock() - lst.issued_at)
        return lst

    def status_of(self, claims: Mapping[str, Any]) -> str:
        try:
            ref = claims["status"]["status_list"]
            uri, index = str(ref["uri"]), int(ref["idx"])
        except (KeyError, TypeError, ValueError):
            raise InvalidArgument(reasons.JWS_INVALID, "the JWS has no usable status reference") from None
        lst = self.get(uri)
        if lst.issuer != claims.get("iss"):
            raise InvalidArgument(reasons.STATUS_LIST_INVALID, "the status list was signed by another issuer")
        return lst.status_at(index)
