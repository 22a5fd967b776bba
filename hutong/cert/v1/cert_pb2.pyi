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

class HolderKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HOLDER_KIND_UNSPECIFIED: _ClassVar[HolderKind]
    HOLDER_KIND_PERSON: _ClassVar[HolderKind]
    HOLDER_KIND_ORGANISATION: _ClassVar[HolderKind]

class FieldType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FIELD_TYPE_UNSPECIFIED: _ClassVar[FieldType]
    FIELD_TYPE_STRING: _ClassVar[FieldType]
    FIELD_TYPE_DATE: _ClassVar[FieldType]
    FIELD_TYPE_INTEGER: _ClassVar[FieldType]
    FIELD_TYPE_DECIMAL: _ClassVar[FieldType]
    FIELD_TYPE_CITIZEN_ID: _ClassVar[FieldType]
    FIELD_TYPE_USCC: _ClassVar[FieldType]
    FIELD_TYPE_ENUM: _ClassVar[FieldType]

class CertStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CERT_STATUS_UNSPECIFIED: _ClassVar[CertStatus]
    CERT_STATUS_VALID: _ClassVar[CertStatus]
    CERT_STATUS_SUSPENDED: _ClassVar[CertStatus]
    CERT_STATUS_CANCELLED: _ClassVar[CertStatus]
    CERT_STATUS_DEREGISTERED: _ClassVar[CertStatus]
    CERT_STATUS_INVALID: _ClassVar[CertStatus]
    CERT_STATUS_TRANSFERRED_OUT: _ClassVar[CertStatus]
    CERT_STATUS_REVOKED: _ClassVar[CertStatus]
HOLDER_KIND_UNSPECIFIED: HolderKind
HOLDER_KIND_PERSON: HolderKind
HOLDER_KIND_ORGANISATION: HolderKind
FIELD_TYPE_UNSPECIFIED: FieldType
FIELD_TYPE_STRING: FieldType
FIELD_TYPE_DATE: FieldType
FIELD_TYPE_INTEGER: FieldType
FIELD_TYPE_DECIMAL: FieldType
FIELD_TYPE_CITIZEN_ID: FieldType
FIELD_TYPE_USCC: FieldType
FIELD_TYPE_ENUM: FieldType
CERT_STATUS_UNSPECIFIED: CertStatus
CERT_STATUS_VALID: CertStatus
CERT_STATUS_SUSPENDED: CertStatus
CERT_STATUS_CANCELLED: CertStatus
CERT_STATUS_DEREGISTERED: CertStatus
CERT_STATUS_INVALID: CertStatus
CERT_STATUS_TRANSFERRED_OUT: CertStatus
CERT_STATUS_REVOKED: CertStatus

class FieldSpec(_message.Message):
    __slots__ = ("name", "label", "type", "required", "pattern", "max_length", "choices")
    NAME_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    MAX_LENGTH_FIELD_NUMBER: _ClassVar[int]
    CHOICES_FIELD_NUMBER: _ClassVar[int]
    name: str
    label: str
    type: FieldType
    required: bool
    pattern: str
    max_length: int
    choices: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., label: _Optional[str] = ..., type: _Optional[_Union[FieldType, str]] = ..., required: _Optional[bool] = ..., pattern: _Optional[str] = ..., max_length: _Optional[int] = ..., choices: _Optional[_Iterable[str]] = ...) -> None: ...

class ValidityRule(_message.Message):
    __slots__ = ("default_years", "max_years", "open_ended_allowed")
    DEFAULT_YEARS_FIELD_NUMBER: _ClassVar[int]
    MAX_YEARS_FIELD_NUMBER: _ClassVar[int]
    OPEN_ENDED_ALLOWED_FIELD_NUMBER: _ClassVar[int]
    default_years: int
    max_years: int
    open_ended_allowed: bool
    def __init__(self, default_years: _Optional[int] = ..., max_years: _Optional[int] = ..., open_ended_allowed: _Optional[bool] = ...) -> None: ...

class Layout(_message.Message):
    __slots__ = ("title", "field_order", "footer")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    FIELD_ORDER_FIELD_NUMBER: _ClassVar[int]
    FOOTER_FIELD_NUMBER: _ClassVar[int]
    title: str
    field_order: _containers.RepeatedScalarFieldContainer[str]
    footer: str
    def __init__(self, title: _Optional[str] = ..., field_order: _Optional[_Iterable[str]] = ..., footer: _Optional[str] = ...) -> None: ...

class CertType(_message.Message):
    __slots__ = ("code", "name", "authority", "holder_kind", "fields", "validity", "layout", "active")
    CODE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    AUTHORITY_FIELD_NUMBER: _ClassVar[int]
    HOLDER_KIND_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    VALIDITY_FIELD_NUMBER: _ClassVar[int]
    LAYOUT_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    code: str
    name: str
    authority: str
    holder_kind: HolderKind
    fields: _containers.RepeatedCompositeFieldContainer[FieldSpec]
    validity: ValidityRule
    layout: Layout
    active: bool
    def __init__(self, code: _Optional[str] = ..., name: _Optional[str] = ..., authority: _Optional[str] = ..., holder_kind: _Optional[_Union[HolderKind, str]] = ..., fields: _Optional[_Iterable[_Union[FieldSpec, _Mapping]]] = ..., validity: _Optional[_Union[ValidityRule, _Mapping]] = ..., layout: _Optional[_Union[Layout, _Mapping]] = ..., active: _Optional[bool] = ...) -> None: ...

class ListTypesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListTypesResponse(_message.Message):
    __slots__ = ("types",)
    TYPES_FIELD_NUMBER: _ClassVar[int]
    types: _containers.RepeatedCompositeFieldContainer[CertType]
    def __init__(self, types: _Optional[_Iterable[_Union[CertType, _Mapping]]] = ...) -> None: ...

class GetTypeRequest(_message.Message):
    __slots__ = ("code",)
    CODE_FIELD_NUMBER: _ClassVar[int]
    code: str
    def __init__(self, code: _Optional[str] = ...) -> None: ...

class GetTypeResponse(_message.Message):
    __slots__ = ("type",)
    TYPE_FIELD_NUMBER: _ClassVar[int]
    type: CertType
    def __init__(self, type: _Optional[_Union[CertType, _Mapping]] = ...) -> None: ...

class PutTypeRequest(_message.Message):
    __slots__ = ("type",)
    TYPE_FIELD_NUMBER: _ClassVar[int]
    type: CertType
    def __init__(self, type: _Optional[_Union[CertType, _Mapping]] = ...) -> None: ...

class PutTypeResponse(_message.Message):
    __slots__ = ("type",)
    TYPE_FIELD_NUMBER: _ClassVar[int]
    type: CertType
    def __init__(self, type: _Optional[_Union[CertType, _Mapping]] = ...) -> None: ...

class Issuer(_message.Message):
    __slots__ = ("uscc", "name", "type_codes", "platform_client_id", "chain", "kid", "created_at", "seal_id")
    USCC_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_CODES_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    CHAIN_FIELD_NUMBER: _ClassVar[int]
    KID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    SEAL_ID_FIELD_NUMBER: _ClassVar[int]
    uscc: str
    name: str
    type_codes: _containers.RepeatedScalarFieldContainer[str]
    platform_client_id: str
    chain: _common_pb2.CertificateChain
    kid: str
    created_at: _timestamp_pb2.Timestamp
    seal_id: str
    def __init__(self, uscc: _Optional[str] = ..., name: _Optional[str] = ..., type_codes: _Optional[_Iterable[str]] = ..., platform_client_id: _Optional[str] = ..., chain: _Optional[_Union[_common_pb2.CertificateChain, _Mapping]] = ..., kid: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., seal_id: _Optional[str] = ...) -> None: ...

class RegisterIssuerRequest(_message.Message):
    __slots__ = ("uscc", "name", "type_codes", "platform_client_id", "seal_id")
    USCC_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_CODES_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    SEAL_ID_FIELD_NUMBER: _ClassVar[int]
    uscc: str
    name: str
    type_codes: _containers.RepeatedScalarFieldContainer[str]
    platform_client_id: str
    seal_id: str
    def __init__(self, uscc: _Optional[str] = ..., name: _Optional[str] = ..., type_codes: _Optional[_Iterable[str]] = ..., platform_client_id: _Optional[str] = ..., seal_id: _Optional[str] = ...) -> None: ...

class RegisterIssuerResponse(_message.Message):
    __slots__ = ("issuer",)
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    issuer: Issuer
    def __init__(self, issuer: _Optional[_Union[Issuer, _Mapping]] = ...) -> None: ...

class AuthoriseIssuerRequest(_message.Message):
    __slots__ = ("uscc", "type_codes")
    USCC_FIELD_NUMBER: _ClassVar[int]
    TYPE_CODES_FIELD_NUMBER: _ClassVar[int]
    uscc: str
    type_codes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, uscc: _Optional[str] = ..., type_codes: _Optional[_Iterable[str]] = ...) -> None: ...

class AuthoriseIssuerResponse(_message.Message):
    __slots__ = ("issuer",)
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    issuer: Issuer
    def __init__(self, issuer: _Optional[_Union[Issuer, _Mapping]] = ...) -> None: ...

class ListIssuersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListIssuersResponse(_message.Message):
    __slots__ = ("issuers",)
    ISSUERS_FIELD_NUMBER: _ClassVar[int]
    issuers: _containers.RepeatedCompositeFieldContainer[Issuer]
    def __init__(self, issuers: _Optional[_Iterable[_Union[Issuer, _Mapping]]] = ...) -> None: ...

class Holder(_message.Message):
    __slots__ = ("kind", "id", "name")
    KIND_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    kind: HolderKind
    id: str
    name: str
    def __init__(self, kind: _Optional[_Union[HolderKind, str]] = ..., id: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class Certificate(_message.Message):
    __slots__ = ("identifier", "type_code", "type_name", "issuer_uscc", "issuer_name", "holder", "fields", "valid_from", "valid_until", "status", "status_reason", "version", "supersedes", "superseded_by", "predecessor", "successor", "issued_at", "status_changed_at", "jws", "qr")
    class FieldsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    TYPE_CODE_FIELD_NUMBER: _ClassVar[int]
    TYPE_NAME_FIELD_NUMBER: _ClassVar[int]
    ISSUER_USCC_FIELD_NUMBER: _ClassVar[int]
    ISSUER_NAME_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_REASON_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SUPERSEDES_FIELD_NUMBER: _ClassVar[int]
    SUPERSEDED_BY_FIELD_NUMBER: _ClassVar[int]
    PREDECESSOR_FIELD_NUMBER: _ClassVar[int]
    SUCCESSOR_FIELD_NUMBER: _ClassVar[int]
    ISSUED_AT_FIELD_NUMBER: _ClassVar[int]
    STATUS_CHANGED_AT_FIELD_NUMBER: _ClassVar[int]
    JWS_FIELD_NUMBER: _ClassVar[int]
    QR_FIELD_NUMBER: _ClassVar[int]
    identifier: str
    type_code: str
    type_name: str
    issuer_uscc: str
    issuer_name: str
    holder: Holder
    fields: _containers.ScalarMap[str, str]
    valid_from: str
    valid_until: str
    status: CertStatus
    status_reason: str
    version: int
    supersedes: str
    superseded_by: str
    predecessor: str
    successor: str
    issued_at: _timestamp_pb2.Timestamp
    status_changed_at: _timestamp_pb2.Timestamp
    jws: str
    qr: str
    def __init__(self, identifier: _Optional[str] = ..., type_code: _Optional[str] = ..., type_name: _Optional[str] = ..., issuer_uscc: _Optional[str] = ..., issuer_name: _Optional[str] = ..., holder: _Optional[_Union[Holder, _Mapping]] = ..., fields: _Optional[_Mapping[str, str]] = ..., valid_from: _Optional[str] = ..., valid_until: _Optional[str] = ..., status: _Optional[_Union[CertStatus, str]] = ..., status_reason: _Optional[str] = ..., version: _Optional[int] = ..., supersedes: _Optional[str] = ..., superseded_by: _Optional[str] = ..., predecessor: _Optional[str] = ..., successor: _Optional[str] = ..., issued_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., status_changed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., jws: _Optional[str] = ..., qr: _Optional[str] = ...) -> None: ...

class IssueCertificateRequest(_message.Message):
    __slots__ = ("type_code", "holder", "fields", "valid_from", "valid_until", "predecessor")
    class FieldsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TYPE_CODE_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    PREDECESSOR_FIELD_NUMBER: _ClassVar[int]
    type_code: str
    holder: Holder
    fields: _containers.ScalarMap[str, str]
    valid_from: str
    valid_until: str
    predecessor: str
    def __init__(self, type_code: _Optional[str] = ..., holder: _Optional[_Union[Holder, _Mapping]] = ..., fields: _Optional[_Mapping[str, str]] = ..., valid_from: _Optional[str] = ..., valid_until: _Optional[str] = ..., predecessor: _Optional[str] = ...) -> None: ...

class IssueCertificateResponse(_message.Message):
    __slots__ = ("certificate",)
    CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    certificate: Certificate
    def __init__(self, certificate: _Optional[_Union[Certificate, _Mapping]] = ...) -> None: ...

class IssueBatchHeader(_message.Message):
    __slots__ = ("type_code",)
    TYPE_CODE_FIELD_NUMBER: _ClassVar[int]
    type_code: str
    def __init__(self, type_code: _Optional[str] = ...) -> None: ...

class IssueBatchRequest(_message.Message):
    __slots__ = ("header", "csv")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CSV_FIELD_NUMBER: _ClassVar[int]
    header: IssueBatchHeader
    csv: _common_pb2.Chunk
    def __init__(self, header: _Optional[_Union[IssueBatchHeader, _Mapping]] = ..., csv: _Optional[_Union[_common_pb2.Chunk, _Mapping]] = ...) -> None: ...

class BatchRowResult(_message.Message):
    __slots__ = ("row", "identifier", "reason", "message")
    ROW_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    row: int
    identifier: str
    reason: str
    message: str
    def __init__(self, row: _Optional[int] = ..., identifier: _Optional[str] = ..., reason: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class BatchSummary(_message.Message):
    __slots__ = ("rows", "issued", "failed")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    ISSUED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    rows: int
    issued: int
    failed: int
    def __init__(self, rows: _Optional[int] = ..., issued: _Optional[int] = ..., failed: _Optional[int] = ...) -> None: ...

class IssueBatchResponse(_message.Message):
    __slots__ = ("results", "summary")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[BatchRowResult]
    summary: BatchSummary
    def __init__(self, results: _Optional[_Iterable[_Union[BatchRowResult, _Mapping]]] = ..., summary: _Optional[_Union[BatchSummary, _Mapping]] = ...) -> None: ...

class UpdateCertificateRequest(_message.Message):
    __slots__ = ("identifier", "fields", "valid_until", "reason")
    class FieldsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    identifier: str
    fields: _containers.ScalarMap[str, str]
    valid_until: str
    reason: str
    def __init__(self, identifier: _Optional[str] = ..., fields: _Optional[_Mapping[str, str]] = ..., valid_until: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class UpdateCertificateResponse(_message.Message):
    __slots__ = ("certificate",)
    CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    certificate: Certificate
    def __init__(self, certificate: _Optional[_Union[Certificate, _Mapping]] = ...) -> None: ...

class ChangeStatusRequest(_message.Message):
    __slots__ = ("identifier", "status", "reason")
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    identifier: str
    status: CertStatus
    reason: str
    def __init__(self, identifier: _Optional[str] = ..., status: _Optional[_Union[CertStatus, str]] = ..., reason: _Optional[str] = ...) -> None: ...

class ChangeStatusResponse(_message.Message):
    __slots__ = ("certificate",)
    CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    certificate: Certificate
    def __init__(self, certificate: _Optional[_Union[Certificate, _Mapping]] = ...) -> None: ...

class GetCertificateRequest(_message.Message):
    __slots__ = ("identifier", "purpose")
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    identifier: str
    purpose: str
    def __init__(self, identifier: _Optional[str] = ..., purpose: _Optional[str] = ...) -> None: ...

class GetCertificateResponse(_message.Message):
    __slots__ = ("certificate",)
    CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    certificate: Certificate
    def __init__(self, certificate: _Optional[_Union[Certificate, _Mapping]] = ...) -> None: ...

class FetchRemoteCertificateRequest(_message.Message):
    __slots__ = ("node_id", "identifier", "purpose")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    identifier: str
    purpose: str
    def __init__(self, node_id: _Optional[str] = ..., identifier: _Optional[str] = ..., purpose: _Optional[str] = ...) -> None: ...

class FetchRemoteCertificateResponse(_message.Message):
    __slots__ = ("jws", "node_id")
    JWS_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    jws: str
    node_id: str
    def __init__(self, jws: _Optional[str] = ..., node_id: _Optional[str] = ...) -> None: ...

class ListCertificatesRequest(_message.Message):
    __slots__ = ("holder", "purpose", "type_code", "page")
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    TYPE_CODE_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    holder: Holder
    purpose: str
    type_code: str
    page: _common_pb2.PageRequest
    def __init__(self, holder: _Optional[_Union[Holder, _Mapping]] = ..., purpose: _Optional[str] = ..., type_code: _Optional[str] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class ListCertificatesResponse(_message.Message):
    __slots__ = ("certificates", "page")
    CERTIFICATES_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    certificates: _containers.RepeatedCompositeFieldContainer[Certificate]
    page: _common_pb2.PageResponse
    def __init__(self, certificates: _Optional[_Iterable[_Union[Certificate, _Mapping]]] = ..., page: _Optional[_Union[_common_pb2.PageResponse, _Mapping]] = ...) -> None: ...

class DownloadRenditionRequest(_message.Message):
    __slots__ = ("identifier", "purpose")
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    identifier: str
    purpose: str
    def __init__(self, identifier: _Optional[str] = ..., purpose: _Optional[str] = ...) -> None: ...

class Consent(_message.Message):
    __slots__ = ("consent_id", "platform", "identifiers", "purpose", "expires_at", "created_at", "withdrawn_at")
    CONSENT_ID_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIERS_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    WITHDRAWN_AT_FIELD_NUMBER: _ClassVar[int]
    consent_id: str
    platform: str
    identifiers: _containers.RepeatedScalarFieldContainer[str]
    purpose: str
    expires_at: _timestamp_pb2.Timestamp
    created_at: _timestamp_pb2.Timestamp
    withdrawn_at: _timestamp_pb2.Timestamp
    def __init__(self, consent_id: _Optional[str] = ..., platform: _Optional[str] = ..., identifiers: _Optional[_Iterable[str]] = ..., purpose: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., withdrawn_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GrantConsentRequest(_message.Message):
    __slots__ = ("platform", "identifiers", "purpose", "expires_at")
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIERS_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    platform: str
    identifiers: _containers.RepeatedScalarFieldContainer[str]
    purpose: str
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, platform: _Optional[str] = ..., identifiers: _Optional[_Iterable[str]] = ..., purpose: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GrantConsentResponse(_message.Message):
    __slots__ = ("consent",)
    CONSENT_FIELD_NUMBER: _ClassVar[int]
    consent: Consent
    def __init__(self, consent: _Optional[_Union[Consent, _Mapping]] = ...) -> None: ...

class WithdrawConsentRequest(_message.Message):
    __slots__ = ("consent_id",)
    CONSENT_ID_FIELD_NUMBER: _ClassVar[int]
    consent_id: str
    def __init__(self, consent_id: _Optional[str] = ...) -> None: ...

class WithdrawConsentResponse(_message.Message):
    __slots__ = ("consent",)
    CONSENT_FIELD_NUMBER: _ClassVar[int]
    consent: Consent
    def __init__(self, consent: _Optional[_Union[Consent, _Mapping]] = ...) -> None: ...

class ListConsentsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListConsentsResponse(_message.Message):
    __slots__ = ("consents",)
    CONSENTS_FIELD_NUMBER: _ClassVar[int]
    consents: _containers.RepeatedCompositeFieldContainer[Consent]
    def __init__(self, consents: _Optional[_Iterable[_Union[Consent, _Mapping]]] = ...) -> None: ...

class AccessRecord(_message.Message):
    __slots__ = ("at", "platform", "identifier", "purpose", "consent_id", "action", "reason")
    AT_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    CONSENT_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    at: _timestamp_pb2.Timestamp
    platform: str
    identifier: str
    purpose: str
    consent_id: str
    action: str
    reason: str
    def __init__(self, at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., platform: _Optional[str] = ..., identifier: _Optional[str] = ..., purpose: _Optional[str] = ..., consent_id: _Optional[str] = ..., action: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ListAccessLogRequest(_message.Message):
    __slots__ = ("page",)
    PAGE_FIELD_NUMBER: _ClassVar[int]
    page: _common_pb2.PageRequest
    def __init__(self, page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class ListAccessLogResponse(_message.Message):
    __slots__ = ("records", "page")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[AccessRecord]
    page: _common_pb2.PageResponse
    def __init__(self, records: _Optional[_Iterable[_Union[AccessRecord, _Mapping]]] = ..., page: _Optional[_Union[_common_pb2.PageResponse, _Mapping]] = ...) -> None: ...

class GetStatusListRequest(_message.Message):
    __slots__ = ("list_id",)
    LIST_ID_FIELD_NUMBER: _ClassVar[int]
    list_id: str
    def __init__(self, list_id: _Optional[str] = ...) -> None: ...

class GetStatusListResponse(_message.Message):
    __slots__ = ("token",)
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    token: str
    def __init__(self, token: _Optional[str] = ...) -> None: ...

class GetTrustBundleRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetTrustBundleResponse(_message.Message):
    __slots__ = ("root_certificates_der", "node", "issuer_chains")
    ROOT_CERTIFICATES_DER_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    ISSUER_CHAINS_FIELD_NUMBER: _ClassVar[int]
    root_certificates_der: _containers.RepeatedScalarFieldContainer[bytes]
    node: _common_pb2.NodeInfo
    issuer_chains: _containers.RepeatedCompositeFieldContainer[_common_pb2.CertificateChain]
    def __init__(self, root_certificates_der: _Optional[_Iterable[bytes]] = ..., node: _Optional[_Union[_common_pb2.NodeInfo, _Mapping]] = ..., issuer_chains: _Optional[_Iterable[_Union[_common_pb2.CertificateChain, _Mapping]]] = ...) -> None: ...

class VerifyRequest(_message.Message):
    __slots__ = ("identifier", "jws", "qr")
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    JWS_FIELD_NUMBER: _ClassVar[int]
    QR_FIELD_NUMBER: _ClassVar[int]
    identifier: str
    jws: str
    qr: str
    def __init__(self, identifier: _Optional[str] = ..., jws: _Optional[str] = ..., qr: _Optional[str] = ...) -> None: ...

class CertificateSummary(_message.Message):
    __slots__ = ("identifier", "type_code", "type_name", "issuer_uscc", "issuer_name", "status", "valid_from", "valid_until")
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    TYPE_CODE_FIELD_NUMBER: _ClassVar[int]
    TYPE_NAME_FIELD_NUMBER: _ClassVar[int]
    ISSUER_USCC_FIELD_NUMBER: _ClassVar[int]
    ISSUER_NAME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    identifier: str
    type_code: str
    type_name: str
    issuer_uscc: str
    issuer_name: str
    status: CertStatus
    valid_from: str
    valid_until: str
    def __init__(self, identifier: _Optional[str] = ..., type_code: _Optional[str] = ..., type_name: _Optional[str] = ..., issuer_uscc: _Optional[str] = ..., issuer_name: _Optional[str] = ..., status: _Optional[_Union[CertStatus, str]] = ..., valid_from: _Optional[str] = ..., valid_until: _Optional[str] = ...) -> None: ...

class VerifyResponse(_message.Message):
    __slots__ = ("verdict", "findings", "certificate")
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    verdict: _common_pb2.Verdict
    findings: _containers.RepeatedCompositeFieldContainer[_common_pb2.VerificationFinding]
    certificate: CertificateSummary
    def __init__(self, verdict: _Optional[_Union[_common_pb2.Verdict, str]] = ..., findings: _Optional[_Iterable[_Union[_common_pb2.VerificationFinding, _Mapping]]] = ..., certificate: _Optional[_Union[CertificateSummary, _Mapping]] = ...) -> None: ...
