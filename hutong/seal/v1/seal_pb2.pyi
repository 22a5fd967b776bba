import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from hutong.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SealType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEAL_TYPE_UNSPECIFIED: _ClassVar[SealType]
    SEAL_TYPE_OFFICIAL: _ClassVar[SealType]
    SEAL_TYPE_CONTRACT: _ClassVar[SealType]
    SEAL_TYPE_FINANCE: _ClassVar[SealType]
    SEAL_TYPE_INVOICE: _ClassVar[SealType]
    SEAL_TYPE_LEGAL_REPRESENTATIVE: _ClassVar[SealType]

class SealStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEAL_STATUS_UNSPECIFIED: _ClassVar[SealStatus]
    SEAL_STATUS_ACTIVE: _ClassVar[SealStatus]
    SEAL_STATUS_SUSPENDED: _ClassVar[SealStatus]
    SEAL_STATUS_REVOKED: _ClassVar[SealStatus]

class GranteeKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GRANTEE_KIND_UNSPECIFIED: _ClassVar[GranteeKind]
    GRANTEE_KIND_PERSON: _ClassVar[GranteeKind]
    GRANTEE_KIND_PLATFORM: _ClassVar[GranteeKind]

class PadesLevel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PADES_LEVEL_UNSPECIFIED: _ClassVar[PadesLevel]
    PADES_LEVEL_B_B: _ClassVar[PadesLevel]
    PADES_LEVEL_B_T: _ClassVar[PadesLevel]
    PADES_LEVEL_B_LT: _ClassVar[PadesLevel]
    PADES_LEVEL_B_LTA: _ClassVar[PadesLevel]

class Certification(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CERTIFICATION_UNSPECIFIED: _ClassVar[Certification]
    CERTIFICATION_NO_CHANGES: _ClassVar[Certification]
    CERTIFICATION_FORM_FILLING: _ClassVar[Certification]
    CERTIFICATION_ANNOTATIONS: _ClassVar[Certification]

class SignatureKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SIGNATURE_KIND_UNSPECIFIED: _ClassVar[SignatureKind]
    SIGNATURE_KIND_SEAL: _ClassVar[SignatureKind]
    SIGNATURE_KIND_DOCUMENT_TIMESTAMP: _ClassVar[SignatureKind]

class Coverage(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COVERAGE_UNSPECIFIED: _ClassVar[Coverage]
    COVERAGE_ENTIRE_FILE: _ClassVar[Coverage]
    COVERAGE_ENTIRE_REVISION: _ClassVar[Coverage]
    COVERAGE_PARTIAL: _ClassVar[Coverage]

class Modification(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODIFICATION_UNSPECIFIED: _ClassVar[Modification]
    MODIFICATION_NONE: _ClassVar[Modification]
    MODIFICATION_LTA_UPDATES: _ClassVar[Modification]
    MODIFICATION_FORM_FILLING: _ClassVar[Modification]
    MODIFICATION_ANNOTATIONS: _ClassVar[Modification]
    MODIFICATION_OTHER: _ClassVar[Modification]

class RevocationStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REVOCATION_STATUS_UNSPECIFIED: _ClassVar[RevocationStatus]
    REVOCATION_STATUS_GOOD: _ClassVar[RevocationStatus]
    REVOCATION_STATUS_REVOKED: _ClassVar[RevocationStatus]
    REVOCATION_STATUS_UNKNOWN: _ClassVar[RevocationStatus]
SEAL_TYPE_UNSPECIFIED: SealType
SEAL_TYPE_OFFICIAL: SealType
SEAL_TYPE_CONTRACT: SealType
SEAL_TYPE_FINANCE: SealType
SEAL_TYPE_INVOICE: SealType
SEAL_TYPE_LEGAL_REPRESENTATIVE: SealType
SEAL_STATUS_UNSPECIFIED: SealStatus
SEAL_STATUS_ACTIVE: SealStatus
SEAL_STATUS_SUSPENDED: SealStatus
SEAL_STATUS_REVOKED: SealStatus
GRANTEE_KIND_UNSPECIFIED: GranteeKind
GRANTEE_KIND_PERSON: GranteeKind
GRANTEE_KIND_PLATFORM: GranteeKind
PADES_LEVEL_UNSPECIFIED: PadesLevel
PADES_LEVEL_B_B: PadesLevel
PADES_LEVEL_B_T: PadesLevel
PADES_LEVEL_B_LT: PadesLevel
PADES_LEVEL_B_LTA: PadesLevel
CERTIFICATION_UNSPECIFIED: Certification
CERTIFICATION_NO_CHANGES: Certification
CERTIFICATION_FORM_FILLING: Certification
CERTIFICATION_ANNOTATIONS: Certification
SIGNATURE_KIND_UNSPECIFIED: SignatureKind
SIGNATURE_KIND_SEAL: SignatureKind
SIGNATURE_KIND_DOCUMENT_TIMESTAMP: SignatureKind
COVERAGE_UNSPECIFIED: Coverage
COVERAGE_ENTIRE_FILE: Coverage
COVERAGE_ENTIRE_REVISION: Coverage
COVERAGE_PARTIAL: Coverage
MODIFICATION_UNSPECIFIED: Modification
MODIFICATION_NONE: Modification
MODIFICATION_LTA_UPDATES: Modification
MODIFICATION_FORM_FILLING: Modification
MODIFICATION_ANNOTATIONS: Modification
MODIFICATION_OTHER: Modification
REVOCATION_STATUS_UNSPECIFIED: RevocationStatus
REVOCATION_STATUS_GOOD: RevocationStatus
REVOCATION_STATUS_REVOKED: RevocationStatus
REVOCATION_STATUS_UNKNOWN: RevocationStatus

class Seal(_message.Message):
    __slots__ = ("seal_id", "org_uscc", "org_name", "type", "name", "status", "certificate_der", "certificate_serial", "image_png", "created_at", "status_changed_at")
    SEAL_ID_FIELD_NUMBER: _ClassVar[int]
    ORG_USCC_FIELD_NUMBER: _ClassVar[int]
    ORG_NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_DER_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_SERIAL_FIELD_NUMBER: _ClassVar[int]
    IMAGE_PNG_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    STATUS_CHANGED_AT_FIELD_NUMBER: _ClassVar[int]
    seal_id: str
    org_uscc: str
    org_name: str
    type: SealType
    name: str
    status: SealStatus
    certificate_der: bytes
    certificate_serial: str
    image_png: bytes
    created_at: _timestamp_pb2.Timestamp
    status_changed_at: _timestamp_pb2.Timestamp
    def __init__(self, seal_id: _Optional[str] = ..., org_uscc: _Optional[str] = ..., org_name: _Optional[str] = ..., type: _Optional[_Union[SealType, str]] = ..., name: _Optional[str] = ..., status: _Optional[_Union[SealStatus, str]] = ..., certificate_der: _Optional[bytes] = ..., certificate_serial: _Optional[str] = ..., image_png: _Optional[bytes] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., status_changed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateSealRequest(_message.Message):
    __slots__ = ("org_uscc", "org_name", "type", "name", "image_png")
    ORG_USCC_FIELD_NUMBER: _ClassVar[int]
    ORG_NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    IMAGE_PNG_FIELD_NUMBER: _ClassVar[int]
    org_uscc: str
    org_name: str
    type: SealType
    name: str
    image_png: bytes
    def __init__(self, org_uscc: _Optional[str] = ..., org_name: _Optional[str] = ..., type: _Optional[_Union[SealType, str]] = ..., name: _Optional[str] = ..., image_png: _Optional[bytes] = ...) -> None: ...

class CreateSealResponse(_message.Message):
    __slots__ = ("seal",)
    SEAL_FIELD_NUMBER: _ClassVar[int]
    seal: Seal
    def __init__(self, seal: _Optional[_Union[Seal, _Mapping]] = ...) -> None: ...

class GetSealRequest(_message.Message):
    __slots__ = ("seal_id",)
    SEAL_ID_FIELD_NUMBER: _ClassVar[int]
    seal_id: str
    def __init__(self, seal_id: _Optional[str] = ...) -> None: ...

class GetSealResponse(_message.Message):
    __slots__ = ("seal",)
    SEAL_FIELD_NUMBER: _ClassVar[int]
    seal: Seal
    def __init__(self, seal: _Optional[_Union[Seal, _Mapping]] = ...) -> None: ...

class ListSealsRequest(_message.Message):
    __slots__ = ("org_uscc", "page")
    ORG_USCC_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    org_uscc: str
    page: _common_pb2.PageRequest
    def __init__(self, org_uscc: _Optional[str] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class ListSealsResponse(_message.Message):
    __slots__ = ("seals", "page")
    SEALS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    seals: _containers.RepeatedCompositeFieldContainer[Seal]
    page: _common_pb2.PageResponse
    def __init__(self, seals: _Optional[_Iterable[_Union[Seal, _Mapping]]] = ..., page: _Optional[_Union[_common_pb2.PageResponse, _Mapping]] = ...) -> None: ...

class SuspendSealRequest(_message.Message):
    __slots__ = ("seal_id", "reason")
    SEAL_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    seal_id: str
    reason: str
    def __init__(self, seal_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class SuspendSealResponse(_message.Message):
    __slots__ = ("seal",)
    SEAL_FIELD_NUMBER: _ClassVar[int]
    seal: Seal
    def __init__(self, seal: _Optional[_Union[Seal, _Mapping]] = ...) -> None: ...

class ReactivateSealRequest(_message.Message):
    __slots__ = ("seal_id",)
    SEAL_ID_FIELD_NUMBER: _ClassVar[int]
    seal_id: str
    def __init__(self, seal_id: _Optional[str] = ...) -> None: ...

class ReactivateSealResponse(_message.Message):
    __slots__ = ("seal",)
    SEAL_FIELD_NUMBER: _ClassVar[int]
    seal: Seal
    def __init__(self, seal: _Optional[_Union[Seal, _Mapping]] = ...) -> None: ...

class RevokeSealRequest(_message.Message):
    __slots__ = ("seal_id", "reason")
    SEAL_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    seal_id: str
    reason: str
    def __init__(self, seal_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RevokeSealResponse(_message.Message):
    __slots__ = ("seal",)
    SEAL_FIELD_NUMBER: _ClassVar[int]
    seal: Seal
    def __init__(self, seal: _Optional[_Union[Seal, _Mapping]] = ...) -> None: ...

class Grant(_message.Message):
    __slots__ = ("grant_id", "seal_id", "grantee_kind", "grantee", "not_before", "not_after", "max_uses", "uses", "revoked", "created_at")
    GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    SEAL_ID_FIELD_NUMBER: _ClassVar[int]
    GRANTEE_KIND_FIELD_NUMBER: _ClassVar[int]
    GRANTEE_FIELD_NUMBER: _ClassVar[int]
    NOT_BEFORE_FIELD_NUMBER: _ClassVar[int]
    NOT_AFTER_FIELD_NUMBER: _ClassVar[int]
    MAX_USES_FIELD_NUMBER: _ClassVar[int]
    USES_FIELD_NUMBER: _ClassVar[int]
    REVOKED_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    grant_id: str
    seal_id: str
    grantee_kind: GranteeKind
    grantee: str
    not_before: _timestamp_pb2.Timestamp
    not_after: _timestamp_pb2.Timestamp
    max_uses: int
    uses: int
    revoked: bool
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, grant_id: _Optional[str] = ..., seal_id: _Optional[str] = ..., grantee_kind: _Optional[_Union[GranteeKind, str]] = ..., grantee: _Optional[str] = ..., not_before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., not_after: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., max_uses: _Optional[int] = ..., uses: _Optional[int] = ..., revoked: _Optional[bool] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GrantSealRequest(_message.Message):
    __slots__ = ("seal_id", "grantee_kind", "grantee", "not_before", "not_after", "max_uses")
    SEAL_ID_FIELD_NUMBER: _ClassVar[int]
    GRANTEE_KIND_FIELD_NUMBER: _ClassVar[int]
    GRANTEE_FIELD_NUMBER: _ClassVar[int]
    NOT_BEFORE_FIELD_NUMBER: _ClassVar[int]
    NOT_AFTER_FIELD_NUMBER: _ClassVar[int]
    MAX_USES_FIELD_NUMBER: _ClassVar[int]
    seal_id: str
    grantee_kind: GranteeKind
    grantee: str
    not_before: _timestamp_pb2.Timestamp
    not_after: _timestamp_pb2.Timestamp
    max_uses: int
    def __init__(self, seal_id: _Optional[str] = ..., grantee_kind: _Optional[_Union[GranteeKind, str]] = ..., grantee: _Optional[str] = ..., not_before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., not_after: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., max_uses: _Optional[int] = ...) -> None: ...

class GrantSealResponse(_message.Message):
    __slots__ = ("grant",)
    GRANT_FIELD_NUMBER: _ClassVar[int]
    grant: Grant
    def __init__(self, grant: _Optional[_Union[Grant, _Mapping]] = ...) -> None: ...

class ListGrantsRequest(_message.Message):
    __slots__ = ("seal_id",)
    SEAL_ID_FIELD_NUMBER: _ClassVar[int]
    seal_id: str
    def __init__(self, seal_id: _Optional[str] = ...) -> None: ...

class ListGrantsResponse(_message.Message):
    __slots__ = ("grants",)
    GRANTS_FIELD_NUMBER: _ClassVar[int]
    grants: _containers.RepeatedCompositeFieldContainer[Grant]
    def __init__(self, grants: _Optional[_Iterable[_Union[Grant, _Mapping]]] = ...) -> None: ...

class RevokeGrantRequest(_message.Message):
    __slots__ = ("grant_id",)
    GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    grant_id: str
    def __init__(self, grant_id: _Optional[str] = ...) -> None: ...

class RevokeGrantResponse(_message.Message):
    __slots__ = ("grant",)
    GRANT_FIELD_NUMBER: _ClassVar[int]
    grant: Grant
    def __init__(self, grant: _Optional[_Union[Grant, _Mapping]] = ...) -> None: ...

class GetCrlRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetCrlResponse(_message.Message):
    __slots__ = ("crl_der", "crl_number", "this_update", "next_update", "ca_certificates_der", "root_crl_der", "other_crl_der")
    CRL_DER_FIELD_NUMBER: _ClassVar[int]
    CRL_NUMBER_FIELD_NUMBER: _ClassVar[int]
    THIS_UPDATE_FIELD_NUMBER: _ClassVar[int]
    NEXT_UPDATE_FIELD_NUMBER: _ClassVar[int]
    CA_CERTIFICATES_DER_FIELD_NUMBER: _ClassVar[int]
    ROOT_CRL_DER_FIELD_NUMBER: _ClassVar[int]
    OTHER_CRL_DER_FIELD_NUMBER: _ClassVar[int]
    crl_der: bytes
    crl_number: int
    this_update: _timestamp_pb2.Timestamp
    next_update: _timestamp_pb2.Timestamp
    ca_certificates_der: _containers.RepeatedScalarFieldContainer[bytes]
    root_crl_der: bytes
    other_crl_der: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, crl_der: _Optional[bytes] = ..., crl_number: _Optional[int] = ..., this_update: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., next_update: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ca_certificates_der: _Optional[_Iterable[bytes]] = ..., root_crl_der: _Optional[bytes] = ..., other_crl_der: _Optional[_Iterable[bytes]] = ...) -> None: ...

class Placement(_message.Message):
    __slots__ = ("page", "x", "y", "width", "height")
    PAGE_FIELD_NUMBER: _ClassVar[int]
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    page: int
    x: float
    y: float
    width: float
    height: float
    def __init__(self, page: _Optional[int] = ..., x: _Optional[float] = ..., y: _Optional[float] = ..., width: _Optional[float] = ..., height: _Optional[float] = ...) -> None: ...

class SignPdfHeader(_message.Message):
    __slots__ = ("seal_id", "placement", "field_name", "reason", "location", "level", "certification", "document_size")
    SEAL_ID_FIELD_NUMBER: _ClassVar[int]
    PLACEMENT_FIELD_NUMBER: _ClassVar[int]
    FIELD_NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATION_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_SIZE_FIELD_NUMBER: _ClassVar[int]
    seal_id: str
    placement: Placement
    field_name: str
    reason: str
    location: str
    level: PadesLevel
    certification: Certification
    document_size: int
    def __init__(self, seal_id: _Optional[str] = ..., placement: _Optional[_Union[Placement, _Mapping]] = ..., field_name: _Optional[str] = ..., reason: _Optional[str] = ..., location: _Optional[str] = ..., level: _Optional[_Union[PadesLevel, str]] = ..., certification: _Optional[_Union[Certification, str]] = ..., document_size: _Optional[int] = ...) -> None: ...

class SignPdfRequest(_message.Message):
    __slots__ = ("header", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: SignPdfHeader
    chunk: _common_pb2.Chunk
    def __init__(self, header: _Optional[_Union[SignPdfHeader, _Mapping]] = ..., chunk: _Optional[_Union[_common_pb2.Chunk, _Mapping]] = ...) -> None: ...

class SignPdfResult(_message.Message):
    __slots__ = ("seal_id", "field_name", "level", "input_sha256", "output_sha256", "output_size", "signing_time")
    SEAL_ID_FIELD_NUMBER: _ClassVar[int]
    FIELD_NAME_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    INPUT_SHA256_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_SHA256_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_SIZE_FIELD_NUMBER: _ClassVar[int]
    SIGNING_TIME_FIELD_NUMBER: _ClassVar[int]
    seal_id: str
    field_name: str
    level: PadesLevel
    input_sha256: str
    output_sha256: str
    output_size: int
    signing_time: _timestamp_pb2.Timestamp
    def __init__(self, seal_id: _Optional[str] = ..., field_name: _Optional[str] = ..., level: _Optional[_Union[PadesLevel, str]] = ..., input_sha256: _Optional[str] = ..., output_sha256: _Optional[str] = ..., output_size: _Optional[int] = ..., signing_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SignPdfResponse(_message.Message):
    __slots__ = ("result", "chunk")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    result: SignPdfResult
    chunk: _common_pb2.Chunk
    def __init__(self, result: _Optional[_Union[SignPdfResult, _Mapping]] = ..., chunk: _Optional[_Union[_common_pb2.Chunk, _Mapping]] = ...) -> None: ...

class VerifyPdfHeader(_message.Message):
    __slots__ = ("document_size",)
    DOCUMENT_SIZE_FIELD_NUMBER: _ClassVar[int]
    document_size: int
    def __init__(self, document_size: _Optional[int] = ...) -> None: ...

class VerifyPdfRequest(_message.Message):
    __slots__ = ("header", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: VerifyPdfHeader
    chunk: _common_pb2.Chunk
    def __init__(self, header: _Optional[_Union[VerifyPdfHeader, _Mapping]] = ..., chunk: _Optional[_Union[_common_pb2.Chunk, _Mapping]] = ...) -> None: ...

class SignatureReport(_message.Message):
    __slots__ = ("field_name", "kind", "verdict", "intact", "signature_valid", "trusted", "coverage", "modification", "changes_allowed", "certification", "org_name", "org_uscc", "seal_id", "seal_name", "signing_time", "has_timestamp", "timestamp_valid", "timestamp_time", "revocation", "revoked_at", "trust_anchor", "certificate_der", "reason", "location", "findings")
    FIELD_NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    INTACT_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_VALID_FIELD_NUMBER: _ClassVar[int]
    TRUSTED_FIELD_NUMBER: _ClassVar[int]
    COVERAGE_FIELD_NUMBER: _ClassVar[int]
    MODIFICATION_FIELD_NUMBER: _ClassVar[int]
    CHANGES_ALLOWED_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATION_FIELD_NUMBER: _ClassVar[int]
    ORG_NAME_FIELD_NUMBER: _ClassVar[int]
    ORG_USCC_FIELD_NUMBER: _ClassVar[int]
    SEAL_ID_FIELD_NUMBER: _ClassVar[int]
    SEAL_NAME_FIELD_NUMBER: _ClassVar[int]
    SIGNING_TIME_FIELD_NUMBER: _ClassVar[int]
    HAS_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_VALID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_TIME_FIELD_NUMBER: _ClassVar[int]
    REVOCATION_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_FIELD_NUMBER: _ClassVar[int]
    TRUST_ANCHOR_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_DER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    field_name: str
    kind: SignatureKind
    verdict: _common_pb2.Verdict
    intact: bool
    signature_valid: bool
    trusted: bool
    coverage: Coverage
    modification: Modification
    changes_allowed: bool
    certification: Certification
    org_name: str
    org_uscc: str
    seal_id: str
    seal_name: str
    signing_time: _timestamp_pb2.Timestamp
    has_timestamp: bool
    timestamp_valid: bool
    timestamp_time: _timestamp_pb2.Timestamp
    revocation: RevocationStatus
    revoked_at: _timestamp_pb2.Timestamp
    trust_anchor: str
    certificate_der: bytes
    reason: str
    location: str
    findings: _containers.RepeatedCompositeFieldContainer[_common_pb2.VerificationFinding]
    def __init__(self, field_name: _Optional[str] = ..., kind: _Optional[_Union[SignatureKind, str]] = ..., verdict: _Optional[_Union[_common_pb2.Verdict, str]] = ..., intact: _Optional[bool] = ..., signature_valid: _Optional[bool] = ..., trusted: _Optional[bool] = ..., coverage: _Optional[_Union[Coverage, str]] = ..., modification: _Optional[_Union[Modification, str]] = ..., changes_allowed: _Optional[bool] = ..., certification: _Optional[_Union[Certification, str]] = ..., org_name: _Optional[str] = ..., org_uscc: _Optional[str] = ..., seal_id: _Optional[str] = ..., seal_name: _Optional[str] = ..., signing_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., has_timestamp: _Optional[bool] = ..., timestamp_valid: _Optional[bool] = ..., timestamp_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revocation: _Optional[_Union[RevocationStatus, str]] = ..., revoked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., trust_anchor: _Optional[str] = ..., certificate_der: _Optional[bytes] = ..., reason: _Optional[str] = ..., location: _Optional[str] = ..., findings: _Optional[_Iterable[_Union[_common_pb2.VerificationFinding, _Mapping]]] = ...) -> None: ...

class VerifyPdfResponse(_message.Message):
    __slots__ = ("verdict", "signatures", "findings", "document_sha256")
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    SIGNATURES_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_SHA256_FIELD_NUMBER: _ClassVar[int]
    verdict: _common_pb2.Verdict
    signatures: _containers.RepeatedCompositeFieldContainer[SignatureReport]
    findings: _containers.RepeatedCompositeFieldContainer[_common_pb2.VerificationFinding]
    document_sha256: str
    def __init__(self, verdict: _Optional[_Union[_common_pb2.Verdict, str]] = ..., signatures: _Optional[_Iterable[_Union[SignatureReport, _Mapping]]] = ..., findings: _Optional[_Iterable[_Union[_common_pb2.VerificationFinding, _Mapping]]] = ..., document_sha256: _Optional[str] = ...) -> None: ...
