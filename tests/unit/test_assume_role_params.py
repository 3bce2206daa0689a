"""AssumeRole parameter rules: AWS ValidationError texts, durations, tags, source identity."""

from __future__ import annotations

import pytest

from authz.errors import PackedPolicyTooLarge, ValidationError
from authz.sts.assume_role import (
    AssumeRoleParams,
    TtlPolicy,
    packed_policy_size,
    principal_tags,
    session_duration,
    session_tags,
    source_identity,
    validate_params,
)

ROLE = "arn:aws:iam::111111111111:role/path/target-role"


def params(**kw: object) -> AssumeRoleParams:
    base: dict[str, object] = {"RoleArn": ROLE, "RoleSessionName": "s1"}
    base.update(kw)
    return AssumeRoleParams.from_aws(base)


@pytest.mark.parametrize(
    ("kw", "fragment"),
    [
        ({"RoleSessionName": "x"}, "at 'roleSessionName' failed to satisfy constraint: Member "
         "must have length greater than or equal to 2"),
        ({"RoleSessionName": "a" * 65}, "Member must have length less than or equal to 64"),
        ({"RoleSessionName": "my session"}, "Member must satisfy regular expression pattern"),
        ({"DurationSeconds": 899}, "at 'durationSeconds' failed to satisfy constraint: Member "
         "must have value greater than or equal to 900"),
        ({"DurationSeconds": 43201}, "Member must have value less than or equal to 43200"),
        ({"ExternalId": "x"}, "at 'externalId'"),
        ({"ExternalId": "has space"}, "at 'externalId'"),
        ({"TokenCode": "12a456", "SerialNumber": "arn:aws:iam::111111111111:mfa/alice"},
         "at 'tokenCode'"),
        ({"SerialNumber": "short"}, "at 'serialNumber'"),
        ({"Tags": [{"Key": "k", "Value": "v" * 257}]}, "at 'tags.1.member.value'"),
        ({"Tags": [{"Key": "", "Value": "v"}]}, "at 'tags.1.member.key'"),
        ({"Tags": [{"Key": f"k{i}", "Value": "v"} for i in range(51)]}, "at 'tags'"),
        ({"SourceIdentity": "aws:admin"}, "at 'sourceIdentity'"),  # ':' is outside the pattern
        ({"PolicyArns": [{"arn": f"arn:aws:iam::111111111111:policy/p{i}"} for i in range(11)]},
         "at 'policyArns'"),
    ],
)  # fmt: skip
def test_constraint_violations_use_the_aws_text(kw: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValidationError) as err:
        validate_params(params(**kw))
    assert fragment in err.value.message
    assert err.value.code == "ValidationError"


def test_several_violations_are_counted() -> None:
    with pytest.raises(ValidationError, match=r"^2 validation errors detected: "):
        validate_params(params(RoleSessionName="x", DurationSeconds=10))


def test_valid_parameters_pass() -> None:
    validate_params(params(RoleSessionName="a_b+c=d,e.f@g-h", DurationSeconds=900))


def test_duration_rules_and_the_capping_rule() -> None:
    ttl = TtlPolicy()
    assert session_duration(None, 3600, False, ttl).seconds == 3600
    assert session_duration(43200, 43200, False, ttl).seconds == 43200
    with pytest.raises(ValidationError, match="exceeds the MaxSessionDuration"):
        session_duration(7200, 3600, False, ttl)
    with pytest.raises(ValidationError, match="1 hour session limit"):
        session_duration(7200, 43200, True, ttl)
    assert session_duration(None, 43200, True, ttl).seconds == 3600
    capped = session_duration(43200, 43200, False, TtlPolicy(maximum_seconds=7200))
    assert (capped.seconds, capped.capped_by) == (7200, "server-maximum")
    raised = session_duration(900, 3600, False, TtlPolicy(minimum_seconds=1800))
    assert (raised.seconds, raised.capped_by) == (1800, "server-minimum")


def test_session_tags_merge_and_transitive_rules() -> None:
    merged = session_tags([("Project", "x")], ["Project"], {"Team": "red"})
    assert merged.tags == {"Team": "red", "Project": "x"}
    assert merged.transitive_keys == ("Project", "Team")
    with pytest.raises(ValidationError, match="cannot be overridden"):
        session_tags([("team", "blue")], [], {"Team": "red"})
    with pytest.raises(ValidationError, match="case insensitive"):
        session_tags([("a", "1"), ("A", "2")], [], {})
    with pytest.raises(ValidationError, match="not a session tag"):
        session_tags([("a", "1")], ["b"], {})
    assert principal_tags({"Team": "red", "Env": "prod"}, {"team": "blue"}) == {
        "team": "blue",
        "env": "prod",
    }


def test_source_identity_is_sticky() -> None:
    assert source_identity("alice", None) == "alice"
    assert source_identity(None, "alice") == "alice"
    with pytest.raises(ValidationError):
        source_identity("bob", "alice")


def test_packed_policy_size() -> None:
    small = packed_policy_size('{"Version":"2012-10-17"}', [], {})
    assert 0 < small <= 100
    with pytest.raises(PackedPolicyTooLarge):
        packed_policy_size('{"x":"' + "a" * 3000 + '"}', [], {})
