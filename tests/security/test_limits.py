"""Size limits at the door (issue 10 item 2), each written as the attack it stops, against a
real server: oversize ARNs, actions and contexts are refused before any work with a
``ValidationError`` naming the field and the limit, and a simulation of many action × resource
pairs is answered one cheap page at a time (``MaxItems`` / ``Marker`` / ``IsTruncated``)
instead of evaluating everything and then failing on the message limit."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from authz.client import AuthzClient
from authz.errors import ValidationError
from tests.integration.e2e.harness import E2EServer, ServerFactory

BOB = "arn:aws:iam::111122223333:user/Bob"
ALLOW_S3 = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*",'
    '"Resource":"arn:aws:s3:::bucket-1*"}]}'
)


def _client(env: E2EServer) -> AuthzClient:
    """Simulations need iam:SimulateCustomPolicy / iam:SimulatePrincipalPolicy: the example's
    authz-admin role has them (docs/security.md)."""
    return env.client(env.example_admin())


def _refused(call: Any, *fields: str) -> ValidationError:
    """The call fails with exactly ``ValidationError`` (INVALID_ARGUMENT, not INTERNAL) whose
    message names every one of ``fields``."""
    with pytest.raises(ValidationError) as caught:
        call()
    assert caught.value.code == "ValidationError"
    message = str(caught.value)
    for field in fields:
        assert field in message, message
    return caught.value


@pytest.fixture
def env(start_server: ServerFactory, example_repo: Path) -> E2EServer:
    return start_server(example_repo)


def test_simulation_of_300_actions_by_300_resources_pages_cheaply(env: E2EServer) -> None:
    """Attack: 300 actions x 300 resources (a 10 KiB request) cost 6 s of CPU and +180 MiB,
    then RESOURCE_EXHAUSTED because the answer exceeded 4 MiB: all the work wasted. Now each
    call evaluates one page, and the pages together are every pair, in order."""
    actions = [f"s3:Action{i:03d}" for i in range(300)]
    resources = [f"arn:aws:s3:::bucket-{i:03d}/key" for i in range(300)]
    request: dict[str, Any] = {
        "policy_input_list": [ALLOW_S3],
        "action_names": actions,
        "resource_arns": resources,
        "caller_arn": BOB,
    }
    with _client(env) as client:
        started = time.perf_counter()
        first = client.simulate_custom_policy(**request)
        elapsed = time.perf_counter() - started
        assert len(first.evaluation_results) == 100  # AWS's default MaxItems
        assert first.is_truncated and first.marker
        assert elapsed < 3.0, f"the first page took {elapsed:.2f} s"
        pages = [first]
        for _ in range(3):
            pages.append(
                client.simulate_custom_policy(**request, max_items=1000, marker=pages[-1].marker)
            )
    pairs = [
        (r.eval_action_name, r.eval_resource_name) for p in pages for r in p.evaluation_results
    ]
    expected = [(a, r) for a in actions for r in resources]
    assert pairs == expected[: len(pairs)]
    assert len(pairs) == 3100
    assert pages[-1].is_truncated
    for result in (r for p in pages for r in p.evaluation_results):  # really evaluated
        allowed = result.eval_resource_name.startswith("arn:aws:s3:::bucket-1")
        assert result.eval_decision == ("allowed" if allowed else "implicitDeny")


def test_a_marker_only_continues_the_request_it_came_from(env: E2EServer) -> None:
    """Attack: reuse a marker with other parameters (or forge one) to skip the validation
    of what the page covers."""
    request: dict[str, Any] = {
        "policy_input_list": [ALLOW_S3],
        "action_names": ["s3:GetObject", "s3:PutObject"],
        "resource_arns": ["arn:aws:s3:::bucket-1/a", "arn:aws:s3:::bucket-1/b"],
        "caller_arn": BOB,
        "max_items": 1,
    }
    with _client(env) as client:
        page = client.simulate_custom_policy(**request)
        assert page.is_truncated
        other = {**request, "action_names": ["s3:DeleteObject", "s3:PutObject"]}
        _refused(lambda: client.simulate_custom_policy(**other, marker=page.marker), "marker")
        _refused(lambda: client.simulate_custom_policy(**request, marker="9" * 30), "marker")
        _refused(lambda: client.simulate_custom_policy(**{**request, "max_items": 1001}),
                 "maxItems", "1000")  # fmt: skip
        last = client.simulate_custom_policy(**{**request, "max_items": 3}, marker=page.marker)
        assert not last.is_truncated and not last.marker
        assert len(last.evaluation_results) == 3


def test_oversize_authorize_fields_are_refused(env: E2EServer) -> None:
    """Attack: a 3 MiB resource kept 4.3 MiB in the shape memo per call; oversize actions and
    contexts reached the engine and its caches. Each is refused naming field and limit."""
    with _client(env) as client:
        ok = "arn:aws:s3:::bob-scratch/" + "k" * (2048 - 25)
        assert len(ok) == 2048
        client.authorize("s3:GetObject", ok)  # the AWS maximum itself is accepted
        _refused(lambda: client.authorize("s3:GetObject", ok + "k"), "resource", "2048")
        _refused(lambda: client.authorize("s3:" + "A" * 126, "arn:aws:s3:::x"), "action", "128")
        many = {f"custom:key{i}": "v" for i in range(65)}
        _refused(lambda: client.authorize("s3:GetObject", "arn:aws:s3:::x", context=many),
                 "context", "64")  # fmt: skip
        long_key = {"custom:" + "k" * 250: "v"}
        _refused(lambda: client.authorize("s3:GetObject", "arn:aws:s3:::x", context=long_key),
                 "context.1.key", "256")  # fmt: skip
        long_value = {"custom:key": "v" * 4097}
        _refused(lambda: client.authorize("s3:GetObject", "arn:aws:s3:::x", context=long_value),
                 "context.1.values", "4096")  # fmt: skip


def test_oversize_batch_items_name_the_item(env: E2EServer) -> None:
    from authz.client.client import build_authorize_request

    with _client(env) as client:
        items = [
            build_authorize_request("s3:GetObject", "arn:aws:s3:::bob-scratch/a"),
            build_authorize_request("s3:GetObject", "arn:aws:s3:::" + "x" * 2040),
        ]
        _refused(lambda: client.authorize_batch(items), "items.2.resource", "2048")


def test_oversize_simulation_fields_are_refused(env: E2EServer) -> None:
    """Attack: simulation inputs of any size reached the parser, compiler and caches."""
    base: dict[str, Any] = {"policy_input_list": [ALLOW_S3], "action_names": ["s3:GetObject"]}
    with _client(env) as client:
        call = client.simulate_custom_policy
        _refused(lambda: call(**{**base, "resource_arns": ["arn:aws:s3:::" + "x" * 2040]}),
                 "resourceArns.1", "2048")  # fmt: skip
        _refused(lambda: call(**{**base, "action_names": ["s3:" + "A" * 126]}),
                 "actionNames.1", "128")  # fmt: skip
        actions = [f"s3:A{i}" for i in range(1001)]
        _refused(lambda: call(**{**base, "action_names": actions}), "actionNames", "1000")
        huge = ALLOW_S3[:-2] + " " * (131073 - len(ALLOW_S3)) + ALLOW_S3[-2:]
        _refused(lambda: call(**{**base, "policy_input_list": [huge]}),
                 "policyInputList.1", "131072")  # fmt: skip
        _refused(lambda: call(**{**base, "policy_input_list": [ALLOW_S3] * 11}),
                 "policyInputList", "10")  # fmt: skip
        context = [{"context_key_name": f"custom:k{i}", "context_key_values": ["v"]}
                   for i in range(65)]  # fmt: skip
        _refused(lambda: call(**{**base, "context_entries": context}), "contextEntries", "64")
        # AWS's minimum lengths (ActionNameType 3, ContextKeyNameType 5) hold too
        _refused(lambda: call(**{**base, "action_names": ["s3"]}), "actionNames.1", "3")
        short = [{"context_key_name": "a:b", "context_key_values": ["v"]}]
        _refused(lambda: call(**{**base, "context_entries": short}), "contextEntries.1.key", "5")
        _refused(
            lambda: client.simulate_principal_policy(
                policy_source_arn=BOB, action_names=["s3:GetObject"],
                resource_arns=["arn:aws:s3:::" + "x" * 2040],
            ),
            "resourceArns.1", "2048",
        )  # fmt: skip


def test_the_limits_come_from_the_settings(start_server: ServerFactory, example_repo: Path) -> None:
    env = start_server(example_repo, max_context_keys=2, max_simulation_actions=3)
    with _client(env) as client:
        three = {"custom:a": "1", "custom:b": "2", "custom:c": "3"}
        _refused(lambda: client.authorize("s3:GetObject", "arn:aws:s3:::x", context=three),
                 "context", "2")  # fmt: skip
        actions = ["s3:A", "s3:B", "s3:C", "s3:D"]
        _refused(
            lambda: client.simulate_custom_policy(policy_input_list=[ALLOW_S3],
                                                  action_names=actions),
            "actionNames", "3",
        )  # fmt: skip


def test_a_large_page_stays_under_the_message_limit(
    start_server: ServerFactory, example_repo: Path
) -> None:
    """Attack: results of many matched statements overflow the response (RESOURCE_EXHAUSTED
    after all the work). The page is cut short by size and continues at its marker."""
    statements = ",".join(
        f'{{"Sid":"S{i}","Effect":"Allow","Action":"s3:*","Resource":"*"}}' for i in range(100)
    )
    policy = f'{{"Version":"2012-10-17","Statement":[{statements}]}}'
    env = start_server(example_repo, max_message_bytes=256 * 1024)
    resources = [f"arn:aws:s3:::bucket-{i}/" + "k" * 200 for i in range(1000)]
    with _client(env) as client:
        page = client.simulate_custom_policy(
            policy_input_list=[policy],
            action_names=["s3:GetObject"],
            resource_arns=resources,
            caller_arn=BOB,
            max_items=1000,
        )
        assert page.is_truncated and page.marker
        assert 0 < len(page.evaluation_results) < 1000
        assert page.ByteSize() < 256 * 1024
        assert len(page.evaluation_results[0].matched_statements) == 100
        rest = client.simulate_custom_policy(
            policy_input_list=[policy],
            action_names=["s3:GetObject"],
            resource_arns=resources,
            caller_arn=BOB,
            max_items=1000,
            marker=page.marker,
        )
        first = rest.evaluation_results[0].eval_resource_name
        assert first == resources[len(page.evaluation_results)]
