import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReplaySource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REPLAY_SOURCE_UNSPECIFIED: _ClassVar[ReplaySource]
    REPLAY_SOURCE_GENERATED: _ClassVar[ReplaySource]
    REPLAY_SOURCE_AUDIT_LOG: _ClassVar[ReplaySource]
REPLAY_SOURCE_UNSPECIFIED: ReplaySource
REPLAY_SOURCE_GENERATED: ReplaySource
REPLAY_SOURCE_AUDIT_LOG: ReplaySource

class RevokeSessionRequest(_message.Message):
    __slots__ = ("session_id", "access_key_id", "reason", "expires_at")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    ACCESS_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    access_key_id: str
    reason: str
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, session_id: _Optional[str] = ..., access_key_id: _Optional[str] = ..., reason: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RevokeSessionResponse(_message.Message):
    __slots__ = ("kind", "id", "revoked_at", "expires_at")
    KIND_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    kind: str
    id: str
    revoked_at: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, kind: _Optional[str] = ..., id: _Optional[str] = ..., revoked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ReloadRequest(_message.Message):
    __slots__ = ("force",)
    FORCE_FIELD_NUMBER: _ClassVar[int]
    force: bool
    def __init__(self, force: _Optional[bool] = ...) -> None: ...

class PreviewReloadRequest(_message.Message):
    __slots__ = ("source", "max_requests", "max_seconds")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    MAX_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    MAX_SECONDS_FIELD_NUMBER: _ClassVar[int]
    source: ReplaySource
    max_requests: int
    max_seconds: float
    def __init__(self, source: _Optional[_Union[ReplaySource, str]] = ..., max_requests: _Optional[int] = ..., max_seconds: _Optional[float] = ...) -> None: ...

class ReplayedDecision(_message.Message):
    __slots__ = ("decision", "deciding_statements", "failing_layer", "error")
    DECISION_FIELD_NUMBER: _ClassVar[int]
    DECIDING_STATEMENTS_FIELD_NUMBER: _ClassVar[int]
    FAILING_LAYER_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    decision: str
    deciding_statements: _containers.RepeatedScalarFieldContainer[str]
    failing_layer: str
    error: str
    def __init__(self, decision: _Optional[str] = ..., deciding_statements: _Optional[_Iterable[str]] = ..., failing_layer: _Optional[str] = ..., error: _Optional[str] = ...) -> None: ...

class ChangedDecision(_message.Message):
    __slots__ = ("principal", "action", "resource", "origin", "serving", "candidate")
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    SERVING_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_FIELD_NUMBER: _ClassVar[int]
    principal: str
    action: str
    resource: str
    origin: str
    serving: ReplayedDecision
    candidate: ReplayedDecision
    def __init__(self, principal: _Optional[str] = ..., action: _Optional[str] = ..., resource: _Optional[str] = ..., origin: _Optional[str] = ..., serving: _Optional[_Union[ReplayedDecision, _Mapping]] = ..., candidate: _Optional[_Union[ReplayedDecision, _Mapping]] = ...) -> None: ...

class PreviewReloadResponse(_message.Message):
    __slots__ = ("serving_revision", "candidate_revision", "requests_replayed", "complete", "changed", "problems", "seconds")
    SERVING_REVISION_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_REVISION_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_REPLAYED_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    PROBLEMS_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    serving_revision: str
    candidate_revision: str
    requests_replayed: int
    complete: bool
    changed: _containers.RepeatedCompositeFieldContainer[ChangedDecision]
    problems: _containers.RepeatedCompositeFieldContainer[RepositoryProblem]
    seconds: float
    def __init__(self, serving_revision: _Optional[str] = ..., candidate_revision: _Optional[str] = ..., requests_replayed: _Optional[int] = ..., complete: _Optional[bool] = ..., changed: _Optional[_Iterable[_Union[ChangedDecision, _Mapping]]] = ..., problems: _Optional[_Iterable[_Union[RepositoryProblem, _Mapping]]] = ..., seconds: _Optional[float] = ...) -> None: ...

class RepositoryProblem(_message.Message):
    __slots__ = ("file", "path", "code", "message")
    FILE_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    file: str
    path: str
    code: str
    message: str
    def __init__(self, file: _Optional[str] = ..., path: _Optional[str] = ..., code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class ReloadResponse(_message.Message):
    __slots__ = ("revision", "changed", "error", "problems")
    REVISION_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    PROBLEMS_FIELD_NUMBER: _ClassVar[int]
    revision: str
    changed: bool
    error: str
    problems: _containers.RepeatedCompositeFieldContainer[RepositoryProblem]
    def __init__(self, revision: _Optional[str] = ..., changed: _Optional[bool] = ..., error: _Optional[str] = ..., problems: _Optional[_Iterable[_Union[RepositoryProblem, _Mapping]]] = ...) -> None: ...

class GetStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetStatusResponse(_message.Message):
    __slots__ = ("revision", "loaded_at", "counts", "last_reload_error", "cache_stats", "ready", "last_reload_problems", "last_reload_attempt")
    class CountsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class CacheStatsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    REVISION_FIELD_NUMBER: _ClassVar[int]
    LOADED_AT_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    LAST_RELOAD_ERROR_FIELD_NUMBER: _ClassVar[int]
    CACHE_STATS_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    LAST_RELOAD_PROBLEMS_FIELD_NUMBER: _ClassVar[int]
    LAST_RELOAD_ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    revision: str
    loaded_at: _timestamp_pb2.Timestamp
    counts: _containers.ScalarMap[str, int]
    last_reload_error: str
    cache_stats: _containers.ScalarMap[str, int]
    ready: bool
    last_reload_problems: _containers.RepeatedCompositeFieldContainer[RepositoryProblem]
    last_reload_attempt: _timestamp_pb2.Timestamp
    def __init__(self, revision: _Optional[str] = ..., loaded_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., counts: _Optional[_Mapping[str, int]] = ..., last_reload_error: _Optional[str] = ..., cache_stats: _Optional[_Mapping[str, int]] = ..., ready: _Optional[bool] = ..., last_reload_problems: _Optional[_Iterable[_Union[RepositoryProblem, _Mapping]]] = ..., last_reload_attempt: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
