"""Every public ``assume_role`` vector end to end: a repository built from the case, the
caller's real credentials, AssumeRole through gRPC, the follow-ups through Authorize with the
new session token.

How each caller gets its credentials (all through the product, nothing forged):

- ``user``: an access key from the server's ``CredentialStore``.
- ``assumed_role``: the caller's role exists in the repository with its identity policies; its
  trust policy trusts a helper user of the same account, which assumes it first with the case's
  session policies (``Policy`` + ``PolicyArns``), source identity and transitive tags. So the
  case's call is a real role-chaining call with a real session, and the session's attributes
  come from the same code path they would in production (a token signed by hand would test
  the test). Caveat: SCPs of the caller's account also govern the helper's call.
- ``service``: an mTLS client certificate whose SAN the server maps to the service principal.

Case ``context``: ``aws:SourceIp`` arrives as ``x-forwarded-for`` from a trusted proxy;
``aws:PrincipalArn`` is derived by the product (checked to equal the case's value);
``aws:PrincipalOrgID`` puts the caller's account into an organization with that id. Any other
key cannot be expressed through the API (the server, not the caller, decides the context of an
AssumeRole call) and fails the case loudly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest

from authz import errors
from authz._gen.authz.v1 import authorizer_pb2
from authz.client.credentials import Credentials
from tests.cases.loader import load_cases
from tests.integration.e2e.harness import (
    E2EServer,
    Pki,
    ServerFactory,
    session_of,
    trailer_error_code,
)
from tests.integration.e2e.repo_builder import RepoBuilder

HELPER = "e2e-session-helper"
TRUSTED_PROXY = "127.0.0.1"
FULL_ACCESS = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}
_GRPC_STATUS = {403: grpc.StatusCode.PERMISSION_DENIED, 400: grpc.StatusCode.INVALID_ARGUMENT}
_DECISIONS = {
    "Allow": authorizer_pb2.DECISION_ALLOWED,
    "ExplicitDeny": authorizer_pb2.DECISION_EXPLICIT_DENY,
    "ImplicitDeny": authorizer_pb2.DECISION_IMPLICIT_DENY,
}
_IAM_ARN = re.compile(r"^arn:aws:iam::(\d{12}):(user|role)(/(?:.*/)?)([^/]+)$")
_S3_OR_GLOBAL = re.compile(r"^arn:[^:]+:[^:]+:[^:]*::")  # no account field in the ARN


class CannotExpress(Exception):
    """The case needs something the product's API cannot carry."""


def _split(arn: str) -> tuple[str, str, str]:
    match = _IAM_ARN.match(arn)
    if match is None:
        raise CannotExpress(f"not an IAM user/role ARN: {arn}")
    account, _, path, name = match.groups()
    return account, path, name


def _trust_helper(account: str) -> dict[str, Any]:
    actions = ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"]
    principal = {"AWS": f"arn:aws:iam::{account}:user/{HELPER}"}
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": principal, "Action": actions}],
    }


class CaseRun:
    """One case: its repository, its server, its caller's credentials."""

    def __init__(self, case: Mapping[str, Any]) -> None:
        self.case = case
        self.caller: Mapping[str, Any] = case["caller"]
        self.repo = RepoBuilder()
        self.forwarded_for: str | None = None
        self.session_policy_arns: list[str] = []

    # -- the repository ----------------------------------------------------------------
    def build(self, root: Path) -> Path:
        role = self.case["role"]
        if role is not None:
            self.repo.role(
                role["account"], role["name"], path=role.get("path", "/"),
                role_id=role["role_id"], trust_policy=role["trust_policy"],
                max_session_duration=role.get("max_session_duration", 3600),
                inline=role.get("permissions_policies", ()),
                boundary=role.get("permissions_boundary"), tags=role.get("tags") or {},
            )  # fmt: skip
        for arn, document in (self.case.get("managed_policies") or {}).items():
            self.repo.managed_policy(arn, document)
        self._caller_entity()
        self._context()
        for followup in self.case.get("followups", ()):
            self._followup_resource(followup)
        return self.repo.write(root)

    def _caller_entity(self) -> None:
        caller = self.caller
        kind = caller["type"]
        if kind == "user":
            account, path, name = _split(caller["arn"])
            self.repo.user(
                account, name, path=path, user_id=caller.get("user_id"),
                inline=caller.get("identity_policies", ()),
                boundary=caller.get("permissions_boundary"), tags=caller.get("tags") or {},
            )  # fmt: skip
        elif kind == "assumed_role":
            account, path, name = _split(caller["role_arn"])
            self.repo.role(
                account, name, path=path, role_id=caller.get("role_id"),
                trust_policy=_trust_helper(account), inline=caller.get("identity_policies", ()),
                boundary=caller.get("permissions_boundary"), tags=caller.get("tags") or {},
            )  # fmt: skip
            self.repo.user(account, HELPER)
            for i, doc in enumerate(caller.get("session_policies", ())[1:]):
                arn = f"arn:aws:iam::{account}:policy/e2e-session-policy-{i}"
                self.session_policy_arns.append(self.repo.managed_policy(arn, doc))
        elif kind != "service":
            raise CannotExpress(f"caller type `{kind}`")
        if caller.get("scp"):
            self.repo.scp_levels(caller["account"], caller["scp"])

    def _context(self) -> None:
        for key, value in (self.case.get("context") or {}).items():
            lowered = key.lower()
            if lowered == "aws:sourceip":
                self.forwarded_for = value
            elif lowered == "aws:principalarn":
                derived = self.caller.get("role_arn") or self.caller["arn"]
                if value != derived:
                    raise CannotExpress(f"aws:PrincipalArn {value} is not the caller's {derived}")
            elif lowered == "aws:principalorgid":
                self.repo.org_id = value
                if not self.caller.get("scp"):
                    self.repo.scp_levels(self.caller["account"], [[FULL_ACCESS]])
            else:
                raise CannotExpress(f"context key `{key}` cannot be sent with AssumeRole")

    def _followup_resource(self, followup: Mapping[str, Any]) -> None:
        resource = followup["resource"]
        account = resource.get("account")
        policy = followup.get("resource_policy")
        if account and (policy is not None or _S3_OR_GLOBAL.match(resource["arn"])):
            # the resource policy, or (ARN without an account) which account owns the resource
            self.repo.resource(account, resource["arn"], policy)
        elif policy is not None:
            raise CannotExpress(f"resource policy for {resource['arn']} without an account")

    # -- credentials -------------------------------------------------------------------
    def server_options(self, pki: Pki) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if self.caller["type"] == "service":
            options.update(pki=pki, service_principals={self._san(): self.caller["arn"]})
        if self.forwarded_for is not None:
            options["trusted_proxies"] = [TRUSTED_PROXY]
        return options

    def _san(self) -> str:
        return f"spiffe://e2e/service/{self.caller['arn']}"

    def credentials(self, env: E2EServer) -> Credentials | None:
        caller = self.caller
        if caller["type"] == "user":
            return env.access_key(caller["arn"])
        if caller["type"] == "service":
            return None  # the client certificate is the credential
        account, _, _ = _split(caller["role_arn"])
        helper = env.access_key(f"arn:aws:iam::{account}:user/{HELPER}")
        policies = caller.get("session_policies", ())
        params: dict[str, Any] = {"policy_arns": self.session_policy_arns}
        if policies:
            params["policy"] = json.dumps(policies[0])
        if caller.get("source_identity"):
            params["source_identity"] = caller["source_identity"]
        transitive = caller.get("transitive_tags") or {}
        if transitive:
            params.update(tags=dict(transitive), transitive_tag_keys=list(transitive))
        session_name = caller["arn"].rsplit("/", 1)[-1]
        response, session = env.assume(helper, caller["role_arn"], session_name, **params)
        assert response.assumed_role_user.arn == caller["arn"]
        return session

    def client_for(self, env: E2EServer, credentials: Credentials | None) -> Any:
        return env.client(credentials, san=self._san(), forwarded_for=self.forwarded_for)


def assume_role_kwargs(params: Mapping[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """The case's AWS parameters → ``AuthzClient.assume_role`` arguments, sent exactly."""
    known = {"RoleArn", "RoleSessionName", "DurationSeconds", "ExternalId", "Policy",
             "PolicyArns", "Tags", "TransitiveTagKeys", "SerialNumber", "TokenCode",
             "SourceIdentity"}  # fmt: skip
    unknown = set(params) - known
    if unknown:
        raise CannotExpress(f"parameters {sorted(unknown)}")
    for name in ("ExternalId", "Policy", "SerialNumber", "TokenCode", "SourceIdentity"):
        if params.get(name) == "":
            raise CannotExpress(f"an empty `{name}` is indistinguishable from absent on the wire")
    tags = params.get("Tags") or []
    if len({t["Key"] for t in tags}) != len(tags):
        raise CannotExpress("Tags with exactly repeated keys")
    kwargs: dict[str, Any] = {
        "duration_seconds": params.get("DurationSeconds"),
        "external_id": params.get("ExternalId", ""),
        "policy": params.get("Policy", ""),
        "policy_arns": [p["arn"] for p in params.get("PolicyArns") or ()],
        "tags": {t["Key"]: t["Value"] for t in tags},
        "transitive_tag_keys": list(params.get("TransitiveTagKeys") or ()),
        "serial_number": params.get("SerialNumber", ""),
        "token_code": params.get("TokenCode", ""),
        "source_identity": params.get("SourceIdentity", ""),
    }
    return params.get("RoleArn", ""), params.get("RoleSessionName", ""), kwargs


def check_error(expected: Mapping[str, Any], exc: errors.AuthzError) -> None:
    codes = expected.get("error_code_any_of") or [expected["error_code"]]
    assert exc.code in codes, f"{exc.code}: {exc.message}"
    status = _GRPC_STATUS.get(expected.get("http_status", 0))
    if status is not None:
        assert exc.details["grpc_code"] == status.name
    assert trailer_error_code(exc) == exc.code
    pattern = expected.get("message_pattern")
    if pattern:
        assert re.search(pattern, exc.message), exc.message


def check_success(expected: Mapping[str, Any], response: Any, called_at: datetime) -> None:
    user = expected["assumed_role_user"]
    assert response.assumed_role_user.arn == user["Arn"]
    assert response.assumed_role_user.assumed_role_id == user["AssumedRoleId"]
    creds = response.credentials
    assert re.match(expected["credentials"]["access_key_id_pattern"], creds.access_key_id)
    assert creds.secret_access_key and creds.session_token
    lifetime = (creds.expiration.ToDatetime(tzinfo=UTC) - called_at).total_seconds()
    assert abs(lifetime - expected["credentials"]["duration_seconds"]) <= 5, lifetime
    assert response.effective_duration_seconds == expected["credentials"]["duration_seconds"]
    if "source_identity" in expected:
        assert response.source_identity == expected["source_identity"]
    if expected.get("packed_policy_size_present"):
        assert response.HasField("packed_policy_size")


@pytest.mark.parametrize("case", load_cases("assume_role"))
def test_assume_role_vector(
    case: dict[str, Any], start_server: ServerFactory, pki: Pki, tmp_path: Path
) -> None:
    run = CaseRun(case)
    try:
        repo = run.build(tmp_path / "repo")
        role_arn, session_name, kwargs = assume_role_kwargs(case["params"])
    except CannotExpress as why:
        pytest.fail(f"{case['id']} cannot be expressed end to end: {why}")
    env = start_server(repo, **run.server_options(pki))
    expected = case["expected"]
    with run.client_for(env, run.credentials(env)) as client:
        called_at = datetime.now(UTC)
        try:
            response = client.assume_role(role_arn, session_name, **kwargs)
        except errors.AuthzError as exc:
            assert expected["outcome"] == "error", f"unexpected {exc.code}: {exc.message}"
            check_error(expected, exc)
            return
    assert expected["outcome"] == "success", f"expected {expected.get('error_code')}"
    check_success(expected, response, called_at)
    with env.client(session_of(response)) as as_session:
        if "caller_identity" in expected:
            identity = as_session.get_caller_identity()
            found = {"Arn": identity.arn, "UserId": identity.user_id, "Account": identity.account}
            assert found == expected["caller_identity"]
        for followup in case.get("followups", ()):
            decided = as_session.authorize(
                followup["action"], followup["resource"]["arn"], context=followup.get("context")
            )
            want = followup["expected"]["decision"]
            assert decided.decision == _DECISIONS[want], (followup["action"], decided.reason)
            assert decided.principal_arn == expected["assumed_role_user"]["Arn"]


SOURCE_IP_CASES = [  # (server trusts 127.0.0.1 as a proxy, x-forwarded-for, allowed)
    (True, "203.0.113.9", True),
    (True, "198.51.100.20", False),
    (False, "203.0.113.9", False),  # an untrusted peer's header is ignored: 127.0.0.1 counts
]


@pytest.mark.parametrize(("trusted", "forwarded", "allowed"), SOURCE_IP_CASES)
def test_source_ip_reaches_the_trust_policy_only_through_a_trusted_proxy(
    start_server: ServerFactory, tmp_path: Path, trusted: bool, forwarded: str, allowed: bool
) -> None:
    """The path ar-090 relies on: without it, ar-090 would pass on the peer address alone."""
    repo = RepoBuilder()
    alice = repo.user("111111111111", "alice")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": alice}, "Action": "sts:AssumeRole",
            "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
        }],
    }  # fmt: skip
    role = repo.role("111111111111", "fenced", trust_policy=trust)
    env = start_server(
        repo.write(tmp_path / "repo"), trusted_proxies=[TRUSTED_PROXY] if trusted else []
    )
    with env.client(env.access_key(alice), forwarded_for=forwarded) as client:
        if allowed:
            assert client.assume_role(role, "s1").assumed_role_user.arn.endswith("/fenced/s1")
        else:
            with pytest.raises(errors.AccessDenied):
                client.assume_role(role, "s1")
