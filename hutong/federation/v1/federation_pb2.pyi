from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class GetTrustListRequest(_message.Message):
    __slots__ = ("known_sequence",)
    KNOWN_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    known_sequence: int
    def __init__(self, known_sequence: _Optional[int] = ...) -> None: ...

class GetTrustListResponse(_message.Message):
    __slots__ = ("trust_list", "sequence")
    TRUST_LIST_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    trust_list: str
    sequence: int
    def __init__(self, trust_list: _Optional[str] = ..., sequence: _Optional[int] = ...) -> None: ...

class DescribeNodeRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DescribeNodeResponse(_message.Message):
    __slots__ = ("descriptor_json",)
    DESCRIPTOR_JSON_FIELD_NUMBER: _ClassVar[int]
    descriptor_json: str
    def __init__(self, descriptor_json: _Optional[str] = ...) -> None: ...

class RelayRequest(_message.Message):
    __slots__ = ("target_node", "envelope")
    TARGET_NODE_FIELD_NUMBER: _ClassVar[int]
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    target_node: str
    envelope: str
    def __init__(self, target_node: _Optional[str] = ..., envelope: _Optional[str] = ...) -> None: ...

class RelayResponse(_message.Message):
    __slots__ = ("envelope",)
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    envelope: str
    def __init__(self, envelope: _Optional[str] = ...) -> None: ...

class DeliverRequest(_message.Message):
    __slots__ = ("envelope",)
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    envelope: str
    def __init__(self, envelope: _Optional[str] = ...) -> None: ...

class DeliverResponse(_message.Message):
    __slots__ = ("envelope",)
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    envelope: str
    def __init__(self, envelope: _Optional[str] = ...) -> None: ...
