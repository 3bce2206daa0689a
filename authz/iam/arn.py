"""String formats of policy elements (spec §1.3): action names, resource ARNs, principal entries
and the actions a role trust policy may name. Each check returns the AWS
``MalformedPolicyDocument`` message (or a verdict) and never raises; ``authz.iam.validate``
decides which problem wins. Plain string work: no JSON, no Cedar.

Resource checks follow the observed AWS behaviour recorded in moto's suite [MOTO-VAL], including
its quirks: the partition message rebuilds the ARN with ``*`` for missing components, an ARN
with fewer than six components is accepted unless it fails "legacy parsing", and only S3 and IAM
ARNs are checked for a region. Decisions where the spec is silent:

* Partitions: the public AWS partitions plus ``*``. A policy variable in the partition is
  rejected like any unknown partition (variables are allowed only after the fifth colon, §4.6);
  variables in service, region or account are kept as literal text.
* An ARN whose first component is not ``arn`` is rejected with the ARN-format message.
* IAM resource parts ``*``, ``root`` and ones that begin with a wildcard or a variable are valid.
"""

from __future__ import annotations

import re

from authz.iam.glob import glob_match

PARTITIONS = frozenset(
    {"aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f",
     "aws-eusc", "*"}
)  # fmt: skip
IAM_RESOURCE_PREFIXES = (
    "user/", "federated-user/", "role/", "group/", "instance-profile/", "mfa/",
    "server-certificate/", "policy/", "sms-mfa/", "saml-provider/", "oidc-provider/",
    "report/", "access-report/",
)  # fmt: skip
IAM_PATH_MESSAGE = 'IAM resource path must either be "*" or start with {}.'.format(
    ", ".join(IAM_RESOURCE_PREFIXES)
)
# S3 resource types that live in a region (access points, grants, jobs, lens, outposts).
_S3_REGIONAL = (
    "accesspoint", "access-grants", "job/", "storage-lens", "outpost", "async-request",
    "multi-region-access-point",
)  # fmt: skip
_VENDOR_BAD = re.compile(r"[^A-Za-z0-9.\-]")

# Actions a role trust policy may grant (observed [MOTO-VAL]; matched ignoring case).
TRUST_ACTIONS = (
    "sts:AssumeRole", "sts:AssumeRoleWithSAML", "sts:AssumeRoleWithWebIdentity",
    "sts:DecodeAuthorizationMessage", "sts:GetAccessKeyInfo", "sts:GetCallerIdentity",
    "sts:GetFederationToken", "sts:GetServiceBearerToken", "sts:GetSessionToken",
    "sts:SetSourceIdentity", "sts:TagSession",
)  # fmt: skip
TRUST_ACTION_MESSAGE = (
    "Trust Policy statement actions can only be sts:AssumeRole, "
    "sts:AssumeRoleWithSAML,  and sts:AssumeRoleWithWebIdentity"
)

_PARTITION_RE = r"aws(?:-cn|-us-gov|-iso|-iso-b|-iso-e|-iso-f|-eusc)?"
_AWS_PRINCIPAL = re.compile(
    rf"arn:{_PARTITION_RE}:(?:iam::\d{{12}}:(?:root|user/\S+|role/\S+|federated-user/\S+)"
    r"|sts::\d{12}:(?:assumed-role/[^/\s]+/\S+|federated-user/\S+))"
)
_ACCOUNT_ID = re.compile(r"\d{12}")
_UNIQUE_ID = re.compile(r"A[A-Z]{3}[A-Z0-9]{12,}")
_HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-]*")
_FEDERATED = re.compile(
    rf"arn:{_PARTITION_RE}:iam::\d{{12}}:(?:saml-provider|oidc-provider)/\S+"
    r"|[A-Za-z0-9][A-Za-z0-9.\-]*(?:/\S+)?"
)
_CANONICAL_USER = re.compile(r"[0-9A-Fa-f]{64}")


def action_error(action: str) -> str | None:
    """``service:action`` with one colon and a vendor of letters, digits, ``.`` and ``-``."""
    parts = action.split(":")
    if len(parts) == 1 and parts[0] != "*":
        return "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
    if len(parts) > 2:
        return "Actions/Condition can contain only one colon."
    vendor = parts[0]
    if vendor != "*" and _VENDOR_BAD.search(vendor):
        return f"Vendor {vendor} is not valid"
    return None


def resource_error(resource: str, *, any_iam_type: bool = False) -> str | None:
    """The format problem of one ``Resource``/``NotResource`` entry, or None. With
    ``any_iam_type`` an IAM resource of a type not in ``IAM_RESOURCE_PREFIXES`` is accepted."""
    if resource == "*":
        return None
    head, sep, rest = resource.partition(":")
    if not sep:
        return f'Resource {resource} must be in ARN format or "*".'
    partition, sep, rest = rest.partition(":")
    if partition not in PARTITIONS:
        return _partition_message(partition, rest)
    if not sep:
        return "Resource vendor must be fully qualified and cannot contain regexes."
    service, _, after_service = rest.partition(":")
    _, _, after_region = after_service.partition(":")
    _, _, resource_id = after_region.partition(":")
    has_region = not after_service.startswith(":")
    if has_region and service == "iam":
        return f"IAM resource {resource} cannot contain region information."
    if has_region and service == "s3" and not resource_id.startswith(_S3_REGIONAL):
        return f"Resource {resource} can not contain region information."
    if service == "iam" and not any_iam_type and not _iam_resource_ok(resource_id):
        return IAM_PATH_MESSAGE
    if head != "arn":
        return f'Resource {resource} must be in ARN format or "*".'
    return None


def _partition_message(partition: str, rest: str) -> str:
    parts = rest.split(":")
    service = parts[0] if parts[0] != "" or len(parts) > 1 else "*"
    region = parts[1] if len(parts) > 1 else "*"
    account = parts[2] if len(parts) > 2 else "*"
    resource = ":".join(parts[3:]) if len(parts) > 3 else "*"
    arn = f"arn:{partition}:{service}:{region}:{account}:{resource}"
    return f'Partition "{partition}" is not valid for resource "{arn}".'


def _iam_resource_ok(resource_id: str) -> bool:
    if resource_id in ("*", "root") or resource_id.startswith(("*", "${")):
        return True
    return resource_id.startswith(IAM_RESOURCE_PREFIXES)


def legacy_resource_ok(resource: str) -> bool:
    """AWS's "legacy parsing" of a resource: an ARN with fewer than six components must not
    contain an empty component, and the service component must not be empty."""
    if resource == "*":
        return True
    if resource.count(":") < 5 and "::" in resource:
        return False
    parts = resource.split(":")
    return len(parts) > 2 and parts[2] != ""


def principal_entry_ok(kind: str, entry: str) -> bool:
    """One entry of a ``Principal`` object under ``AWS``, ``Service``, ``Federated`` or
    ``CanonicalUser``. Partial wildcards are never allowed; ``"*"`` only under ``AWS``."""
    if kind == "AWS":
        if entry == "*":
            return True
        if "*" in entry or "?" in entry:
            return False
        return any(rx.fullmatch(entry) for rx in (_ACCOUNT_ID, _UNIQUE_ID, _AWS_PRINCIPAL))
    if "*" in entry or "?" in entry:
        return False
    if kind == "Service":
        return _HOST.fullmatch(entry) is not None
    if kind == "Federated":
        return _FEDERATED.fullmatch(entry) is not None
    return _CANONICAL_USER.fullmatch(entry) is not None


def trust_action_ok(action: str) -> bool:
    """A trust policy action must be one of the STS actions (a wildcard must match one)."""
    if "*" in action or "?" in action:
        return action.lower().startswith("sts:") and any(
            glob_match(action, known, case_insensitive=True) for known in TRUST_ACTIONS
        )
    return any(action.lower() == known.lower() for known in TRUST_ACTIONS)
