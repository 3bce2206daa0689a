from authz._gen.authz.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PolicyType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    POLICY_TYPE_UNSPECIFIED: _ClassVar[PolicyType]
    POLICY_TYPE_IDENTITY: _ClassVar[PolicyType]
    POLICY_TYPE_MANAGED: _ClassVar[PolicyType]
    POLICY_TYPE_TRUST: _ClassVar[PolicyType]
    POLICY_TYPE_RESOURCE: _ClassVar[PolicyType]
    POLICY_TYPE_BOUNDARY: _ClassVar[PolicyType]
    POLICY_TYPE_SESSION: _ClassVar[PolicyType]
    POLICY_TYPE_SCP: _ClassVar[PolicyType]
POLICY_TYPE_UNSPECIFIED: PolicyType
POLICY_TYPE_IDENTITY: PolicyType
POLICY_TYPE_MANAGED: PolicyType
POLICY_TYPE_TRUST: PolicyType
POLICY_TYPE_RESOURCE: PolicyType
POLICY_TYPE_BOUNDARY: PolicyType
POLICY_TYPE_SESSION: PolicyType
POLICY_TYPE_SCP: PolicyType

class SimulationContextEntry(_message.Message):
    __slots__ = ("context_key_name", "context_key_values", "context_key_type")
    CONTEXT_KEY_NAME_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_KEY_VALUES_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_KEY_TYPE_FIELD_NUMBER: _ClassVar[int]
    context_key_name: str
    context_key_values: _containers.RepeatedScalarFieldContainer[str]
    context_key_type: str
    def __init__(self, context_key_name: _Optional[str] = ..., context_key_values: _Optional[_Iterable[str]] = ..., context_key_type: _Optional[str] = ...) -> None: ...

class ServiceControlPolicyLevel(_message.Message):
    __slots__ = ("policy_input_list",)
    POLICY_INPUT_LIST_FIELD_NUMBER: _ClassVar[int]
    policy_input_list: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, policy_input_list: _Optional[_Iterable[str]] = ...) -> None: ...

class SimulatePrincipalPolicyRequest(_message.Message):
    __slots__ = ("policy_source_arn", "policy_input_list", "permissions_boundary_policy_input_list", "action_names", "resource_arns", "resource_policy", "resource_owner", "caller_arn", "context_entries", "resource_handling_option", "max_items", "marker", "session_policy_input_list", "service_control_policy_levels")
    POLICY_SOURCE_ARN_FIELD_NUMBER: _ClassVar[int]
    POLICY_INPUT_LIST_FIELD_NUMBER: _ClassVar[int]
    PERMISSIONS_BOUNDARY_POLICY_INPUT_LIST_FIELD_NUMBER: _ClassVar[int]
    ACTION_NAMES_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_ARNS_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_POLICY_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_OWNER_FIELD_NUMBER: _ClassVar[int]
    CALLER_ARN_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_HANDLING_OPTION_FIELD_NUMBER: _ClassVar[int]
    MAX_ITEMS_FIELD_NUMBER: _ClassVar[int]
    MARKER_FIELD_NUMBER: _ClassVar[int]
    SESSION_POLICY_INPUT_LIST_FIELD_NUMBER: _ClassVar[int]
    SERVICE_CONTROL_POLICY_LEVELS_FIELD_NUMBER: _ClassVar[int]
    policy_source_arn: str
    policy_input_list: _containers.RepeatedScalarFieldContainer[str]
    permissions_boundary_policy_input_list: _containers.RepeatedScalarFieldContainer[str]
    action_names: _containers.RepeatedScalarFieldContainer[str]
    resource_arns: _containers.RepeatedScalarFieldContainer[str]
    resource_policy: str
    resource_owner: str
    caller_arn: str
    context_entries: _containers.RepeatedCompositeFieldContainer[SimulationContextEntry]
    resource_handling_option: str
    max_items: int
    marker: str
    session_policy_input_list: _containers.RepeatedScalarFieldContainer[str]
    service_control_policy_levels: _containers.RepeatedCompositeFieldContainer[ServiceControlPolicyLevel]
    def __init__(self, policy_source_arn: _Optional[str] = ..., policy_input_list: _Optional[_Iterable[str]] = ..., permissions_boundary_policy_input_list: _Optional[_Iterable[str]] = ..., action_names: _Optional[_Iterable[str]] = ..., resource_arns: _Optional[_Iterable[str]] = ..., resource_policy: _Optional[str] = ..., resource_owner: _Optional[str] = ..., caller_arn: _Optional[str] = ..., context_entries: _Optional[_Iterable[_Union[SimulationContextEntry, _Mapping]]] = ..., resource_handling_option: _Optional[str] = ..., max_items: _Optional[int] = ..., marker: _Optional[str] = ..., session_policy_input_list: _Optional[_Iterable[str]] = ..., service_control_policy_levels: _Optional[_Iterable[_Union[ServiceControlPolicyLevel, _Mapping]]] = ...) -> None: ...

class SimulateCustomPolicyRequest(_message.Message):
    __slots__ = ("policy_input_list", "permissions_boundary_policy_input_list", "action_names", "resource_arns", "resource_policy", "resource_owner", "caller_arn", "context_entries", "resource_handling_option", "max_items", "marker", "session_policy_input_list", "service_control_policy_levels", "resource_control_policy_levels")
    POLICY_INPUT_LIST_FIELD_NUMBER: _ClassVar[int]
    PERMISSIONS_BOUNDARY_POLICY_INPUT_LIST_FIELD_NUMBER: _ClassVar[int]
    ACTION_NAMES_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_ARNS_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_POLICY_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_OWNER_FIELD_NUMBER: _ClassVar[int]
    CALLER_ARN_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_HANDLING_OPTION_FIELD_NUMBER: _ClassVar[int]
    MAX_ITEMS_FIELD_NUMBER: _ClassVar[int]
    MARKER_FIELD_NUMBER: _ClassVar[int]
    SESSION_POLICY_INPUT_LIST_FIELD_NUMBER: _ClassVar[int]
    SERVICE_CONTROL_POLICY_LEVELS_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_CONTROL_POLICY_LEVELS_FIELD_NUMBER: _ClassVar[int]
    policy_input_list: _containers.RepeatedScalarFieldContainer[str]
    permissions_boundary_policy_input_list: _containers.RepeatedScalarFieldContainer[str]
    action_names: _containers.RepeatedScalarFieldContainer[str]
    resource_arns: _containers.RepeatedScalarFieldContainer[str]
    resource_policy: str
    resource_owner: str
    caller_arn: str
    context_entries: _containers.RepeatedCompositeFieldContainer[SimulationContextEntry]
    resource_handling_option: str
    max_items: int
    marker: str
    session_policy_input_list: _containers.RepeatedScalarFieldContainer[str]
    service_control_policy_levels: _containers.RepeatedCompositeFieldContainer[ServiceControlPolicyLevel]
    resource_control_policy_levels: _containers.RepeatedCompositeFieldContainer[ServiceControlPolicyLevel]
    def __init__(self, policy_input_list: _Optional[_Iterable[str]] = ..., permissions_boundary_policy_input_list: _Optional[_Iterable[str]] = ..., action_names: _Optional[_Iterable[str]] = ..., resource_arns: _Optional[_Iterable[str]] = ..., resource_policy: _Optional[str] = ..., resource_owner: _Optional[str] = ..., caller_arn: _Optional[str] = ..., context_entries: _Optional[_Iterable[_Union[SimulationContextEntry, _Mapping]]] = ..., resource_handling_option: _Optional[str] = ..., max_items: _Optional[int] = ..., marker: _Optional[str] = ..., session_policy_input_list: _Optional[_Iterable[str]] = ..., service_control_policy_levels: _Optional[_Iterable[_Union[ServiceControlPolicyLevel, _Mapping]]] = ..., resource_control_policy_levels: _Optional[_Iterable[_Union[ServiceControlPolicyLevel, _Mapping]]] = ...) -> None: ...

class OrganizationsDecisionDetail(_message.Message):
    __slots__ = ("allowed_by_organizations",)
    ALLOWED_BY_ORGANIZATIONS_FIELD_NUMBER: _ClassVar[int]
    allowed_by_organizations: bool
    def __init__(self, allowed_by_organizations: _Optional[bool] = ...) -> None: ...

class PermissionsBoundaryDecisionDetail(_message.Message):
    __slots__ = ("allowed_by_permissions_boundary",)
    ALLOWED_BY_PERMISSIONS_BOUNDARY_FIELD_NUMBER: _ClassVar[int]
    allowed_by_permissions_boundary: bool
    def __init__(self, allowed_by_permissions_boundary: _Optional[bool] = ...) -> None: ...

class EvaluationResult(_message.Message):
    __slots__ = ("eval_action_name", "eval_resource_name", "eval_decision", "matched_statements", "missing_context_values", "organizations_decision_detail", "permissions_boundary_decision_detail", "eval_decision_details")
    class EvalDecisionDetailsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    EVAL_ACTION_NAME_FIELD_NUMBER: _ClassVar[int]
    EVAL_RESOURCE_NAME_FIELD_NUMBER: _ClassVar[int]
    EVAL_DECISION_FIELD_NUMBER: _ClassVar[int]
    MATCHED_STATEMENTS_FIELD_NUMBER: _ClassVar[int]
    MISSING_CONTEXT_VALUES_FIELD_NUMBER: _ClassVar[int]
    ORGANIZATIONS_DECISION_DETAIL_FIELD_NUMBER: _ClassVar[int]
    PERMISSIONS_BOUNDARY_DECISION_DETAIL_FIELD_NUMBER: _ClassVar[int]
    EVAL_DECISION_DETAILS_FIELD_NUMBER: _ClassVar[int]
    eval_action_name: str
    eval_resource_name: str
    eval_decision: str
    matched_statements: _containers.RepeatedCompositeFieldContainer[_common_pb2.MatchedStatement]
    missing_context_values: _containers.RepeatedScalarFieldContainer[str]
    organizations_decision_detail: OrganizationsDecisionDetail
    permissions_boundary_decision_detail: PermissionsBoundaryDecisionDetail
    eval_decision_details: _containers.ScalarMap[str, str]
    def __init__(self, eval_action_name: _Optional[str] = ..., eval_resource_name: _Optional[str] = ..., eval_decision: _Optional[str] = ..., matched_statements: _Optional[_Iterable[_Union[_common_pb2.MatchedStatement, _Mapping]]] = ..., missing_context_values: _Optional[_Iterable[str]] = ..., organizations_decision_detail: _Optional[_Union[OrganizationsDecisionDetail, _Mapping]] = ..., permissions_boundary_decision_detail: _Optional[_Union[PermissionsBoundaryDecisionDetail, _Mapping]] = ..., eval_decision_details: _Optional[_Mapping[str, str]] = ...) -> None: ...

class SimulatePrincipalPolicyResponse(_message.Message):
    __slots__ = ("evaluation_results", "is_truncated", "marker")
    EVALUATION_RESULTS_FIELD_NUMBER: _ClassVar[int]
    IS_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    MARKER_FIELD_NUMBER: _ClassVar[int]
    evaluation_results: _containers.RepeatedCompositeFieldContainer[EvaluationResult]
    is_truncated: bool
    marker: str
    def __init__(self, evaluation_results: _Optional[_Iterable[_Union[EvaluationResult, _Mapping]]] = ..., is_truncated: _Optional[bool] = ..., marker: _Optional[str] = ...) -> None: ...

class SimulateCustomPolicyResponse(_message.Message):
    __slots__ = ("evaluation_results", "is_truncated", "marker")
    EVALUATION_RESULTS_FIELD_NUMBER: _ClassVar[int]
    IS_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    MARKER_FIELD_NUMBER: _ClassVar[int]
    evaluation_results: _containers.RepeatedCompositeFieldContainer[EvaluationResult]
    is_truncated: bool
    marker: str
    def __init__(self, evaluation_results: _Optional[_Iterable[_Union[EvaluationResult, _Mapping]]] = ..., is_truncated: _Optional[bool] = ..., marker: _Optional[str] = ...) -> None: ...

class ValidatePolicyRequest(_message.Message):
    __slots__ = ("policy_type", "policy_document")
    POLICY_TYPE_FIELD_NUMBER: _ClassVar[int]
    POLICY_DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    policy_type: PolicyType
    policy_document: str
    def __init__(self, policy_type: _Optional[_Union[PolicyType, str]] = ..., policy_document: _Optional[str] = ...) -> None: ...

class ValidatePolicyResponse(_message.Message):
    __slots__ = ("valid", "error_code", "message")
    VALID_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    valid: bool
    error_code: str
    message: str
    def __init__(self, valid: _Optional[bool] = ..., error_code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...
