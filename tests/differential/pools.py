"""The small value alphabets the differential strategies draw from.

Kept deliberately small so that generated statements actually match generated requests
often. Every pattern here is valid IAM (iam-semantics.md §1.3): action prefixes are literal,
resource patterns are ARNs (or ``*``) with no wildcard in the service component and variables
only in the resource part, principals never carry partial wildcards.
"""

from __future__ import annotations

ACCOUNT_A = "111111111111"
ACCOUNT_B = "222222222222"
ACCOUNTS = (ACCOUNT_A, ACCOUNT_B)

ACTIONS = (
    "s3:GetObject",
    "s3:PutObject",
    "s3:ListBucket",
    "ec2:StartInstances",
    "ec2:StopInstances",
    "iam:GetUser",
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
)


def resource_arns(account: str) -> tuple[str, ...]:
    """Request resources owned by ``account`` (S3 ARNs carry no account)."""
    return (
        "arn:aws:s3:::bucket-a/key1",
        "arn:aws:s3:::bucket-a/alice/notes.txt",
        "arn:aws:s3:::bucket-a/red/x:y",
        "arn:aws:s3:::bucket-a/*",
        "arn:aws:s3:::bucket-b",
        f"arn:aws:ec2:us-east-1:{account}:instance/i-1",
        f"arn:aws:ec2:us-west-2:{account}:instance/i-22",
        f"arn:aws:iam::{account}:user/alice",
        f"arn:aws:iam::{account}:user/Alice",
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
)

USERS = ("alice", "bob")
ROLES = ("r1", "r2")
SESSIONS = ("s1", "s2")
SERVICES = ("ec2.amazonaws.com", "lambda.amazonaws.com")


def principal_values(account: str) -> tuple[str, ...]:
    """``AWS`` principal entries naming things in ``account``."""
    return (
        account,
        f"arn:aws:iam::{account}:root",
        f"arn:aws:iam::{account}:user/alice",
        f"arn:aws:iam::{account}:user/bob",
        f"arn:aws:iam::{account}:role/r1",
        f"arn:aws:sts::{account}:assumed-role/r1/s1",
    )


# Condition keys by the family whose values they carry.
STRING_KEYS = ("aws:PrincipalTag/team", "aws:username", "s3:prefix", "AWS:PrincipalTag/TEAM")
PRINCIPAL_KEYS = ("aws:PrincipalAccount", "aws:PrincipalType", "aws:userid", "aws:PrincipalArn")
MULTI_KEYS = ("aws:TagKeys",)
NUMERIC_KEYS = ("s3:max-keys",)
DATE_KEYS = ("aws:CurrentTime",)
BOOL_KEYS = ("aws:SecureTransport", "aws:MultiFactorAuthPresent")
IP_KEYS = ("aws:SourceIp",)
ARN_KEYS = ("aws:SourceArn", "aws:PrincipalArn")
BINARY_KEYS = ("example:blob",)

STRING_VALUES = ("red", "blue", "Red", "alice", "bob", "User", "AssumedRole", ACCOUNT_A)
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
)
TAG_KEYS = ("team", "env", "Team")
NUMERIC_VALUES = ("5", "10", "10.0", "007", "-2.5", "x1")
NUMERIC_POLICY_VALUES = ("5", "10", "-2.5", "10.00", "0")
DATE_VALUES = (
    "2020-05-15T12:00:00Z",
    "1589544000",
    "2020-05-15",
    "2020",
    "2020-05-15T14:00:00+02:00",
    "2020-05-15T12:00:00.500Z",
    "not-a-date",
)
DATE_POLICY_VALUES = (
    "2020-05-15T12:00:00Z",
    "2020-01-01",
    "1589544000",
    "2021",
    "2020-05-15T12:00Z",
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
