from authz._gen.authz.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Decision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DECISION_UNSPECIFIED: _ClassVar[Decision]
    DECISION_ALLOWED: _ClassVar[Decision]
    DECISION_EXPLICIT_DENY: _ClassVar[Decision]
    DECISION_IMPLICIT_DENY: _ClassVar[Decision]
DECISION_UNSPECIFIED: Decision
DECISION_ALLOWED: Decision
DECISION_EXPLICIT_DENY: Decision
DECISION_IMPLICIT_DENY: Decision

class AuthorizeRequest(_message.Message):
    __slots__ = ("action", "resource", "resource_account", "context", "session_token", "principal_arn")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    SESSION_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_ARN_FIELD_NUMBER: _ClassVar[int]
    action: str
    resource: str
    resource_account: str
    context: _containers.RepeatedCompositeFieldContainer[_common_pb2.ContextEntry]
    session_token: str
    principal_arn: str
    def __init__(self, action: _Optional[str] = ..., resource: _Optional[str] = ..., resource_account: _Optional[str] = ..., context: _Optional[_Iterable[_Union[_common_pb2.ContextEntry, _Mapping]]] = ..., session_token: _Optional[str] = ..., principal_arn: _Optional[str] = ...) -> None: ...

class AuthorizeResponse(_message.Message):
    __slots__ = ("decision", "matched_statements", "failing_layer", "reason", "missing_context_values", "revision", "principal_arn")
    DECISION_FIELD_NUMBER: _ClassVar[int]
    MATCHED_STATEMENTS_FIELD_NUMBER: _ClassVar[int]
    FAILING_LAYER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MISSING_CONTEXT_VALUES_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_ARN_FIELD_NUMBER: _ClassVar[int]
    decision: Decision
    matched_statements: _containers.RepeatedCompositeFieldContainer[_common_pb2.MatchedStatement]
    failing_layer: str
    reason: str
    missing_context_values: _containers.RepeatedScalarFieldContainer[str]
    revision: str
    principal_arn: str
    def __init__(self, decision: _Optional[_Union[Decision, str]] = ..., matched_statements: _Optional[_Iterable[_Union[_common_pb2.MatchedStatement, _Mapping]]] = ..., failing_layer: _Optional[str] = ..., reason: _Optional[str] = ..., missing_context_values: _Optional[_Iterable[str]] = ..., revision: _Optional[str] = ..., principal_arn: _Optional[str] = ...) -> None: ...

class AuthorizeBatchRequest(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[AuthorizeRequest]
    def __init__(self, items: _Optional[_Iterable[_Union[AuthorizeRequest, _Mapping]]] = ...) -> None: ...

class AuthorizeBatchResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[AuthorizeResponse]
    def __init__(self, results: _Optional[_Iterable[_Union[AuthorizeResponse, _Mapping]]] = ...) -> None: ...
