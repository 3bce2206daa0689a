"""A repository with OIDC providers and roles that trust them, for the web identity tests.

Providers (account 444455556666):

* ``EKS``: an EKS-style issuer (``oidc.eks.us-west-2.amazonaws.com/id/…``), keys inline in
  the repository (``Jwks``), client id ``sts.amazonaws.com``;
* ``GITHUB``: ``token.actions.githubusercontent.com``, keys inline;
* optionally ``REMOTE``: an issuer whose keys are fetched from ``jwks_uri`` (a local HTTPS
  server in the tests).

Roles: trust policies copied from the AWS documentation's EKS (IRSA) and GitHub Actions
examples, with only account ids and names changed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from authz.oidc.devissuer import DevIssuer

ACCOUNT = "444455556666"
EKS = "oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
GITHUB = "token.actions.githubusercontent.com"
REMOTE = "issuer.remote.example/cluster"
EKS_ARN = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{EKS}"
GITHUB_ARN = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{GITHUB}"
REMOTE_ARN = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{REMOTE}"
SA_SUB = "system:serviceaccount:default:reports"


def role_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


def irsa_trust(provider: str = EKS, sub: str = SA_SUB) -> dict[str, Any]:
    """The IRSA trust policy as the EKS user guide writes it."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{provider}"},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{provider}:sub": sub,
                        f"{provider}:aud": "sts.amazonaws.com",
                    }
                },
            }
        ],
    }


def github_trust() -> dict[str, Any]:
    """The GitHub Actions trust policy of GitHub's and AWS's documentation."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": GITHUB_ARN},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com"
                    },
                    "StringLike": {
                        "token.actions.githubusercontent.com:sub": "repo:octo-org/octo-repo:*"
                    },
                },
            }
        ],
    }


def _write(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")


def provider_document(
    url: str,
    *,
    jwks: dict[str, Any] | None = None,
    jwks_uri: str | None = None,
    client_ids: tuple[str, ...] = ("sts.amazonaws.com",),
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "Url": f"https://{url}",
        "ClientIDList": list(client_ids),
        "ThumbprintList": ["9e99a48a9960b14926bb7f3b02e22da2b0ab7280"],
        "Tags": [{"Key": "cluster", "Value": "dev"}],
    }
    if jwks is not None:
        doc["Jwks"] = jwks
    if jwks_uri is not None:
        doc["JwksUri"] = jwks_uri
    return doc


def role(
    root: Path,
    name: str,
    trust: dict[str, Any],
    *,
    max_duration: int = 3600,
    policies: list[dict[str, Any]] | None = None,
) -> None:
    statements = policies or [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::reports/*"}
    ]
    _write(
        root / "accounts" / ACCOUNT / "roles" / f"{name}.json",
        {
            "RoleName": name,
            "AssumeRolePolicyDocument": trust,
            "MaxSessionDuration": max_duration,
            "RolePolicyList": [
                {
                    "PolicyName": "access",
                    "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
                }
            ],
        },
    )


def build_repo(
    root: Path, eks: DevIssuer, github: DevIssuer, remote_jwks_uri: str | None = None
) -> Path:
    providers = root / "accounts" / ACCOUNT / "oidc-providers"
    _write(providers / "eks.json", provider_document(EKS, jwks=eks.jwks()))
    _write(providers / "github.json", provider_document(GITHUB, jwks=github.jwks()))
    if remote_jwks_uri is not None:
        _write(providers / "remote.json", provider_document(REMOTE, jwks_uri=remote_jwks_uri))
        role(root, "remote", irsa_trust(REMOTE))
    role(
        root,
        "irsa",
        irsa_trust(),
        max_duration=7200,
        policies=[
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::reports/*"},
            {
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": "arn:aws:s3:::reports/*",
                "Condition": {"StringEquals": {"aws:FederatedProvider": EKS_ARN}},
            },
            {
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": "arn:aws:s3:::reports",
                "Condition": {"StringEquals": {"aws:PrincipalTag/team": "analytics"}},
            },
        ],
    )
    role(root, "ci-any", irsa_trust(sub="system:serviceaccount:ci-*:*") | {})
    like = irsa_trust()
    condition = like["Statement"][0]["Condition"]
    condition["StringLike"] = {f"{EKS}:sub": "system:serviceaccount:ci-*:*"}
    del condition["StringEquals"][f"{EKS}:sub"]
    role(root, "ci-like", like)
    tagged = irsa_trust()
    tagged["Statement"][0]["Action"] = ["sts:AssumeRoleWithWebIdentity", "sts:TagSession"]
    role(
        root,
        "tagged",
        tagged,
        policies=[
            {
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": "arn:aws:s3:::reports",
                "Condition": {"StringEquals": {"aws:PrincipalTag/team": "analytics"}},
            },
        ],
    )
    role(root, "github", github_trust())
    return root
