"""The simulate commands page like the AWS CLI: every result by following markers, or
``--max-items`` results and a ``NextToken`` that ``--starting-token`` continues from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from authz.cli import main
from authz.cli_paging import paginate_all
from authz.engine.simulate import simulate_custom_policy

POLICY = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}'
REQUEST = {
    "PolicyInputList": [POLICY],
    "ActionNames": [f"s3:Action{i}" for i in range(25)],
    "ResourceArns": [f"arn:aws:s3:::bucket/{i}" for i in range(10)],
    "CallerArn": "arn:aws:iam::111122223333:user/alice",
}
ALL = [(a, r) for a in REQUEST["ActionNames"] for r in REQUEST["ResourceArns"]]


def _pairs(response: dict[str, object]) -> list[tuple[str, str]]:
    results = response["EvaluationResults"]
    assert isinstance(results, list)
    return [(r["EvalActionName"], r["EvalResourceName"]) for r in results]


def test_without_options_every_result_is_collected() -> None:
    assert len(simulate_custom_policy(REQUEST)["EvaluationResults"]) == 100  # one API page
    out = paginate_all(simulate_custom_policy, REQUEST, page_size=30)
    assert _pairs(out) == ALL and out["IsTruncated"] is False and "NextToken" not in out


def test_max_items_and_starting_token_continue_exactly() -> None:
    first = paginate_all(simulate_custom_policy, REQUEST, max_items=70, page_size=30)
    assert _pairs(first) == ALL[:70] and isinstance(first["NextToken"], str)
    rest = paginate_all(simulate_custom_policy, REQUEST, starting_token=str(first["NextToken"]))
    assert _pairs(rest) == ALL[70:]


def test_an_explicit_api_page_is_one_call() -> None:
    out = paginate_all(simulate_custom_policy, {**REQUEST, "MaxItems": 5})
    assert len(_pairs(out)) == 5 and out["IsTruncated"] is True and out["Marker"]


def test_the_command_prints_every_result(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    request = tmp_path / "request.json"
    request.write_text(json.dumps(REQUEST))
    assert main(["simulate-custom-policy", "--cli-input-json", str(request)]) == 0
    assert _pairs(json.loads(capsys.readouterr().out)) == ALL
    assert main(["simulate-custom-policy", "--cli-input-json", str(request),
                 "--max-items", "3"]) == 0  # fmt: skip
    printed = json.loads(capsys.readouterr().out)
    assert _pairs(printed) == ALL[:3] and printed["NextToken"]
