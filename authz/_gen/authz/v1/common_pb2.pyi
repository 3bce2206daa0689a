from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ContextKeyType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONTEXT_KEY_TYPE_UNSPECIFIED: _ClassVar[ContextKeyType]
    CONTEXT_KEY_TYPE_STRING: _ClassVar[ContextKeyType]
    CONTEXT_KEY_TYPE_STRING_LIST: _ClassVar[ContextKeyType]
    CONTEXT_KEY_TYPE_NUMERIC: _ClassVar[ContextKeyType]
    CONTEXT_KEY_TYPE_NUMERIC_LIST: _ClassVar[ContextKeyType]
    CONTEXT_KEY_TYPE_BOOLEAN: _ClassVar[ContextKeyType]
    CONTEXT_KEY_TYPE_BOOLEAN_LIST: _ClassVar[ContextKeyType]
    CONTEXT_KEY_TYPE_DATE: _ClassVar[ContextKeyType]
    CONTEXT_KEY_TYPE_DATE_LIST: _ClassVar[ContextKeyType]
    CONTEXT_KEY_TYPE_IP: _ClassVar[ContextKeyType]
    CONTEXT_KEY_TYPE_IP_LIST: _ClassVar[ContextKeyType]
    CONTEXT_KEY_TYPE_BINARY: _ClassVar[ContextKeyType]
    CONTEXT_KEY_TYPE_BINARY_LIST: _ClassVar[ContextKeyType]
CONTEXT_KEY_TYPE_UNSPECIFIED: ContextKeyType
CONTEXT_KEY_TYPE_STRING: ContextKeyType
CONTEXT_KEY_TYPE_STRING_LIST: ContextKeyType
CONTEXT_KEY_TYPE_NUMERIC: ContextKeyType
CONTEXT_KEY_TYPE_NUMERIC_LIST: ContextKeyType
CONTEXT_KEY_TYPE_BOOLEAN: ContextKeyType
CONTEXT_KEY_TYPE_BOOLEAN_LIST: ContextKeyType
CONTEXT_KEY_TYPE_DATE: ContextKeyType
CONTEXT_KEY_TYPE_DATE_LIST: ContextKeyType
CONTEXT_KEY_TYPE_IP: ContextKeyType
CONTEXT_KEY_TYPE_IP_LIST: ContextKeyType
CONTEXT_KEY_TYPE_BINARY: ContextKeyType
CONTEXT_KEY_TYPE_BINARY_LIST: ContextKeyType

class ContextEntry(_message.Message):
    __slots__ = ("key", "values", "type")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    key: str
    values: _containers.RepeatedScalarFieldContainer[str]
    type: ContextKeyType
    def __init__(self, key: _Optional[str] = ..., values: _Optional[_Iterable[str]] = ..., type: _Optional[_Union[ContextKeyType, str]] = ...) -> None: ...

class MatchedStatement(_message.Message):
    __slots__ = ("source_policy_id", "source_policy_type", "statement_id", "effect", "source_file")
    SOURCE_POLICY_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_POLICY_TYPE_FIELD_NUMBER: _ClassVar[int]
    STATEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    EFFECT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FILE_FIELD_NUMBER: _ClassVar[int]
    source_policy_id: str
    source_policy_type: str
    statement_id: str
    effect: str
    source_file: str
    def __init__(self, source_policy_id: _Optional[str] = ..., source_policy_type: _Optional[str] = ..., statement_id: _Optional[str] = ..., effect: _Optional[str] = ..., source_file: _Optional[str] = ...) -> None: ...
