"""The small value alphabets the differential strategies draw from.

Kept deliberately small so that generated statements actually match generated requests
often. Every pattern here is valid IAM (iam-semantics.md §1.3): action prefixes are literal,
resource patterns are ARNs (or ``*``) with no wildcard in the service component and variables
only in the resource part, principals never carry partial wildcards.
"""

from __future__ import annotations

ACCOUNT_A = "111111111111"
ACCOUNT_B = "222222222222"
ACCOUNT_C = "333333333333"
ACCOUNTS = (ACCOUNT_A, ACCOUNT_B, ACCOUNT_A, ACCOUNT_B, ACCOUNT_C)  # C rarer
# The request's partition: mostly ``aws``; the others (China, GovCloud) now and then.
PARTITIONS = ("aws",) * 6 + ("aws-cn", "aws-us-gov")

ACTIONS = (
    "s3:GetObject",
    "s3:PutObject",
    "s3:ListBucket",
    "ec2:StartInstances",
    "ec2:StopInstances",
    "iam:GetUser",
    "sqs:SendMessage",
    "dynamodb:GetItem",
    "lambda:InvokeFunction",
    "sns:Publish",
)
# Rare extras: a case variant of a request action and the permission-free STS call.
EXTRA_ACTIONS = ("S3:getobject", "sts:GetCallerIdentity")

ACTION_PATTERNS = (
    *ACTIONS,
    "*",
    "s3:*",
    "s3:Get*",
    "s3:*Object",
    "s3:?etObject",
    "S3:GETOBJECT",
    "ec2:*Instances",
    "ec2:St*",
    "iam:Get?ser",
    "iam:*",
    "s3:GetObject,PutObject",
    "sts:*",
    "sqs:*",
    "dynamodb:Get*",
    "lambda:Invoke?unction",
    "sns:*",
)


def resource_arns(account: str, partition: str = "aws") -> tuple[str, ...]:
    """Request resources owned by ``account`` (S3 ARNs carry no account)."""
    arn = f"arn:{partition}"
    return (
        f"{arn}:s3:::bucket-a/key1",
        f"{arn}:s3:::bucket-a/alice/notes.txt",
        f"{arn}:s3:::bucket-a/red/x:y",
        f"{arn}:s3:::bucket-a/*",
        f"{arn}:s3:::bucket-b",
        f"{arn}:ec2:us-east-1:{account}:instance/i-1",
        f"{arn}:ec2:us-west-2:{account}:instance/i-22",
        f"{arn}:iam::{account}:user/alice",
        f"{arn}:iam::{account}:user/Alice",
        f"{arn}:sqs:us-east-1:{account}:queue-a",
        f"{arn}:dynamodb:us-east-1:{account}:table/orders",
        f"{arn}:lambda:us-east-1:{account}:function:fn-1",
        f"{arn}:sns:eu-west-1:{account}:topic-a",
    )


RESOURCE_PATTERNS = (
    "*",
    "arn:aws:s3:::bucket-a/key1",
    "arn:aws:s3:::bucket-a/*",
    "arn:aws:s3:::bucket-?",
    "arn:aws:s3:::*",
    "arn:aws:s3:::bucket-a/*/*",
    "arn:aws:s3:::bucket-b",
    "arn:aws:s3:::bucket-a/${aws:username}/*",
    "arn:aws:s3:::bucket-a/${aws:PrincipalTag/team}/*",
    "arn:aws:s3:::bucket-a/${aws:PrincipalTag/team, 'red'}/*",
    "arn:aws:s3:::bucket-a/${*}",
    "arn:aws:s3:::bucket-a/key${?}",
    "arn:aws:ec2:us-east-1:111111111111:instance/i-1",
    "arn:aws:ec2:*:111111111111:instance/*",
    "arn:aws:ec2:us-*-?:*:instance/i-?",
    "arn:aws:ec2:*:2222*:instance/*",
    "arn:aws:ec2:*:*:instance/i-*",
    "arn:aws:iam::111111111111:user/alice",
    "arn:aws:iam::*:user/${aws:username}",
    "arn:aws:iam::*:user/*",
    "arn:aws:iam::222222222222:user/A*",
    "arn:aws-cn:s3:::bucket-a/*",
    "arn:aws-us-gov:ec2:*:111111111111:instance/*",
    "arn:*:s3:::bucket-a/key1",
    "arn:aws:sqs:us-east-1:*:queue-?",
    "arn:aws:dynamodb:*:111111111111:table/${aws:PrincipalTag/team}",
    "arn:aws:lambda:us-east-1:*:function:*",
    "arn:aws:sns:*:333333333333:topic-a",
    "arn:aws-cn:sqs:*:*:*",
)

USERS = ("alice", "bob")
ROLES = ("r1", "r2")
SESSIONS = ("s1", "s2")
SERVICES = ("ec2.amazonaws.com", "lambda.amazonaws.com")


def principal_values(account: str, partition: str = "aws") -> tuple[str, ...]:
    """``AWS`` principal entries naming things in ``account`` (ARNs or unique ids)."""
    arn = f"arn:{partition}"
    return (
        account,
        f"{arn}:iam::{account}:root",
        f"{arn}:iam::{account}:user/alice",
        f"{arn}:iam::{account}:user/bob",
        f"{arn}:iam::{account}:role/r1",
        f"{arn}:sts::{account}:assumed-role/r1/s1",
    )


# Unique ids (spec §2.3: IAM stores them for named users and roles): AIDA… users, AROA… roles.
USER_IDS = ("AIDAEXAMPLEUSERID0001", "AIDAEXAMPLEUSERID0002")
ROLE_IDS = ("AROAEXAMPLEROLEID0001", "AROAEXAMPLEROLEID0002")
FEDERATED = (
    "cognito-identity.amazonaws.com",
    "accounts.google.com",
    "arn:aws:iam::111111111111:saml-provider/corp",
)
CANONICAL_USERS = ("79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be",)
ORG_IDS = ("o-abc123def4", "o-zzz999yyy8")

# Condition keys by the family whose values they carry.
STRING_KEYS = (
    "aws:PrincipalTag/team",
    "aws:username",
    "s3:prefix",
    "AWS:PrincipalTag/TEAM",
    "aws:PrincipalOrgID",
    "aws:RequestTag/team",
    "aws:ResourceTag/env",
    "aws:ResourceTag/team",
    # Keys without a vendor prefix spelled like fields of the Cedar request context: a key's
    # name must never change what a condition compares (tests/cases/data/context-key-names.json).
    "iam_action",
    "pids",
    "ip",
)
PRINCIPAL_KEYS = ("aws:PrincipalAccount", "aws:PrincipalType", "aws:userid", "aws:PrincipalArn")
MULTI_KEYS = ("aws:TagKeys",)
NUMERIC_KEYS = ("s3:max-keys", "aws:MultiFactorAuthAge", "aws:EpochTime")
DATE_KEYS = ("aws:CurrentTime", "aws:EpochTime", "aws:TokenIssueTime")
BOOL_KEYS = ("aws:SecureTransport", "aws:MultiFactorAuthPresent")
IP_KEYS = ("aws:SourceIp",)
ARN_KEYS = ("aws:SourceArn", "aws:PrincipalArn")
BINARY_KEYS = ("example:blob",)

STRING_VALUES = ("red", "blue", "Red", "alice", "bob", "User", "AssumedRole", ACCOUNT_A, *ORG_IDS)
STRING_POLICY_VALUES = (
    *STRING_VALUES,
    "r*",
    "b?ue",
    "*",
    "${aws:username}",
    "${aws:PrincipalTag/team}",
    "${aws:PrincipalTag/team, 'red'}",
    "${*}",
    "a${?}ice",
    "${aws:PrincipalAccount}",
    "ext-1",
    "s1",
    "o-abc*",
    "${aws:PrincipalTag/team}",
)
TAG_KEYS = ("team", "env", "Team")
NUMERIC_VALUES = ("5", "10", "10.0", "007", "-2.5", "x1")
NUMERIC_POLICY_VALUES = ("5", "10", "-2.5", "10.00", "0", "3600", "1589544000")
MFA_AGE_VALUES = ("300", "3600", "86400", "0", "x")
EPOCH_VALUES = ("1589544000", "1589544001", "2020-05-15T12:00:00Z", "1700000000")
DATE_VALUES = (
    "2020-05-15T12:00:00Z",
    "1589544000",
    "2020-05-15",
    "2020",
    "2020-05-15T14:00:00+02:00",
    "2020-05-15T12:00:00.500Z",
    "not-a-date",
    "999999999999",
)
DATE_POLICY_VALUES = (
    "2020-05-15T12:00:00Z",
    "2020-01-01",
    "1589544000",
    "2021",
    "2020-05-15T12:00Z",
    "999999999999",
)
BOOL_VALUES = ("true", "false", "True", "maybe")
IP_VALUES = ("203.0.113.7", "198.51.100.1", "2001:db8::1", "::ffff:203.0.113.7", "garbage")
IP_POLICY_VALUES = ("203.0.113.0/24", "203.0.113.7", "2001:DB8::/32", "0.0.0.0/0", "::/0")
ARN_VALUES = (
    "arn:aws:sns:us-east-1:111111111111:topic-a",
    "arn:aws:iam::111111111111:role/r1",
    "arn:aws:s3:::bucket-a/x:y",
    "not an arn",
)
ARN_POLICY_VALUES = (
    "arn:aws:sns:*:111111111111:topic-*",
    "arn:aws:sns:us-east-1:111111111111:topic-a",
    "arn:aws:iam::*:role/r?",
    "arn:aws:s3:::bucket-a/*",
    "arn:aws:iam::${aws:PrincipalAccount}:role/*",
    "${aws:PrincipalArn}",
)
BINARY_VALUES = ("hello", "world")
BINARY_POLICY_VALUES = ("aGVsbG8=", "d29ybGQ=")
