"""The native client's request files and the Cerbos side-by-side generators: request files
read back exactly, the authz builders send distinct questions with the access key, the Cerbos
policy is the benchmark principal's statements (and refuses what it cannot translate), and the
CheckResources wire format decodes; with the C client built, a short run against an
in-process health server counts successes and grpc-status errors."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from authz._gen.authz.v1 import authorizer_pb2
from authz.bench import api_scenarios, authz_server, cerbos, native
from authz.bench.loadgen import LoadConfig


def test_request_file_round_trip(tmp_path: Path) -> None:
    messages = [b"", b"\x00\x01", b"x" * 70_000]
    original = native.RequestFile("/a.B/C", (("x-key", "v 1"), ("x-other", "")), messages)
    path = native.write_request_file(tmp_path / "r.bin", original)
    assert path.stat().st_mode & 0o777 == 0o600  # may hold credentials
    again = native.read_request_file(path)
    assert again.path == "/a.B/C"
    assert again.headers == original.headers
    assert list(again.messages) == messages
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(ValueError, match="truncated"):
        native.read_request_file(path)


def test_request_file_with_headers_per_message_round_trip(tmp_path: Path) -> None:
    own = [(("authorization", "sig 0"), ("x-amz-date", "d0")), (), (("x-n", "2"),)]
    original = native.RequestFile("/a.B/C", (("x-key", "v"),), [b"0", b"1", b"2"], own)
    path = native.write_request_file(tmp_path / "r.bin", original)
    assert path.read_bytes().startswith(native.MAGIC_PER_MESSAGE)
    again = native.read_request_file(path)
    assert again.headers == original.headers and list(again.messages) == [b"0", b"1", b"2"]
    assert again.message_headers == own
    with pytest.raises(ValueError, match="one header tuple per message"):
        native.RequestFile("/a.B/C", (), [b"0", b"1"], [()])
    with pytest.raises(ValueError, match="at most"):
        native.RequestFile("/a.B/C", (("x-a", "1"),) * 20, [b"0"], [(("x-b", "2"),) * 13])


def test_request_file_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="start with /"):
        native.RequestFile("a.B/C", (), [b""])
    with pytest.raises(ValueError, match="messages"):
        native.RequestFile("/a.B/C", (), [])
    with pytest.raises(ValueError, match="lower-case"):
        native.RequestFile("/a.B/C", (("X-Key", "v"),), [b""])


def test_authz_requests_are_distinct_and_authenticated(monkeypatch: Any, tmp_path: Path) -> None:
    info = tmp_path / "fixture.json"
    info.write_text('{"access_key_id": "AKIDTEST", "secret_access_key": "s3cr3t"}')
    monkeypatch.setenv(authz_server.FIXTURE_ENV, str(info))
    distinct = api_scenarios.native_authorize_distinct(500)
    assert distinct.path == api_scenarios.AUTHORIZE
    assert dict(distinct.headers) == {
        "x-authz-access-key-id": "AKIDTEST",
        "x-authz-secret-access-key": "s3cr3t",
    }
    assert len(set(distinct.messages)) == 500
    first = authorizer_pb2.AuthorizeRequest.FromString(distinct.messages[0])
    assert first == api_scenarios.authorize_request(0)
    batch = api_scenarios.native_authorize_batch(300)
    items = [
        item
        for m in batch.messages
        for item in authorizer_pb2.AuthorizeBatchRequest.FromString(m).items
    ]
    assert len(items) == 300 and len({i.resource for i in items}) == 300
    assert len(set(api_scenarios.native_authorize_repeated(10_000).messages)) == 64


def _rules(policy: dict[str, Any]) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = policy["principalPolicy"]["rules"][0]["actions"]
    return rules


def test_cerbos_policy_follows_the_statements() -> None:
    policy = cerbos.principal_policy(authz_server.STATEMENTS, api_scenarios.ACTIONS)
    rules = _rules(policy)
    allow = {r["action"] for r in rules if r["effect"] == "EFFECT_ALLOW"}
    # s3:GetObject and s3:List* on bucket-a; dynamodb:Get*; sqs:* (IP condition); kms
    # Describe*/List*; s3:Put* (acl condition). sns:Publish asks no action of the vocabulary.
    assert {"s3:getobject", "s3:listobject", "dynamodb:getobject", "s3:putobject"} <= allow
    assert {f"sqs:{v}object" for v in ("get", "put", "list", "delete", "describe")} <= allow
    assert not any(a.startswith("sns:") for a in allow)
    assert "s3:deleteobject" not in allow
    jobs = next(r for r in rules if r["name"] == "Jobs_sqs_getobject")
    exprs = [e["expr"] for e in jobs["condition"]["match"]["all"]["of"]]
    assert any('inIPAddrRange("10.0.0.0/8")' in e for e in exprs)
    assert any("jobs\\\\-.*$" in e or "jobs\\-.*$" in e for e in exprs)
    deny = {r["name"] for r in rules if r["effect"] == "EFFECT_DENY"}
    assert "Locked_s3_deleteobject" in deny
    assert {f"KeyPolicyRequired_kms_{v}object" for v in ("get", "list")} <= deny
    tls = [r for r in rules if r["name"].startswith("TlsOnly_")]
    assert len(tls) == len(api_scenarios.ACTIONS)  # NotAction sts:*/authz:* denies all of them


def test_cerbos_policy_refuses_what_it_cannot_translate() -> None:
    base = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
    with pytest.raises(ValueError, match="StringLike"):
        cerbos.principal_policy(
            [base | {"Condition": {"StringLike": {"s3:prefix": "a*"}}}], ["s3:getobject"]
        )
    with pytest.raises(ValueError, match="NotResource"):
        cerbos.principal_policy([{**base, "NotResource": "x"}], ["s3:getobject"])


def test_check_resources_wire_format() -> None:
    check = cerbos.CerbosCheck(
        "s3", "arn:aws:s3:::b/k", {"aws:SourceIp": "10.0.0.1", "flag": True}, ("s3:getobject",)
    )
    body = cerbos.check_resources_request([check, check], request_id="r1")
    fields = list(cerbos._fields(body))
    assert [f[0] for f in fields] == [1, 3, 4, 4]  # request_id, principal, 2 resources
    entry = dict((n, v) for n, _w, v in cerbos._fields(fields[2][2]))  # type: ignore[arg-type]
    assert entry[1] == b"s3:getobject"

    # a CheckResourcesResponse with two results: ALLOW and DENY for one action
    def result(effect: int) -> bytes:
        pair = cerbos._string(1, "s3:getobject") + bytes([2 << 3, effect])
        return cerbos._field(2, cerbos._field(2, pair))

    response = cerbos._string(1, "r1") + result(1) + result(2)
    assert cerbos.decode_effects(response) == [{"s3:getobject": 1}, {"s3:getobject": 2}]


@pytest.fixture
def health_target() -> Iterator[str]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    servicer = health.HealthServicer()
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(grace=None).wait(timeout=2.0)


SOURCE = Path(native.__file__).resolve().parents[2] / "benchmarks" / "loadc" / "loadc.c"
HEADER = Path("/usr/include/nghttp2/nghttp2.h")


@pytest.fixture
def loadc(tmp_path: Path, monkeypatch: Any) -> Path:
    """The C client compiled from this checkout's source (about a second)."""
    cc = shutil.which("cc")
    if cc is None or not HEADER.exists():
        pytest.skip("no C compiler or libnghttp2-dev here (make bench-load installs them)")
    binary = tmp_path / "loadc"
    subprocess.run(
        [cc, "-O1", "-o", str(binary), str(SOURCE), "-lnghttp2", "-lm"], check=True, timeout=120
    )
    monkeypatch.setenv(native.LOADC_ENV, str(binary))
    return binary


def test_loadc_counts_successes_and_grpc_errors(
    loadc: Path, health_target: str, tmp_path: Path
) -> None:
    config = LoadConfig(concurrency=4, connections=2, duration_s=0.4, warmup_s=0.1)
    ok = native.write_request_file(
        tmp_path / "ok.bin", native.RequestFile("/grpc.health.v1.Health/Check", (), [b""])
    )
    result, raw = native.run_loadc(ok, health_target, config, scenario="echo")
    assert result.successes > 0 and result.errors == {}
    assert result.latency_us["p50"] > 0 and raw["wrapped"] is True
    missing = native.write_request_file(
        tmp_path / "missing.bin", native.RequestFile("/no.Such/Method", (), [b""])
    )
    result, _raw = native.run_loadc(missing, health_target, config, scenario="missing")
    assert result.successes == 0 and result.errors.get("UNIMPLEMENTED", 0) == result.requests > 0
    with pytest.raises(ValueError, match="loopback"):
        native.run_loadc(ok, "10.0.0.1:1", config, scenario="echo")


@pytest.fixture
def body_check_target() -> Iterator[str]:
    """A server whose one method succeeds only when the call's ``x-body`` metadata is the hex
    of its request bytes (per-message headers must travel with their own message)."""

    def check(request: bytes, context: grpc.ServicerContext) -> bytes:
        sent = dict(context.invocation_metadata()).get("x-body")
        if sent != request.hex():
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"x-body {sent!r}")
        return b""

    handler = grpc.method_handlers_generic_handler(
        "t.T", {"Check": grpc.unary_unary_rpc_method_handler(check)}
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), handlers=(handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(grace=None).wait(timeout=2.0)


def test_loadc_sends_each_message_with_its_own_headers(
    loadc: Path, body_check_target: str, tmp_path: Path
) -> None:
    config = LoadConfig(concurrency=4, connections=2, duration_s=0.4, warmup_s=0.1)
    messages = [i.to_bytes(2, "big") for i in range(50)]
    own = [(("x-body", m.hex()),) for m in messages]
    right = native.write_request_file(
        tmp_path / "right.bin", native.RequestFile("/t.T/Check", (), messages, own)
    )
    result, _raw = native.run_loadc(right, body_check_target, config, scenario="own")
    assert result.successes == result.requests > 0 and result.errors == {}
    shifted = own[1:] + own[:1]  # every message with another message's headers
    wrong = native.write_request_file(
        tmp_path / "wrong.bin", native.RequestFile("/t.T/Check", (), messages, shifted)
    )
    result, _raw = native.run_loadc(wrong, body_check_target, config, scenario="shifted")
    assert result.successes == 0 and result.errors.get("INVALID_ARGUMENT", 0) == result.requests
