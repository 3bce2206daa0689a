"""OIDC providers in the repository (``accounts/<id>/oidc-providers/``): the IAM shape, the
key source, and every problem named by file, JSON path and code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from authz.errors import ValidationError
from authz.oidc.devissuer import DevIssuer, public_jwk
from authz.oidc.jwks import MAX_KEYS
from authz.repo import check_repository

ACCOUNT = "444455556666"
REL = f"accounts/{ACCOUNT}/oidc-providers/p.json"


def _load(tmp_path: Path, document: Any) -> Any:
    path = tmp_path / REL
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(document))
    return check_repository(tmp_path)


def _problems(tmp_path: Path, document: Any) -> list[tuple[str, str, str]]:
    return [
        (p.path, p.code, p.message) for p in _load(tmp_path, document).problems if p.file == REL
    ]


def test_get_open_id_connect_provider_output_loads(tmp_path: Path) -> None:
    """``aws iam get-open-id-connect-provider`` prints Url without the scheme."""
    result = _load(
        tmp_path,
        {
            "Url": "oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE",
            "ClientIDList": ["sts.amazonaws.com"],
            "ThumbprintList": ["9e99a48a9960b14926bb7f3b02e22da2b0ab7280"],
            "CreateDate": "2024-01-01T00:00:00Z",
            "Tags": [{"Key": "cluster", "Value": "prod"}],
        },
    )
    assert result.ok, result.problems
    provider = result.repository.oidc_provider(
        ACCOUNT, "https://oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
    )
    assert provider is not None
    assert provider.arn == (
        f"arn:aws:iam::{ACCOUNT}:oidc-provider/oidc.eks.us-west-2.amazonaws"
        ".com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
    )
    assert provider.discovery  # no key source given: OIDC discovery at the issuer
    assert provider.tags == {"cluster": "prod"}
    assert result.repository.counts["oidc_providers"] == 1


def test_inline_jwks_is_parsed_and_pinned(tmp_path: Path) -> None:
    issuer = DevIssuer("https://issuer.example")
    issuer.rotate(alg="ES256")
    result = _load(
        tmp_path, {"Url": "https://issuer.example", "ClientIDList": ["a"], "Jwks": issuer.jwks()}
    )
    assert result.ok, result.problems
    provider = result.repository.oidc_provider(ACCOUNT, "https://issuer.example")
    assert [k.alg for k in provider.jwks.keys] == ["RS256", "ES256"]


@pytest.mark.parametrize(
    ("document", "path", "code"),
    [
        ({"ClientIDList": ["a"]}, "$.Url", "missing_field"),
        ({"Url": "http://issuer.example"}, "$.Url", "ValidationError"),
        ({"Url": "https://issuer.example:8443/x"}, "$.Url", "ValidationError"),
        ({"Url": "https://issuer.example/?q=1"}, "$.Url", "ValidationError"),
        (
            {"Url": "https://issuer.example", "Arn": "arn:aws:iam::1:oidc-provider/x"},
            "$.Arn",
            "invalid_field",
        ),
        (
            {"Url": "https://issuer.example", "ClientIDList": ["a"] * 101},
            "$.ClientIDList",
            "LimitExceeded",
        ),
        (
            {"Url": "https://issuer.example", "ClientIDList": ["x" * 256]},
            "$.ClientIDList[0]",
            "ValidationError",
        ),
        (
            {"Url": "https://issuer.example", "ThumbprintList": ["abc"]},
            "$.ThumbprintList[0]",
            "ValidationError",
        ),
        (
            {"Url": "https://issuer.example", "ThumbprintList": ["a" * 40] * 6},
            "$.ThumbprintList",
            "LimitExceeded",
        ),
        (
            {"Url": "https://issuer.example", "JwksUri": "http://issuer.example/keys"},
            "$.JwksUri",
            "ValidationError",
        ),
        (
            {"Url": "https://issuer.example", "JwksUri": "https://x/k", "Jwks": {"keys": []}},
            "$.JwksUri",
            "invalid_field",
        ),
        ({"Url": "https://issuer.example", "Jwks": {"keys": []}}, "$.Jwks.keys", "ValidationError"),
        (
            {"Url": "https://issuer.example", "Jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}},
            "$.Jwks.keys[0].kty",
            "ValidationError",
        ),
        (
            {
                "Url": "https://issuer.example",
                "Jwks": {"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]},
            },
            "$.Jwks.keys[0]",
            "ValidationError",
        ),
        ({"Url": "https://issuer.example", "Extra": 1}, "$.Extra", "unknown_field"),
    ],
)
def test_problems_name_file_field_and_code(
    tmp_path: Path, document: dict[str, Any], path: str, code: str
) -> None:
    found = _problems(tmp_path, document)
    assert (path, code) in [(p, c) for p, c, _ in found], found


def test_jwks_bounds(tmp_path: Path) -> None:
    keys = [
        public_jwk(DevIssuer("https://i.example", alg="ES256").signing_key)
        for _ in range(MAX_KEYS + 1)
    ]
    found = _problems(tmp_path, {"Url": "https://issuer.example", "Jwks": {"keys": keys}})
    assert any(p == "$.Jwks.keys" and f"more than {MAX_KEYS}" in m for p, _, m in found), found


def test_private_key_material_is_refused(tmp_path: Path) -> None:
    import json as _json

    from jwt.algorithms import ECAlgorithm

    issuer = DevIssuer("https://i.example", alg="ES256")
    private = _json.loads(ECAlgorithm.to_jwk(issuer.signing_key))
    found = _problems(tmp_path, {"Url": "https://issuer.example", "Jwks": {"keys": [private]}})
    assert any("private key material" in m for _, _, m in found), found


def test_two_files_for_one_issuer_is_a_duplicate(tmp_path: Path) -> None:
    _load(tmp_path, {"Url": "https://issuer.example"})
    (tmp_path / f"accounts/{ACCOUNT}/oidc-providers/q.json").write_text(
        json.dumps({"Url": "issuer.example"})
    )
    result = check_repository(tmp_path)
    assert [p.code for p in result.problems] == ["EntityAlreadyExists"]


def test_importer_writes_providers_of_the_dump(tmp_path: Path) -> None:
    from authz.repo.importer import import_authorization_details

    url = "oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
    dump = {
        "UserDetailList": [],
        "GroupDetailList": [],
        "RoleDetailList": [],
        "Policies": [],
        "OpenIDConnectProviderList": [
            {
                "Arn": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{url}",
                "Url": url,
                "ClientIDList": ["sts.amazonaws.com"],
                "ThumbprintList": ["9e99a48a9960b14926bb7f3b02e22da2b0ab7280"],
                "CreateDate": "2024-01-01T00:00:00Z",
            },
            {"Arn": f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"},
        ],
    }
    summary = import_authorization_details(dump, ACCOUNT, tmp_path)
    assert summary.counts == {"oidc-providers": 1}
    assert any("has no `Url`" in n for n in summary.notices)
    result = check_repository(tmp_path)
    assert result.ok, result.problems
    assert result.repository.oidc_provider(ACCOUNT, f"https://{url}") is not None
    dump["OpenIDConnectProviderList"][0]["Arn"] = f"arn:aws:iam::{ACCOUNT}:oidc-provider/x"
    with pytest.raises(ValidationError, match="does not match"):
        import_authorization_details(dump, ACCOUNT, tmp_path)
