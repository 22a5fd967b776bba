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

class GrantRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GRANT_ROLE_UNSPECIFIED: _ClassVar[GrantRole]
    GRANT_ROLE_ADMINISTRATOR: _ClassVar[GrantRole]
    GRANT_ROLE_STAFF: _ClassVar[GrantRole]
GRANT_ROLE_UNSPECIFIED: GrantRole
GRANT_ROLE_ADMINISTRATOR: GrantRole
GRANT_ROLE_STAFF: GrantRole

class TokenSet(_message.Message):
    __slots__ = ("access_token", "id_token", "refresh_token", "token_type", "expires_in", "acr", "amr", "subject", "scopes")
    ACCESS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ID_TOKEN_FIELD_NUMBER: _ClassVar[int]
    REFRESH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOKEN_TYPE_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_IN_FIELD_NUMBER: _ClassVar[int]
    ACR_FIELD_NUMBER: _ClassVar[int]
    AMR_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    access_token: str
    id_token: str
    refresh_token: str
    token_type: str
    expires_in: int
    acr: _common_pb2.LevelOfAssurance
    amr: _containers.RepeatedScalarFieldContainer[str]
    subject: str
    scopes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, access_token: _Optional[str] = ..., id_token: _Optional[str] = ..., refresh_token: _Optional[str] = ..., token_type: _Optional[str] = ..., expires_in: _Optional[int] = ..., acr: _Optional[_Union[_common_pb2.LevelOfAssurance, str]] = ..., amr: _Optional[_Iterable[str]] = ..., subject: _Optional[str] = ..., scopes: _Optional[_Iterable[str]] = ...) -> None: ...

class RegisterPersonRequest(_message.Message):
    __slots__ = ("id_number", "name", "password")
    ID_NUMBER_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    id_number: str
    name: str
    password: str
    def __init__(self, id_number: _Optional[str] = ..., name: _Optional[str] = ..., password: _Optional[str] = ...) -> None: ...

class RegisterPersonResponse(_message.Message):
    __slots__ = ("subject",)
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    subject: str
    def __init__(self, subject: _Optional[str] = ...) -> None: ...

class CreateLoginChallengeRequest(_message.Message):
    __slots__ = ("id_number",)
    ID_NUMBER_FIELD_NUMBER: _ClassVar[int]
    id_number: str
    def __init__(self, id_number: _Optional[str] = ...) -> None: ...

class CreateLoginChallengeResponse(_message.Message):
    __slots__ = ("challenge_id", "to_sign", "expire_time")
    CHALLENGE_ID_FIELD_NUMBER: _ClassVar[int]
    TO_SIGN_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    challenge_id: str
    to_sign: bytes
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, challenge_id: _Optional[str] = ..., to_sign: _Optional[bytes] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class KeySignature(_message.Message):
    __slots__ = ("challenge_id", "signature")
    CHALLENGE_ID_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    challenge_id: str
    signature: bytes
    def __init__(self, challenge_id: _Optional[str] = ..., signature: _Optional[bytes] = ...) -> None: ...

class LoginRequest(_message.Message):
    __slots__ = ("id_number", "password", "totp_code", "key_signature", "scopes", "nonce")
    ID_NUMBER_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    TOTP_CODE_FIELD_NUMBER: _ClassVar[int]
    KEY_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    id_number: str
    password: str
    totp_code: str
    key_signature: KeySignature
    scopes: _containers.RepeatedScalarFieldContainer[str]
    nonce: str
    def __init__(self, id_number: _Optional[str] = ..., password: _Optional[str] = ..., totp_code: _Optional[str] = ..., key_signature: _Optional[_Union[KeySignature, _Mapping]] = ..., scopes: _Optional[_Iterable[str]] = ..., nonce: _Optional[str] = ...) -> None: ...

class LoginResponse(_message.Message):
    __slots__ = ("tokens",)
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    tokens: TokenSet
    def __init__(self, tokens: _Optional[_Union[TokenSet, _Mapping]] = ...) -> None: ...

class RefreshTokenRequest(_message.Message):
    __slots__ = ("refresh_token",)
    REFRESH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    refresh_token: str
    def __init__(self, refresh_token: _Optional[str] = ...) -> None: ...

class RefreshTokenResponse(_message.Message):
    __slots__ = ("tokens",)
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    tokens: TokenSet
    def __init__(self, tokens: _Optional[_Union[TokenSet, _Mapping]] = ...) -> None: ...

class RevokeTokenRequest(_message.Message):
    __slots__ = ("token",)
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    token: str
    def __init__(self, token: _Optional[str] = ...) -> None: ...

class RevokeTokenResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class IntrospectTokenRequest(_message.Message):
    __slots__ = ("token",)
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    token: str
    def __init__(self, token: _Optional[str] = ...) -> None: ...

class IntrospectTokenResponse(_message.Message):
    __slots__ = ("active", "inactive_reason", "subject", "client_id", "acr", "amr", "scopes", "issue_time", "expire_time", "org_uscc", "roles")
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    INACTIVE_REASON_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    ACR_FIELD_NUMBER: _ClassVar[int]
    AMR_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    ISSUE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    ORG_USCC_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    active: bool
    inactive_reason: str
    subject: str
    client_id: str
    acr: _common_pb2.LevelOfAssurance
    amr: _containers.RepeatedScalarFieldContainer[str]
    scopes: _containers.RepeatedScalarFieldContainer[str]
    issue_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    org_uscc: str
    roles: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, active: _Optional[bool] = ..., inactive_reason: _Optional[str] = ..., subject: _Optional[str] = ..., client_id: _Optional[str] = ..., acr: _Optional[_Union[_common_pb2.LevelOfAssurance, str]] = ..., amr: _Optional[_Iterable[str]] = ..., scopes: _Optional[_Iterable[str]] = ..., issue_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., org_uscc: _Optional[str] = ..., roles: _Optional[_Iterable[str]] = ...) -> None: ...

class GetJwksRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetJwksResponse(_message.Message):
    __slots__ = ("jwks_json", "issuer")
    JWKS_JSON_FIELD_NUMBER: _ClassVar[int]
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    jwks_json: str
    issuer: str
    def __init__(self, jwks_json: _Optional[str] = ..., issuer: _Optional[str] = ...) -> None: ...

class BeginTotpEnrolmentRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class BeginTotpEnrolmentResponse(_message.Message):
    __slots__ = ("secret_base32", "otpauth_uri", "digits", "period_seconds")
    SECRET_BASE32_FIELD_NUMBER: _ClassVar[int]
    OTPAUTH_URI_FIELD_NUMBER: _ClassVar[int]
    DIGITS_FIELD_NUMBER: _ClassVar[int]
    PERIOD_SECONDS_FIELD_NUMBER: _ClassVar[int]
    secret_base32: str
    otpauth_uri: str
    digits: int
    period_seconds: int
    def __init__(self, secret_base32: _Optional[str] = ..., otpauth_uri: _Optional[str] = ..., digits: _Optional[int] = ..., period_seconds: _Optional[int] = ...) -> None: ...

class ConfirmTotpEnrolmentRequest(_message.Message):
    __slots__ = ("code",)
    CODE_FIELD_NUMBER: _ClassVar[int]
    code: str
    def __init__(self, code: _Optional[str] = ...) -> None: ...

class ConfirmTotpEnrolmentResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RegisterPublicKeyRequest(_message.Message):
    __slots__ = ("public_key_pem", "certificate")
    PUBLIC_KEY_PEM_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    public_key_pem: str
    certificate: bytes
    def __init__(self, public_key_pem: _Optional[str] = ..., certificate: _Optional[bytes] = ...) -> None: ...

class RegisterPublicKeyResponse(_message.Message):
    __slots__ = ("key_id",)
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    def __init__(self, key_id: _Optional[str] = ...) -> None: ...

class LogoutEverywhereRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class LogoutEverywhereResponse(_message.Message):
    __slots__ = ("sessions_ended",)
    SESSIONS_ENDED_FIELD_NUMBER: _ClassVar[int]
    sessions_ended: int
    def __init__(self, sessions_ended: _Optional[int] = ...) -> None: ...

class RegisterOrganisationRequest(_message.Message):
    __slots__ = ("uscc", "name")
    USCC_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    uscc: str
    name: str
    def __init__(self, uscc: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class RegisterOrganisationResponse(_message.Message):
    __slots__ = ("organisation",)
    ORGANISATION_FIELD_NUMBER: _ClassVar[int]
    organisation: Organisation
    def __init__(self, organisation: _Optional[_Union[Organisation, _Mapping]] = ...) -> None: ...

class Organisation(_message.Message):
    __slots__ = ("uscc", "name", "roles")
    USCC_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    uscc: str
    name: str
    roles: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, uscc: _Optional[str] = ..., name: _Optional[str] = ..., roles: _Optional[_Iterable[str]] = ...) -> None: ...

class Grant(_message.Message):
    __slots__ = ("grant_id", "uscc", "person_masked_id", "person_name", "role", "all_matters", "matters", "valid_from", "valid_until", "revoke_time", "in_force")
    GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    USCC_FIELD_NUMBER: _ClassVar[int]
    PERSON_MASKED_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_NAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    ALL_MATTERS_FIELD_NUMBER: _ClassVar[int]
    MATTERS_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    REVOKE_TIME_FIELD_NUMBER: _ClassVar[int]
    IN_FORCE_FIELD_NUMBER: _ClassVar[int]
    grant_id: str
    uscc: str
    person_masked_id: str
    person_name: str
    role: GrantRole
    all_matters: bool
    matters: _containers.RepeatedScalarFieldContainer[str]
    valid_from: _timestamp_pb2.Timestamp
    valid_until: _timestamp_pb2.Timestamp
    revoke_time: _timestamp_pb2.Timestamp
    in_force: bool
    def __init__(self, grant_id: _Optional[str] = ..., uscc: _Optional[str] = ..., person_masked_id: _Optional[str] = ..., person_name: _Optional[str] = ..., role: _Optional[_Union[GrantRole, str]] = ..., all_matters: _Optional[bool] = ..., matters: _Optional[_Iterable[str]] = ..., valid_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., valid_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoke_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., in_force: _Optional[bool] = ...) -> None: ...

class CreateGrantRequest(_message.Message):
    __slots__ = ("uscc", "id_number", "role", "all_matters", "matters", "valid_from", "valid_until")
    USCC_FIELD_NUMBER: _ClassVar[int]
    ID_NUMBER_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    ALL_MATTERS_FIELD_NUMBER: _ClassVar[int]
    MATTERS_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    uscc: str
    id_number: str
    role: GrantRole
    all_matters: bool
    matters: _containers.RepeatedScalarFieldContainer[str]
    valid_from: _timestamp_pb2.Timestamp
    valid_until: _timestamp_pb2.Timestamp
    def __init__(self, uscc: _Optional[str] = ..., id_number: _Optional[str] = ..., role: _Optional[_Union[GrantRole, str]] = ..., all_matters: _Optional[bool] = ..., matters: _Optional[_Iterable[str]] = ..., valid_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., valid_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateGrantResponse(_message.Message):
    __slots__ = ("grant",)
    GRANT_FIELD_NUMBER: _ClassVar[int]
    grant: Grant
    def __init__(self, grant: _Optional[_Union[Grant, _Mapping]] = ...) -> None: ...

class RevokeGrantRequest(_message.Message):
    __slots__ = ("uscc", "grant_id")
    USCC_FIELD_NUMBER: _ClassVar[int]
    GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    uscc: str
    grant_id: str
    def __init__(self, uscc: _Optional[str] = ..., grant_id: _Optional[str] = ...) -> None: ...

class RevokeGrantResponse(_message.Message):
    __slots__ = ("grant",)
    GRANT_FIELD_NUMBER: _ClassVar[int]
    grant: Grant
    def __init__(self, grant: _Optional[_Union[Grant, _Mapping]] = ...) -> None: ...

class ListGrantsRequest(_message.Message):
    __slots__ = ("uscc", "page")
    USCC_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    uscc: str
    page: _common_pb2.PageRequest
    def __init__(self, uscc: _Optional[str] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class ListGrantsResponse(_message.Message):
    __slots__ = ("grants", "page")
    GRANTS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    grants: _containers.RepeatedCompositeFieldContainer[Grant]
    page: _common_pb2.PageResponse
    def __init__(self, grants: _Optional[_Iterable[_Union[Grant, _Mapping]]] = ..., page: _Optional[_Union[_common_pb2.PageResponse, _Mapping]] = ...) -> None: ...

class ListMyOrganisationsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListMyOrganisationsResponse(_message.Message):
    __slots__ = ("organisations",)
    ORGANISATIONS_FIELD_NUMBER: _ClassVar[int]
    organisations: _containers.RepeatedCompositeFieldContainer[Organisation]
    def __init__(self, organisations: _Optional[_Iterable[_Union[Organisation, _Mapping]]] = ...) -> None: ...

class SwitchOrganisationRequest(_message.Message):
    __slots__ = ("uscc",)
    USCC_FIELD_NUMBER: _ClassVar[int]
    uscc: str
    def __init__(self, uscc: _Optional[str] = ...) -> None: ...

class SwitchOrganisationResponse(_message.Message):
    __slots__ = ("tokens",)
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    tokens: TokenSet
    def __init__(self, tokens: _Optional[_Union[TokenSet, _Mapping]] = ...) -> None: ...

class CreateFederationAssertionRequest(_message.Message):
    __slots__ = ("audience_node",)
    AUDIENCE_NODE_FIELD_NUMBER: _ClassVar[int]
    audience_node: str
    def __init__(self, audience_node: _Optional[str] = ...) -> None: ...

class CreateFederationAssertionResponse(_message.Message):
    __slots__ = ("assertion",)
    ASSERTION_FIELD_NUMBER: _ClassVar[int]
    assertion: str
    def __init__(self, assertion: _Optional[str] = ...) -> None: ...

class ExchangeFederationAssertionRequest(_message.Message):
    __slots__ = ("assertion",)
    ASSERTION_FIELD_NUMBER: _ClassVar[int]
    assertion: str
    def __init__(self, assertion: _Optional[str] = ...) -> None: ...

class ExchangeFederationAssertionResponse(_message.Message):
    __slots__ = ("tokens",)
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    tokens: TokenSet
    def __init__(self, tokens: _Optional[_Union[TokenSet, _Mapping]] = ...) -> None: ...
