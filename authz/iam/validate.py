"""Per-statement checks that depend on the policy type, and string-format checks (spec §1.2,
§1.3), with the AWS ``MalformedPolicyDocument`` messages. Called by ``authz.iam.parse``."""

from __future__ import annotations

import re

from authz.errors import MalformedPolicyDocument
from authz.iam.glob import split_arn
from authz.iam.model import PolicyType, PrincipalSpec, Statement

_ALLOWED_CHARS = re.compile(r"[^\t\n\r\u0020-\u00ff]")
_VENDOR = re.compile(r"^[A-Za-z0-9.\-]+$")
_PARTITIONS = frozenset({"aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b"})
_IAM_RESOURCE_PREFIXES = (
    "user/", "federated-user/", "role/", "group/", "instance-profile/", "mfa/",
    "server-certificate/", "policy/", "sms-mfa/", "saml-provider/", "oidc-provider/",
    "report/", "access-report/", "root",
)  # fmt: skip
# S3 resource types that live in a region (access points, grants, jobs, lens, outposts).
_S3_REGIONAL = ("accesspoint", "access-grants", "job/", "storage-lens", "outpost", "async-request")
_TRUST_ACTION = re.compile(r"^sts:(\*|[A-Za-z*?]*)$", re.IGNORECASE)
_ACCOUNT_ID = re.compile(r"^\d{12}$")
_UNIQUE_ID = re.compile(r"^A[A-Z]{3}[A-Z0-9]{13,}$")
_PRINCIPAL_ARN = re.compile(
    r"^arn:aws[a-z-]*:(iam::\d{12}:(root|user/.+|role/.+|federated-user/.+|saml-provider/.+|"
    r"oidc-provider/.+)|sts::\d{12}:(assumed-role/[^/]+/.+|federated-user/.+))$"
)


def check_characters(text: str, name: str) -> None:
    """Documents may contain only TAB, LF, CR and U+0020–U+00FF (spec §1.3)."""
    bad = _ALLOWED_CHARS.search(text)
    if bad is not None:
        raise MalformedPolicyDocument(
            f"Policy document contains the character U+{ord(bad.group()):04X}, which is not "
            "allowed (only TAB, LF, CR and U+0020-U+00FF).",
            document=name,
            path="$",
        )


def statement_problem(st: Statement, policy_type: PolicyType) -> tuple[str, str] | None:
    """The first problem of a statement as (AWS message, element), or None.

    Order follows moto's observed validation order (spec §1.4): element presence, then
    resource formats, then action formats.
    """
    has_principal = st.principal is not None or st.not_principal is not None
    if policy_type.has_principal:
        if policy_type is PolicyType.TRUST and st.not_principal is not None:
            return ("Has prohibited field NotPrincipal.", "NotPrincipal")
        if not has_principal:
            return ("Policy statement must contain a principal.", "Principal")
    elif has_principal:
        element = "Principal" if st.principal is not None else "NotPrincipal"
        return ("Policy document should not specify a principal.", element)
    if not st.actions and not st.not_actions:
        return ("Policy statement must contain actions.", "Action")
    if policy_type is PolicyType.TRUST:
        if st.resources or st.not_resources:
            return ("Has prohibited field Resource.", "Resource")
    elif policy_type is not PolicyType.RESOURCE and not st.resources and not st.not_resources:
        return ("Policy statement must contain resources.", "Resource")
    for resource in st.resources + st.not_resources:
        message = resource_problem(resource)
        if message is not None:
            return (message, "Resource" if st.resources else "NotResource")
    for action in st.actions + st.not_actions:
        message = action_problem(action)
        if message is not None:
            return (message, "Action" if st.actions else "NotAction")
    if policy_type is PolicyType.TRUST:
        for action in st.actions:
            if action != "*" and not _TRUST_ACTION.match(action):
                return (f"Trust policy action {action} is not an STS action.", "Action")
    for spec, element in ((st.principal, "Principal"), (st.not_principal, "NotPrincipal")):
        if spec is not None:
            message = principal_problem(spec)
            if message is not None:
                return (message, element)
    return None


def action_problem(action: str) -> str | None:
    if action == "*":
        return None
    if ":" not in action:
        return "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
    if action.count(":") > 1:
        return "Actions/Condition can contain only one colon."
    vendor = action.split(":", 1)[0]
    if not _VENDOR.match(vendor):
        return f"Vendor {vendor} is not valid"
    return None


def resource_problem(resource: str) -> str | None:
    if resource == "*":
        return None
    parts = split_arn(resource)
    if parts is None or parts[0] != "arn":
        return f'Resource {resource} must be in ARN format or "*".'
    _, partition, service, region, _account, rest = parts
    if partition not in _PARTITIONS and "*" not in partition and "$" not in partition:
        return f'Partition "{partition}" is not valid for resource "{resource}".'
    if service == "s3" and region and not rest.startswith(_S3_REGIONAL):
        return f"Resource {resource} can not contain region information."
    if service == "iam":
        if region:
            return f"IAM resource {resource} cannot contain region information."
        if rest != "*" and not rest.startswith(_IAM_RESOURCE_PREFIXES) and "$" not in rest:
            prefixes = ", ".join(p.rstrip("/") for p in _IAM_RESOURCE_PREFIXES)
            return f'IAM resource path must either be "*" or start with {prefixes}.'
    return None


def principal_problem(spec: PrincipalSpec) -> str | None:
    """AWS principal entries: account id, principal ARN, unique id; no partial wildcards."""
    for entry in spec.aws:
        if _ACCOUNT_ID.match(entry) or _UNIQUE_ID.match(entry):
            continue
        if "*" in entry or "?" in entry or not _PRINCIPAL_ARN.match(entry):
            return "Invalid principal in policy"
    for entry in spec.service + spec.federated + spec.canonical_user:
        if not entry or ("*" in entry and entry != "*"):
            return "Invalid principal in policy"
    return None
