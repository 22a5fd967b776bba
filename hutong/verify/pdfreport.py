"""What verifying a sealed PDF reports: per signature and for the document, with one verdict each.

Plain values (no pyHanko here), so the SDK, the CLI and the web verifier read reports without the PDF stack.
Verdicts: INVALID when something is definitely wrong; INDETERMINATE when a fact cannot be established;
VALID otherwise. Findings are ``hutong.verify.findings.Finding``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from hutong.verify.findings import Finding


class Verdict(enum.Enum):
    VALID = "valid"
    INVALID = "invalid"
    INDETERMINATE = "indeterminate"


class Revocation(enum.Enum):
    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"


@dataclass
class SignatureReport:
    field_name: str
    kind: str  # "seal" or "document_timestamp"
    verdict: Verdict = Verdict.INVALID
    intact: bool = False
    signature_valid: bool = False
    trusted: bool = False
    coverage: str = ""  # entire_file / entire_revision / partial
    modification: str = ""  # none / lta_updates / form_filling / annotations / other
    changes_allowed: bool = False
    certification: str = ""  # DocMDP: no_changes / form_filling / annotations; "" = approval seal
    org_name: str = ""
    org_uscc: str = ""
    seal_id: str = ""
    seal_name: str = ""
    signing_time: datetime | None = None
    has_timestamp: bool = False
    timestamp_valid: bool = False
    timestamp_time: datetime | None = None
    revocation: Revocation = Revocation.UNKNOWN
    revoked_at: datetime | None = None
    trust_anchor: str = ""
    certificate_der: bytes = b""
    reason: str = ""
    location: str = ""
    findings: list[Finding] = field(default_factory=list)


@dataclass
class VerificationReport:
    verdict: Verdict
    signatures: list[SignatureReport]
    findings: list[Finding]
    document_sha256: str
