"""Stable error reasons raised by cert_svc (see docs/errors.md). Status code in the comment.

Identifier reasons (CITIZEN_ID_*, USCC_*, CERT_ID_INVALID_FORMAT, CHECK_CHARACTER_MISMATCH, ...)
come from ``hutong.identifiers``.
"""

CERT_TYPE_UNKNOWN = "CERT_TYPE_UNKNOWN"  # INVALID_ARGUMENT: issuing a type not in the catalogue
CERT_TYPE_NOT_FOUND = "CERT_TYPE_NOT_FOUND"  # NOT_FOUND: reading a type not in the catalogue
CERT_TYPE_INVALID = "CERT_TYPE_INVALID"  # INVALID_ARGUMENT: a catalogue entry that cannot work
FIELD_INVALID = "FIELD_INVALID"  # INVALID_ARGUMENT: field missing, unknown or failing the schema
HOLDER_KIND_MISMATCH = "HOLDER_KIND_MISMATCH"  # INVALID_ARGUMENT: person holder for an organisation type, ...
VALIDITY_INVALID = "VALIDITY_INVALID"  # INVALID_ARGUMENT: validity dates break the type's rule
ISSUER_NOT_FOUND = "ISSUER_NOT_FOUND"  # NOT_FOUND
ISSUER_INVALID = "ISSUER_INVALID"  # INVALID_ARGUMENT: registration without a name, ...
ISSUER_EXISTS = "ISSUER_EXISTS"  # ALREADY_EXISTS
ISSUER_PLATFORM_TAKEN = "ISSUER_PLATFORM_TAKEN"  # ALREADY_EXISTS: the platform already issues for another issuer
NOT_AN_ISSUER = "NOT_AN_ISSUER"  # PERMISSION_DENIED: caller is no registered issuing department
ISSUER_NOT_AUTHORISED = "ISSUER_NOT_AUTHORISED"  # PERMISSION_DENIED: issuer not authorised for the type
OPERATOR_REQUIRED = "OPERATOR_REQUIRED"  # PERMISSION_DENIED
CERT_NOT_FOUND = "CERT_NOT_FOUND"  # NOT_FOUND
INVALID_TRANSITION = "INVALID_TRANSITION"  # FAILED_PRECONDITION: lifecycle table forbids it
PREDECESSOR_NOT_FOUND = "PREDECESSOR_NOT_FOUND"  # FAILED_PRECONDITION: no node holds the named predecessor
PREDECESSOR_INVALID = "PREDECESSOR_INVALID"  # FAILED_PRECONDITION: successor of a not transferred-out cert
JWS_INVALID = "JWS_INVALID"  # INVALID_ARGUMENT: malformed or tampered JWS / QR content
VERIFY_RATE_LIMITED = "VERIFY_RATE_LIMITED"  # RESOURCE_EXHAUSTED: too many anonymous verifications by identifier
NO_CONSENT = "NO_CONSENT"  # PERMISSION_DENIED: platform without a consent covering the request
PURPOSE_NOT_CONSENTED = "PURPOSE_NOT_CONSENTED"  # PERMISSION_DENIED: consent in force is for another purpose
CONSENT_EXPIRED = "CONSENT_EXPIRED"  # PERMISSION_DENIED
CONSENT_WITHDRAWN = "CONSENT_WITHDRAWN"  # PERMISSION_DENIED
CONSENT_NOT_FOUND = "CONSENT_NOT_FOUND"  # NOT_FOUND
CONSENT_INVALID = "CONSENT_INVALID"  # INVALID_ARGUMENT: no certificates, expiry in the past, ...
PURPOSE_REQUIRED = "PURPOSE_REQUIRED"  # INVALID_ARGUMENT: platform access must state a purpose
NOT_CERT_HOLDER = "NOT_CERT_HOLDER"  # PERMISSION_DENIED: consenting to someone else's certificate, ...
HOLDER_UNKNOWN = "HOLDER_UNKNOWN"  # FAILED_PRECONDITION: caller's account has no verified ID number
STATUS_LIST_NOT_FOUND = "STATUS_LIST_NOT_FOUND"  # NOT_FOUND
STATUS_LIST_STALE = "STATUS_LIST_STALE"  # FAILED_PRECONDITION: cached status list older than its TTL
STATUS_LIST_INVALID = "STATUS_LIST_INVALID"  # INVALID_ARGUMENT: status list token fails its signature
BATCH_INVALID = "BATCH_INVALID"  # INVALID_ARGUMENT: no header, unreadable CSV, missing columns
ISSUER_SEAL_MISSING = "ISSUER_SEAL_MISSING"  # FAILED_PRECONDITION: department has no seal for renditions
RENDITION_INVALID = "RENDITION_INVALID"  # INVALID_ARGUMENT: PDF without Hutong verification data

# Verification findings (in VerifyResponse, not raised):
SIGNATURE_VALID = "SIGNATURE_VALID"
CHAIN_UNTRUSTED = "CHAIN_UNTRUSTED"
ISSUER_AUTHORISED = "ISSUER_AUTHORISED"
CERT_STATUS = "CERT_STATUS"  # message names the status
NOT_YET_VALID = "NOT_YET_VALID"
EXPIRED = "EXPIRED"
STATUS_UNKNOWN = "STATUS_UNKNOWN"
PDF_SEAL = "PDF_SEAL"
