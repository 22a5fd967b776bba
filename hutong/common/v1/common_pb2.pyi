from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class LevelOfAssurance(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LEVEL_OF_ASSURANCE_UNSPECIFIED: _ClassVar[LevelOfAssurance]
    LEVEL_OF_ASSURANCE_LOW: _ClassVar[LevelOfAssurance]
    LEVEL_OF_ASSURANCE_SUBSTANTIAL: _ClassVar[LevelOfAssurance]
    LEVEL_OF_ASSURANCE_HIGH: _ClassVar[LevelOfAssurance]

class PartyKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PARTY_KIND_UNSPECIFIED: _ClassVar[PartyKind]
    PARTY_KIND_NATURAL_PERSON: _ClassVar[PartyKind]
    PARTY_KIND_LEGAL_PERSON: _ClassVar[PartyKind]

class Verdict(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERDICT_UNSPECIFIED: _ClassVar[Verdict]
    VERDICT_VALID: _ClassVar[Verdict]
    VERDICT_INVALID: _ClassVar[Verdict]
    VERDICT_INDETERMINATE: _ClassVar[Verdict]
LEVEL_OF_ASSURANCE_UNSPECIFIED: LevelOfAssurance
LEVEL_OF_ASSURANCE_LOW: LevelOfAssurance
LEVEL_OF_ASSURANCE_SUBSTANTIAL: LevelOfAssurance
LEVEL_OF_ASSURANCE_HIGH: LevelOfAssurance
PARTY_KIND_UNSPECIFIED: PartyKind
PARTY_KIND_NATURAL_PERSON: PartyKind
PARTY_KIND_LEGAL_PERSON: PartyKind
VERDICT_UNSPECIFIED: Verdict
VERDICT_VALID: Verdict
VERDICT_INVALID: Verdict
VERDICT_INDETERMINATE: Verdict

class PageRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class PageResponse(_message.Message):
    __slots__ = ("next_page_token",)
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    next_page_token: str
    def __init__(self, next_page_token: _Optional[str] = ...) -> None: ...

class Chunk(_message.Message):
    __slots__ = ("data",)
    DATA_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    def __init__(self, data: _Optional[bytes] = ...) -> None: ...

class VerificationFinding(_message.Message):
    __slots__ = ("reason", "message", "fatal")
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FATAL_FIELD_NUMBER: _ClassVar[int]
    reason: str
    message: str
    fatal: bool
    def __init__(self, reason: _Optional[str] = ..., message: _Optional[str] = ..., fatal: _Optional[bool] = ...) -> None: ...

class CertificateChain(_message.Message):
    __slots__ = ("certificates_der",)
    CERTIFICATES_DER_FIELD_NUMBER: _ClassVar[int]
    certificates_der: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, certificates_der: _Optional[_Iterable[bytes]] = ...) -> None: ...

class NodeInfo(_message.Message):
    __slots__ = ("node_id", "node_name")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_NAME_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    node_name: str
    def __init__(self, node_id: _Optional[str] = ..., node_name: _Optional[str] = ...) -> None: ...
