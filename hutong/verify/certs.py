"""Verifying an e-certificate from its JWS or QR content, with no database: the one verdict logic.

The server's ``Verify`` RPC and the SDK's offline verifier both call ``verify_certificate``; they differ
only in where trust roots, issuer chains (for QR content, which carries only a ``kid``) and status
come from (status: ``hutong.verify.statuslist``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

from cryptography import x509

from hutong.errors import InvalidArgument
from hutong.verify import jose
from hutong.verify.findings import Finding
from hutong.verify.statuslist import Roots
from hutong.verify.x509 import authorised_types, chain_problem, organisation_id

CERT_TYP = "hutong-cert+jwt"
QR_TYP = "hutong-cert-qr+jwt"

# Findings (in VerifyResponse, not raised); JWS_INVALID is raised.
JWS_INVALID = jose.JWS_INVALID
SIGNATURE_VALID = "SIGNATURE_VALID"
CHAIN_UNTRUSTED = "CHAIN_UNTRUSTED"
ISSUER_AUTHORISED = "ISSUER_AUTHORISED"
ISSUER_NOT_AUTHORISED = "ISSUER_NOT_AUTHORISED"
CERT_STATUS = "CERT_STATUS"  # message names the status
NOT_YET_VALID = "NOT_YET_VALID"
EXPIRED = "EXPIRED"
STATUS_UNKNOWN = "STATUS_UNKNOWN"

Verdict = Literal["valid", "invalid", "indeterminate"]
ChainForKid = Callable[[str], Sequence[x509.Certificate] | None]
StatusOf = Callable[[Mapping[str, Any]], str | None]  # claims -> lifecycle state, None when unknown
Authorised = Callable[[str, str], bool]  # (issuer USCC, type code) -> still authorised?


@dataclass
class Verification:
    verdict: Verdict
    findings: list[Finding]
    claims: dict[str, Any] = field(default_factory=dict)
    status: str | None = None


def verify_certificate(
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
    parsed = jose.Compact(token)
    if parsed.header.get("typ") not in (CERT_TYP, QR_TYP):
        raise InvalidArgument(JWS_INVALID, "the JWS is not a Hutong e-certificate")
    chain = _chain(parsed, chain_for_kid)
    parsed.verify(chain[0].public_key())
    claims = parsed.payload
    _require_claims(claims)
    findings = [Finding(SIGNATURE_VALID, "the signature verifies with the issuer certificate")]
    findings.append(_chain_finding(chain, roots(), now))
    findings.append(_authorisation_finding(chain[0], claims, is_authorised))
    status = status_of(claims)
    findings.append(_status_finding(status))
    findings.extend(_date_findings(claims, now.date()))
    return Verification(verdict=verdict_of(findings), findings=findings, claims=claims, status=status)


def verdict_of(findings: Sequence[Finding]) -> Verdict:
    if any(f.fatal for f in findings):
        return "invalid"
    if any(f.reason == STATUS_UNKNOWN for f in findings):
        return "indeterminate"
    return "valid"


def _chain(parsed: jose.Compact, chain_for_kid: ChainForKid | None) -> Sequence[x509.Certificate]:
    chain = parsed.x5c()
    if not chain and chain_for_kid is not None and isinstance(parsed.header.get("kid"), str):
        chain = list(chain_for_kid(parsed.header["kid"]) or [])
    if not chain:
        raise InvalidArgument(JWS_INVALID, "the JWS names no issuer certificate this verifier knows")
    return chain


def _require_claims(claims: Mapping[str, Any]) -> None:
    for name in ("jti", "iss", "type", "valid_from", "status"):
        if name not in claims:
            raise InvalidArgument(JWS_INVALID, f"the JWS lacks the {name!r} claim")


def _chain_finding(chain: Sequence[x509.Certificate], roots: Sequence[x509.Certificate], now: datetime) -> Finding:
    problem = chain_problem(chain, roots, now)
    if problem:
        return Finding(CHAIN_UNTRUSTED, problem, fatal=True)
    return Finding("CHAIN_TRUSTED", "the issuer certificate chains to a trusted CA")


def _authorisation_finding(leaf: x509.Certificate, claims: Mapping[str, Any],
                           is_authorised: Authorised | None) -> Finding:
    iss, type_code = str(claims["iss"]), str(claims["type"])
    if organisation_id(leaf) != iss:
        return Finding(ISSUER_NOT_AUTHORISED, "the issuer certificate belongs to another organisation", True)
    if type_code not in authorised_types(leaf) or (is_authorised and not is_authorised(iss, type_code)):
        return Finding(ISSUER_NOT_AUTHORISED, "the issuer is not authorised for this certificate type", True)
    return Finding(ISSUER_AUTHORISED, "the issuer is authorised for this certificate type")


def _status_finding(status: str | None) -> Finding:
    if status is None:
        return Finding(STATUS_UNKNOWN, "the certificate's status could not be determined")
    return Finding(CERT_STATUS, f"status: {status}", fatal=status != "valid")


def _date_findings(claims: Mapping[str, Any], today: date) -> list[Finding]:
    out = []
    try:
        if date.fromisoformat(str(claims["valid_from"])) > today:
            out.append(Finding(NOT_YET_VALID, "the certificate is not valid yet", True))
        if claims.get("valid_until") and date.fromisoformat(str(claims["valid_until"])) < today:
            out.append(Finding(EXPIRED, "the certificate's validity has ended", True))
    except ValueError:
        raise InvalidArgument(JWS_INVALID, "the JWS carries unreadable validity dates") from None
    return out
