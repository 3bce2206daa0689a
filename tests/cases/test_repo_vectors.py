"""The public ``authorize`` and ``assume_role`` decision vectors, run through the repository path:
each case is written out as a policy repository (users / roles / policies / resources /
organization.json), loaded as a snapshot, and decided with ``authorize`` on principals resolved
from the repository. Checks that layer resolution, principal facts and ownership agree with the
vectors (the evaluator itself is checked directly elsewhere)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from authz.engine.principal import TRUST_ACTIONS
from authz.engine.snapshot import authorize, build_snapshot
from authz.errors import RepositoryError
from tests.cases.loader import load_cases

Json = dict[str, Any]
_SKIP_CONTEXT = ("aws:principalarn", "aws:principalaccount", "aws:principaltype", "aws:username")

# Where the vectors this repository-level test cannot express are covered instead.
ENGINE = "covered by tests/cases/test_authorize_cedar.py"
END_TO_END = "covered end to end by tests/integration/e2e/test_assume_role_vectors.py"


def _write(path: Path, doc: Json) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))


def _inline(policies: list[Json]) -> list[Json]:
    return [{"PolicyName": f"p{i}", "PolicyDocument": p} for i, p in enumerate(policies)]


def _split_entity(arn: str) -> tuple[str, str, str]:
    """``arn:aws:iam::A:user/p/a/name`` → (account, path, name)."""
    account, rest = arn.split(":")[4], arn.split(":", 5)[5]
    parts = rest.split("/")
    path = "/" + "/".join(parts[1:-1]) + "/" if len(parts) > 2 else "/"
    return account, path, parts[-1]


def _boundary(root: Path, account: str, policy: Json | None) -> Json:
    if policy is None:
        return {}
    _write(
        root / f"accounts/{account}/policies/boundary.json",
        {"PolicyName": "boundary", "Document": policy},
    )
    arn = f"arn:aws:iam::{account}:policy/boundary"
    return {"PermissionsBoundary": {"PermissionsBoundaryArn": arn}}


_FULL_ACCESS = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*",
                                                          "Resource": "*"}]}  # fmt: skip


def _organization(
    root: Path,
    account: str | None,
    levels: list[list[Json]],
    rcp_levels: list[list[Json]] | None = None,
    rcp_account: str | None = None,
) -> None:
    """organization.json: a chain root → OU … with ``account`` (its SCP levels) and
    ``rcp_account`` (the resource's account, its RCP levels) placed in the deepest OU. Levels
    without an SCP get ``FullAWSAccess`` (AWS requires one; allowing all, it changes nothing)."""
    rcp_levels = rcp_levels or []
    if not levels and not rcp_levels:
        return
    if levels and rcp_levels and len(levels) != len(rcp_levels):
        pytest.skip("SCP and RCP hierarchies of different depths; " + ENGINE)
    depth = max(len(levels), len(rcp_levels))
    scps = levels or [[_FULL_ACCESS]] * depth
    policies = [
        {"Id": f"p-{i}-{j}", "Document": doc}
        for i, level in enumerate(scps)
        for j, doc in enumerate(level)
    ]
    policies += [
        {"Id": f"r-{i}-{j}", "Type": "RESOURCE_CONTROL_POLICY", "Document": doc}
        for i, level in enumerate(rcp_levels)
        for j, doc in enumerate(level)
    ]
    placed = {a for a in (account if levels else None, rcp_account) if a}
    node: Json = {"Id": f"ou-{depth - 1}", "Accounts": sorted(placed)}
    for i in reversed(range(depth)):
        node["PolicyIds"] = [f"p-{i}-{j}" for j in range(len(scps[i]))]
        if i < len(rcp_levels):
            node["PolicyIds"] += [f"r-{i}-{j}" for j in range(len(rcp_levels[i]))]
        node = {"Id": f"ou-{i - 1}", "Children": [node]} if i else node
    node["Id"] = "r-root"
    _write(root / "organization.json", {"Id": "o-case", "Policies": policies, "Root": node})


def _entity(root: Path, kind: str, arn: str, identity: list[Json], extra: Json) -> None:
    account, path, name = _split_entity(arn)
    key = {"user": "UserName", "role": "RoleName"}[kind]
    inline = {"user": "UserPolicyList", "role": "RolePolicyList"}[kind]
    doc = {key: name, "Path": path, inline: _inline(identity), **extra}
    _write(root / f"accounts/{account}/{kind}s/{name}.json", doc)


def _groups(root: Path, account: str, groups: list[list[Json]]) -> list[str]:
    """Each group's inline policies as ``groups/g<n>.json``; the names, for ``GroupList``."""
    names = []
    for n, group in enumerate(groups):
        names.append(f"g{n}")
        _write(
            root / f"accounts/{account}/groups/g{n}.json",
            {"GroupName": f"g{n}", "Path": "/", "GroupPolicyList": _inline(group)},
        )
    return names


def _tags(context: Json) -> dict[str, str]:
    prefix = "aws:principaltag/"
    return {k[len(prefix) :]: v for k, v in context.items() if k.lower().startswith(prefix)}


def materialize_authorize(root: Path, case: Json) -> tuple[str, Json]:
    request, policies = case["request"], case["policies"]
    principal, context = request["principal"], dict(request.get("context", {}))
    kind = principal["type"]
    if (
        kind not in ("user", "assumed_role", "anonymous")
        or request["action"].lower() in TRUST_ACTIONS
    ):
        pytest.skip(f"a {kind} caller has no repository entity; " + ENGINE)
    if policies.get("session"):
        pytest.skip("session policies come from a session token, not the repository; " + ENGINE)
    if kind != "anonymous":
        account = principal["account"]
        extra = {
            "Tags": _tags(context),
            **_boundary(root, account, policies.get("permissions_boundary")),
        }
        userid = str(context.get("aws:userid", ""))
        if kind == "user":
            if userid.startswith("AIDA"):
                extra["UserId"] = userid
            if principal.get("user_id"):  # the vector's own unique id for the user
                extra["UserId"] = principal["user_id"]
            extra["GroupList"] = _groups(root, account, policies.get("groups") or [])
            _entity(root, "user", principal["arn"], policies.get("identity", []), extra)
        else:
            if userid.startswith("AROA"):
                extra["RoleId"] = userid.split(":")[0]
            trust = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "sts:AssumeRole",
                        "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                    }
                ],
            }
            extra["AssumeRolePolicyDocument"] = trust
            _entity(root, "role", principal["role_arn"], policies.get("identity", []), extra)
    resource = request["resource"]
    owner = resource.get("account")
    _organization(
        root,
        principal.get("account"),
        policies.get("scp", []) if kind != "anonymous" else [],
        policies.get("rcp", []),
        owner or principal.get("account"),
    )
    if owner and ("*" in resource["arn"] or resource["arn"].count(":") < 5):
        pytest.skip("the resource is not a concrete ARN a resources/ file can name; " + ENGINE)
    arn_account = resource["arn"].split(":")[4] if resource["arn"].count(":") >= 5 else ""
    if owner and (policies.get("resource") is not None or not arn_account):
        doc: Json = {"ResourceArn": resource["arn"]}
        if policies.get("resource") is not None:
            doc["Policy"] = policies["resource"]
        _write(root / f"accounts/{owner}/resources/r.json", doc)
    elif policies.get("resource") is not None:
        pytest.skip("resource policy without an owning account")
    (root / "accounts").mkdir(exist_ok=True)
    return principal.get("arn", ""), context


@pytest.mark.parametrize("case", load_cases("authorize"))
def test_authorize_vector_through_repository(tmp_path: Path, case: Json) -> None:
    principal, context = materialize_authorize(tmp_path, case)
    try:
        snapshot = build_snapshot(tmp_path, git=False)
    except RepositoryError as err:
        if {p.code for p in err.problems} == {"MalformedPolicyDocument"}:
            pytest.skip(f"the repository refuses this document: {err.problems[0].message}")
        raise
    caller = snapshot.caller(principal)
    request = case["request"]
    context = {k: v for k, v in context.items() if k.lower() not in _SKIP_CONTEXT}
    decision = authorize(snapshot, caller, request["action"], request["resource"]["arn"], context)
    assert decision.decision.case_name == case["expected"]["decision"], (
        case["id"],
        case["expected"]["reason"],
        decision,
    )


@pytest.mark.parametrize("case", load_cases("assume_role"))
def test_assume_role_authorization_through_repository(tmp_path: Path, case: Json) -> None:
    caller_doc, role, params = case["caller"], case["role"], case["params"]
    expected = case["expected"]
    if (
        role is None
        or caller_doc["type"] != "user"
        or expected.get("error_code") not in (None, "AccessDenied")
    ):
        pytest.skip("not a user's AssumeRole authorization on an existing role; " + END_TO_END)
    if params.get("Tags") or params.get("SourceIdentity") or caller_doc.get("session_policies"):
        pytest.skip("tags, source identity and sessions need the STS service; " + END_TO_END)
    account = caller_doc["account"]
    extra = {
        "Tags": caller_doc.get("tags") or {},
        **_boundary(tmp_path, account, caller_doc.get("permissions_boundary")),
    }
    if caller_doc.get("user_id"):
        extra["UserId"] = caller_doc["user_id"]
    _entity(tmp_path, "user", caller_doc["arn"], caller_doc.get("identity_policies", []), extra)
    _organization(tmp_path, account, caller_doc.get("scp", []))
    role_extra = {
        "AssumeRolePolicyDocument": role["trust_policy"],
        "RoleId": role["role_id"],
        "MaxSessionDuration": role.get("max_session_duration", 3600),
    }
    _entity(tmp_path, "role", role["arn"], role.get("permissions_policies", []), role_extra)
    snapshot = build_snapshot(tmp_path, git=False)
    context = {**case.get("context", {}), "sts:RoleSessionName": params.get("RoleSessionName", "s")}
    if "ExternalId" in params:
        context["sts:ExternalId"] = params["ExternalId"]
    decision = authorize(
        snapshot, snapshot.caller(caller_doc["arn"]), "sts:AssumeRole", role["arn"], context
    )
    assert decision.allowed == (expected["outcome"] == "success"), (
        case["id"],
        expected["reason"],
        decision,
    )
