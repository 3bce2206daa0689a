"""AWS CLI conventions of the commands that mirror an AWS command: individual flags beside
``--cli-input-json``, inline JSON or ``file://`` documents, shorthand structures, ``--output``
and ``--query``, documented exit codes, ``--version``, help on every flag, user input echoed
exactly, a taken port reported in one line."""

from __future__ import annotations

import argparse
import json
import socket
from pathlib import Path
from typing import Any

import pytest

from authz import cli_params
from authz.cli import build_parser, main
from authz.cli_output import render

ALLOW_S3 = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": "*",
            "Condition": {"StringEquals": {"s3:ExistingObjectTag/team": ["a", "b"]}},
        }
    ],
}


CALLER = "arn:aws:iam::123456789012:user/alice"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_simulate_custom_policy_takes_individual_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = tmp_path / "policy.json"
    doc.write_text(json.dumps(ALLOW_S3))
    request = {
        "CallerArn": CALLER,
        "PolicyInputList": [json.dumps(ALLOW_S3)],
        "ActionNames": ["s3:GetObject", "s3:PutObject"],
        "ResourceArns": ["arn:aws:s3:::b/k"],
        "ContextEntries": [
            {"ContextKeyName": "s3:ExistingObjectTag/team", "ContextKeyValues": ["b"],
             "ContextKeyType": "string"}
        ],
    }  # fmt: skip
    code, via_json, _ = _run(
        capsys, "simulate-custom-policy", "--cli-input-json", json.dumps(request)
    )
    assert code == 0
    for policy in (f"file://{doc}", json.dumps(ALLOW_S3)):  # file:// and inline JSON
        code, via_flags, _ = _run(
            capsys,
            "simulate-custom-policy",
            "--policy-input-list", policy,
            "--action-names", "s3:GetObject", "s3:PutObject",
            "--resource-arns", "arn:aws:s3:::b/k",
            "--caller-arn", CALLER,
            "--context-entries",
            "ContextKeyName=s3:ExistingObjectTag/team,ContextKeyValues=b,ContextKeyType=string",
        )  # fmt: skip
        assert code == 0 and json.loads(via_flags) == json.loads(via_json)
    results = json.loads(via_json)["EvaluationResults"]
    assert [r["EvalDecision"] for r in results] == ["allowed", "implicitDeny"]
    # a flag beside --cli-input-json wins, as in the AWS CLI
    code, out, _ = _run(
        capsys,
        "simulate-custom-policy",
        "--cli-input-json", json.dumps(request),
        "--action-names", "s3:PutObject",
    )  # fmt: skip
    assert [r["EvalActionName"] for r in json.loads(out)["EvaluationResults"]] == ["s3:PutObject"]


def test_context_entries_shorthand_lists_and_json() -> None:
    entries = cli_params.context_entries(
        [
            "ContextKeyName=aws:SourceIp,ContextKeyValues=10.0.0.1,10.0.0.2,ContextKeyType=ipList",
            '{"ContextKeyName": "k", "ContextKeyValues": ["v"], "ContextKeyType": "string"}',
        ]
    )
    assert entries == [
        {"ContextKeyName": "aws:SourceIp", "ContextKeyValues": ["10.0.0.1", "10.0.0.2"],
         "ContextKeyType": "ipList"},
        {"ContextKeyName": "k", "ContextKeyValues": ["v"], "ContextKeyType": "string"},
    ]  # fmt: skip
    with pytest.raises(Exception, match="expected ContextKeyName="):
        cli_params.context_entries(["Name=k,Values=v"])


def test_tags_in_aws_shorthand() -> None:
    assert cli_params.tags(["Key=Project,Value=Pegasus", "Key=Cost-Center,Value=98765"]) == {
        "Project": "Pegasus",
        "Cost-Center": "98765",
    }
    assert cli_params.tags(['[{"Key": "a", "Value": "1"}]', "b=2"]) == {"a": "1", "b": "2"}
    with pytest.raises(Exception, match="Key="):
        cli_params.tags(["nonsense"])


def test_user_input_is_echoed_exactly(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = str(tmp_path / "MyPolicy.json")
    code, _, err = _run(
        capsys, "validate-policy", "--policy-type", "managed", "--policy-document", missing
    )
    assert code == 2
    assert f"`{missing}`" in json.loads(err)["Error"]["Message"]


def test_documents_inline_or_file_url(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    inline = json.dumps(ALLOW_S3)
    code, out, _ = _run(
        capsys, "validate-policy", "--policy-type", "managed", "--policy-document", inline
    )
    assert code == 0 and json.loads(out)["Valid"] is True
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"Version": "2012-10-17", "Statement": []}))
    code, out, _ = _run(
        capsys, "validate-policy", "--policy-type", "managed", "--policy-document", f"file://{path}"
    )
    assert code == 1 and json.loads(out)["Valid"] is False


def test_output_formats_and_query(capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "simulate-custom-policy",
        "--policy-input-list", json.dumps(ALLOW_S3),
        "--action-names", "s3:GetObject", "s3:PutObject",
        "--caller-arn", CALLER,
    ]  # fmt: skip
    query = "EvaluationResults[].[EvalActionName,EvalDecision]"
    code, out, _ = _run(capsys, *args, "--query", query)
    assert code == 0
    missing = "implicitDeny"  # no s3:ExistingObjectTag/team in the context
    assert json.loads(out) == [["s3:GetObject", missing], ["s3:PutObject", "implicitDeny"]]
    code, out, _ = _run(capsys, *args, "--query", query, "--output", "text")
    assert out.splitlines() == ["s3:GetObject\timplicitDeny", "s3:PutObject\timplicitDeny"]
    code, out, _ = _run(capsys, *args, "--query", "EvaluationResults[0]", "--output", "table")
    assert "| EvalActionName" in out and "s3:GetObject" in out and out.startswith("+")
    code, _, err = _run(capsys, *args, "--query", "EvaluationResults[")
    assert code == 2 and "JMESPath" in err


def test_text_output_shapes() -> None:
    doc = {"Arn": "arn:x", "Account": "1", "Items": [{"A": 1}, {"A": 2}], "Tags": ["t1", "t2"]}
    assert render(doc, "text").splitlines() == ["1\tarn:x", "ITEMS\t1", "ITEMS\t2", "TAGS\tt1\tt2"]


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["simulate-custom-policy", "--no-such-flag"])
    assert exc.value.code == 2
    code, _, err = _run(capsys, "simulate-custom-policy", "--action-names", "s3:GetObject")
    assert code == 2 and "--policy-input-list" in err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith("authz ")


def _walk(parser: argparse.ArgumentParser, name: str) -> list[tuple[str, Any]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, child in action.choices.items():
                found.extend(_walk(child, f"{name} {sub}"))
        elif action.option_strings:
            found.append((name, action))
    return found


def test_every_flag_has_help_and_the_environment_is_listed() -> None:
    parser = build_parser()
    missing = [(n, a.option_strings) for n, a in _walk(parser, "authz") if not a.help]
    assert missing == []
    text = parser.format_help()
    for variable in (
        "AUTHZ_SESSION_TOKEN", "AUTHZ_ACCESS_KEY_ID", "AUTHZ_SECRET_ACCESS_KEY",
        "AUTHZ_CREDENTIALS_FILE", "AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE",
        "AUTHZ_BENCH_RELOAD_MS",
    ):  # fmt: skip
        assert variable in text
    assert "254" in text and "authz:AuthorizeOnBehalf" in text


def test_a_taken_port_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = _run(
            capsys,
            "serve",
            "--repo", "policies",
            "--listen", f"127.0.0.1:{port}",
            "--keys-dir", str(tmp_path / "keys"),
            "--state-url", f"sqlite:///{tmp_path / 's.db'}",
            "--no-watch",
        )  # fmt: skip
    assert code == 255
    assert err.splitlines() == [
        f"authz serve: cannot listen on 127.0.0.1:{port}: address already in use"
    ]
    assert "Traceback" not in out + err
