import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReloadRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

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
