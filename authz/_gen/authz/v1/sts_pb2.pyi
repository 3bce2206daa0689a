import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Tag(_message.Message):
    __slots__ = ("key", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: str
    def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class AssumeRoleRequest(_message.Message):
    __slots__ = ("role_arn", "role_session_name", "duration_seconds", "external_id", "policy", "policy_arns", "tags", "transitive_tag_keys", "serial_number", "token_code", "source_identity")
    ROLE_ARN_FIELD_NUMBER: _ClassVar[int]
    ROLE_SESSION_NAME_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_ID_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    POLICY_ARNS_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    TRANSITIVE_TAG_KEYS_FIELD_NUMBER: _ClassVar[int]
    SERIAL_NUMBER_FIELD_NUMBER: _ClassVar[int]
    TOKEN_CODE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_IDENTITY_FIELD_NUMBER: _ClassVar[int]
    role_arn: str
    role_session_name: str
    duration_seconds: int
    external_id: str
    policy: str
    policy_arns: _containers.RepeatedCompositeFieldContainer[PolicyDescriptorType]
    tags: _containers.RepeatedCompositeFieldContainer[Tag]
    transitive_tag_keys: _containers.RepeatedScalarFieldContainer[str]
    serial_number: str
    token_code: str
    source_identity: str
    def __init__(self, role_arn: _Optional[str] = ..., role_session_name: _Optional[str] = ..., duration_seconds: _Optional[int] = ..., external_id: _Optional[str] = ..., policy: _Optional[str] = ..., policy_arns: _Optional[_Iterable[_Union[PolicyDescriptorType, _Mapping]]] = ..., tags: _Optional[_Iterable[_Union[Tag, _Mapping]]] = ..., transitive_tag_keys: _Optional[_Iterable[str]] = ..., serial_number: _Optional[str] = ..., token_code: _Optional[str] = ..., source_identity: _Optional[str] = ...) -> None: ...

class PolicyDescriptorType(_message.Message):
    __slots__ = ("arn",)
    ARN_FIELD_NUMBER: _ClassVar[int]
    arn: str
    def __init__(self, arn: _Optional[str] = ...) -> None: ...

class Credentials(_message.Message):
    __slots__ = ("access_key_id", "secret_access_key", "session_token", "expiration")
    ACCESS_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    SECRET_ACCESS_KEY_FIELD_NUMBER: _ClassVar[int]
    SESSION_TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRATION_FIELD_NUMBER: _ClassVar[int]
    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: _timestamp_pb2.Timestamp
    def __init__(self, access_key_id: _Optional[str] = ..., secret_access_key: _Optional[str] = ..., session_token: _Optional[str] = ..., expiration: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AssumedRoleUser(_message.Message):
    __slots__ = ("arn", "assumed_role_id")
    ARN_FIELD_NUMBER: _ClassVar[int]
    ASSUMED_ROLE_ID_FIELD_NUMBER: _ClassVar[int]
    arn: str
    assumed_role_id: str
    def __init__(self, arn: _Optional[str] = ..., assumed_role_id: _Optional[str] = ...) -> None: ...

class AssumeRoleResponse(_message.Message):
    __slots__ = ("credentials", "assumed_role_user", "packed_policy_size", "source_identity", "effective_duration_seconds", "duration_capped_by", "revision")
    CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    ASSUMED_ROLE_USER_FIELD_NUMBER: _ClassVar[int]
    PACKED_POLICY_SIZE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_IDENTITY_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    DURATION_CAPPED_BY_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    credentials: Credentials
    assumed_role_user: AssumedRoleUser
    packed_policy_size: int
    source_identity: str
    effective_duration_seconds: int
    duration_capped_by: str
    revision: str
    def __init__(self, credentials: _Optional[_Union[Credentials, _Mapping]] = ..., assumed_role_user: _Optional[_Union[AssumedRoleUser, _Mapping]] = ..., packed_policy_size: _Optional[int] = ..., source_identity: _Optional[str] = ..., effective_duration_seconds: _Optional[int] = ..., duration_capped_by: _Optional[str] = ..., revision: _Optional[str] = ...) -> None: ...

class GetCallerIdentityRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetCallerIdentityResponse(_message.Message):
    __slots__ = ("user_id", "account", "arn")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    ARN_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    account: str
    arn: str
    def __init__(self, user_id: _Optional[str] = ..., account: _Optional[str] = ..., arn: _Optional[str] = ...) -> None: ...

class GetSigningKeysRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetSigningKeysResponse(_message.Message):
    __slots__ = ("jwks_json",)
    JWKS_JSON_FIELD_NUMBER: _ClassVar[int]
    jwks_json: str
    def __init__(self, jwks_json: _Optional[str] = ...) -> None: ...

class AssumeRoleWithWebIdentityRequest(_message.Message):
    __slots__ = ("role_arn", "role_session_name", "web_identity_token", "provider_id", "policy_arns", "policy", "duration_seconds")
    ROLE_ARN_FIELD_NUMBER: _ClassVar[int]
    ROLE_SESSION_NAME_FIELD_NUMBER: _ClassVar[int]
    WEB_IDENTITY_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_ID_FIELD_NUMBER: _ClassVar[int]
    POLICY_ARNS_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    role_arn: str
    role_session_name: str
    web_identity_token: str
    provider_id: str
    policy_arns: _containers.RepeatedCompositeFieldContainer[PolicyDescriptorType]
    policy: str
    duration_seconds: int
    def __init__(self, role_arn: _Optional[str] = ..., role_session_name: _Optional[str] = ..., web_identity_token: _Optional[str] = ..., provider_id: _Optional[str] = ..., policy_arns: _Optional[_Iterable[_Union[PolicyDescriptorType, _Mapping]]] = ..., policy: _Optional[str] = ..., duration_seconds: _Optional[int] = ...) -> None: ...

class AssumeRoleWithWebIdentityResponse(_message.Message):
    __slots__ = ("credentials", "subject_from_web_identity_token", "assumed_role_user", "packed_policy_size", "provider", "audience", "source_identity", "effective_duration_seconds", "duration_capped_by", "revision")
    CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FROM_WEB_IDENTITY_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ASSUMED_ROLE_USER_FIELD_NUMBER: _ClassVar[int]
    PACKED_POLICY_SIZE_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    AUDIENCE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_IDENTITY_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    DURATION_CAPPED_BY_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    credentials: Credentials
    subject_from_web_identity_token: str
    assumed_role_user: AssumedRoleUser
    packed_policy_size: int
    provider: str
    audience: str
    source_identity: str
    effective_duration_seconds: int
    duration_capped_by: str
    revision: str
    def __init__(self, credentials: _Optional[_Union[Credentials, _Mapping]] = ..., subject_from_web_identity_token: _Optional[str] = ..., assumed_role_user: _Optional[_Union[AssumedRoleUser, _Mapping]] = ..., packed_policy_size: _Optional[int] = ..., provider: _Optional[str] = ..., audience: _Optional[str] = ..., source_identity: _Optional[str] = ..., effective_duration_seconds: _Optional[int] = ..., duration_capped_by: _Optional[str] = ..., revision: _Optional[str] = ...) -> None: ...
