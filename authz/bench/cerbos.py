"""Cerbos side by side: the pinned server binary, policies equivalent to the benchmark
principal's IAM statements, and CheckResources requests asking the same questions.

Owns installing the Cerbos server (``@cerbos/cerbos-linux-x64`` from the npm registry, pinned
to ``CERBOS_VERSION``, unpacked into a cache directory; ``None`` with a reason when npm or the
registry is unavailable), the ``cerbos`` server of ``authz.bench.spawn`` (disk storage, audit
and telemetry off, gRPC on 127.0.0.1), translating IAM statements into one Cerbos principal
policy, and the CheckResources wire format (hand-encoded: the Cerbos protos are not a
dependency; field numbers from cerbos/cerbos ``api/public/cerbos/{request,engine,response}/v1``).

The translation covers what the benchmark policy uses and refuses anything else: Allow/Deny,
``Action``/``NotAction`` (IAM wildcards expanded over the benchmark's action vocabulary, the
actions its requests ask, lower case: Cerbos matches actions exactly), ``Resource`` patterns
(an anchored RE2 ``matches`` on the resource id, the ARN), and the condition operators
``IpAddress``, ``Bool`` and ``StringEquals`` on context keys sent as resource attributes named
like the keys. A condition on an absent key is false, as in IAM. Cerbos evaluates a principal
policy's deny before its allows and denies what nothing allowed, as IAM does.

What each side does per request differs and the report says so: authz authenticates the
caller (access key), authorizes it as an enforcement point (``authz:AuthorizeOnBehalf``) and
explains the decision (matched statements, failing layer, reason); Cerbos trusts its caller
and answers the effect per action.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from google.protobuf import struct_pb2

from authz.iam.glob import glob_match

__all__ = [
    "CERBOS_VERSION",
    "CHECK_RESOURCES",
    "CerbosCheck",
    "check_resources_request",
    "decode_effects",
    "ensure_cerbos",
    "principal_policy",
]

CERBOS_VERSION = "0.55.0"
NPM_PACKAGE = "@cerbos/cerbos-linux-x64"
CHECK_RESOURCES = "/cerbos.svc.v1.CerbosService/CheckResources"
PRINCIPAL_ID = "bench"
ROLES = ("user",)
EFFECT_ALLOW, EFFECT_DENY = 1, 2
CACHE_ENV = "AUTHZ_BENCH_CACHE"
MAX_POLICY_RULES = 1000
MAX_RESOURCES = 100


# -- protobuf wire format (just what CheckResources needs) ------------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _string(number: int, text: str) -> bytes:
    return _field(number, text.encode())


def _value(value: object) -> bytes:
    """A google.protobuf.Value (string, bool or number)."""
    out = struct_pb2.Value()
    if isinstance(value, bool):
        out.bool_value = value
    elif isinstance(value, int | float):
        out.number_value = float(value)
    elif isinstance(value, str):
        out.string_value = value
    else:
        raise TypeError(f"attribute value of type `{type(value).__name__}`")
    return out.SerializeToString()


def _attr_map(number: int, attrs: Mapping[str, object]) -> bytes:
    return b"".join(
        _field(number, _string(1, key) + _field(2, _value(value)))
        for key, value in sorted(attrs.items())
    )


@dataclass(frozen=True)
class CerbosCheck:
    """One resource to check: its kind, id (the ARN), attributes and actions."""

    kind: str
    resource_id: str
    attrs: Mapping[str, object]
    actions: tuple[str, ...]


def check_resources_request(checks: Sequence[CerbosCheck], request_id: str = "") -> bytes:
    """A serialized ``cerbos.request.v1.CheckResourcesRequest`` for principal ``bench``.

    CheckResourcesRequest: request_id 1, include_meta 2, principal 3, resources 4;
    ResourceEntry: actions 1, resource 2; engine.v1.Principal: id 1, policy_version 2,
    roles 3, attr 4; engine.v1.Resource: kind 1, policy_version 2, id 3, attr 4."""
    if not checks:
        raise ValueError("CheckResources needs at least one resource")
    principal = _string(1, PRINCIPAL_ID) + _string(2, "default")
    principal += b"".join(_string(3, role) for role in ROLES)
    body = _string(1, request_id) if request_id else b""
    body += _field(3, principal)
    for check in checks:
        resource = _string(1, check.kind) + _string(2, "default") + _string(3, check.resource_id)
        resource += _attr_map(4, check.attrs)
        entry = b"".join(_string(1, action) for action in check.actions)
        body += _field(4, entry + _field(2, resource))
    return body


def _fields(data: bytes) -> Iterable[tuple[int, int, bytes | int]]:
    """(number, wire type, payload) of each field of one message (varint and length types)."""
    pos = 0

    def varint() -> int:
        nonlocal pos
        shift = value = 0
        while True:
            if pos >= len(data) or shift > 63:
                raise ValueError("malformed varint")
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value

    while pos < len(data):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            yield number, wire, varint()
        elif wire == 2:
            n = varint()
            if pos + n > len(data):
                raise ValueError("truncated field")
            yield number, wire, data[pos : pos + n]
            pos += n
        else:
            raise ValueError(f"unexpected wire type {wire}")


def decode_effects(response: bytes) -> list[dict[str, int]]:
    """Per result (request order) the effect of each action, from a serialized
    ``CheckResourcesResponse`` (results 2; ResultEntry.actions 2: map<string, Effect>)."""
    results: list[dict[str, int]] = []
    for number, _wire, payload in _fields(response):
        if number != 2 or not isinstance(payload, bytes):
            continue
        actions: dict[str, int] = {}
        for entry_number, _w, entry in _fields(payload):
            if entry_number != 2 or not isinstance(entry, bytes):
                continue
            key, effect = "", 0
            for n, _ww, value in _fields(entry):
                if n == 1 and isinstance(value, bytes):
                    key = value.decode()
                elif n == 2 and isinstance(value, int):
                    effect = value
            actions[key] = effect
        results.append(actions)
    return results


# -- policies ---------------------------------------------------------------------------------


def _as_list(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError(f"expected a string or a list of strings, got {value!r}")


def _attr(key: str) -> str:
    return f"request.resource.attr[{json.dumps(key)}]"


def _condition(condition: Mapping[str, Any]) -> list[str]:
    exprs: list[str] = []
    for operator, block in sorted(condition.items()):
        if not isinstance(block, Mapping):
            raise ValueError(f"condition `{operator}` is not a key map")
        for key, raw in sorted(block.items()):
            values = _as_list(raw)
            present = f"{json.dumps(key)} in request.resource.attr"
            if operator == "IpAddress":
                test = " || ".join(f"{_attr(key)}.inIPAddrRange({json.dumps(v)})" for v in values)
            elif operator == "Bool":
                test = " || ".join(f"{_attr(key)} == {v.lower()}" for v in values)
                if any(v.lower() not in ("true", "false") for v in values):
                    raise ValueError(f"Bool condition on `{key}`: {values}")
            elif operator == "StringEquals":
                test = " || ".join(f"{_attr(key)} == {json.dumps(v)}" for v in values)
            else:
                raise ValueError(f"condition operator `{operator}` is not translated")
            exprs.append(f"{present} && ({test})")
    return exprs


def _resource_expr(patterns: list[str]) -> str | None:
    if "*" in patterns:
        return None
    regexes = []
    for pattern in patterns:
        body = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
        regexes.append(f"request.resource.id.matches({json.dumps('^' + body + '$')})")
    return " || ".join(regexes)


# A KMS key's own key policy must allow (authz.engine.combine.resource_policy_required); the
# benchmark repository has no key policies, so identity statements alone never open a key.
KMS_KEY = "^arn:[^:]*:kms:[^:]*:[^:]*:key/.*$"


def principal_policy(
    statements: Sequence[Mapping[str, Any]], actions: Iterable[str], principal: str = PRINCIPAL_ID
) -> dict[str, Any]:
    """One Cerbos principal policy with a rule per IAM statement (and per action it grants
    among ``actions``); statements that grant none of ``actions`` are left out. KMS keys are
    denied: without a key policy (the benchmark repository has none) AWS refuses them."""
    vocabulary = sorted({a.lower() for a in actions})
    rules: list[dict[str, Any]] = [
        {
            "action": action,
            "effect": "EFFECT_DENY",
            "name": f"KeyPolicyRequired_{re.sub(r'[^A-Za-z0-9_]', '_', action)}",
            "condition": {"match": {"expr": f"request.resource.id.matches({json.dumps(KMS_KEY)})"}},
        }
        for action in vocabulary
        if action.startswith("kms:")
    ]
    for index, statement in enumerate(statements):
        if "Principal" in statement or "NotPrincipal" in statement:
            raise ValueError("identity statements only (no Principal)")
        if "NotResource" in statement:
            raise ValueError("NotResource is not translated")
        effect = {"Allow": "EFFECT_ALLOW", "Deny": "EFFECT_DENY"}[statement["Effect"]]
        if "Action" in statement:
            patterns = _as_list(statement["Action"])
            chosen = [a for a in vocabulary if any(glob_match(p, a, True) for p in patterns)]
        else:
            patterns = _as_list(statement["NotAction"])
            chosen = [a for a in vocabulary if not any(glob_match(p, a, True) for p in patterns)]
        exprs = _condition(statement.get("Condition", {}))
        resource = _resource_expr(_as_list(statement["Resource"]))
        if resource is not None:
            exprs.insert(0, resource)
        name = re.sub(r"[^A-Za-z0-9_]", "_", str(statement.get("Sid") or f"statement{index}"))
        for action in chosen:
            rule_name = f"{name}_{re.sub(r'[^A-Za-z0-9_]', '_', action)}"
            rule: dict[str, Any] = {"action": action, "effect": effect, "name": rule_name}
            if exprs:
                rule["condition"] = {"match": {"all": {"of": [{"expr": e} for e in exprs]}}}
            rules.append(rule)
    if len(rules) > MAX_POLICY_RULES:
        raise ValueError(f"{len(rules)} rules: at most {MAX_POLICY_RULES}")
    return {
        "apiVersion": "api.cerbos.dev/v1",
        "principalPolicy": {
            "principal": principal,
            "version": "default",
            "rules": [{"resource": "*", "actions": rules}],
        },
    }


def write_policies(directory: Path, policy: Mapping[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "bench_principal.yaml"
    path.write_text(yaml.safe_dump(dict(policy), sort_keys=False))
    return path


def server_config(directory: Path, grpc_port: int, http_port: int) -> Path:
    """The Cerbos configuration: disk store of ``directory/policies``, no audit, no
    telemetry, listeners on 127.0.0.1."""
    config = {
        "server": {
            "grpcListenAddr": f"127.0.0.1:{grpc_port}",
            "httpListenAddr": f"127.0.0.1:{http_port}",
            # CheckResources with as many resources as an AuthorizeBatch has items (default 50)
            "requestLimits": {"maxResourcesPerRequest": MAX_RESOURCES, "maxActionsPerResource": 50},
        },
        "storage": {
            "driver": "disk",
            "disk": {"directory": str(directory / "policies"), "watchForChanges": False},
        },
        "audit": {"enabled": False},
        "telemetry": {"disabled": True},
    }
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


# -- the binary -------------------------------------------------------------------------------


def cache_dir() -> Path:
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "authz-bench"


def ensure_cerbos(version: str = CERBOS_VERSION) -> tuple[Path | None, str]:
    """The Cerbos binary (installed from npm into the cache on first use), or ``None`` and why."""
    target = cache_dir() / f"cerbos-{version}" / "cerbos"
    if os.access(target, os.X_OK):
        return target, f"cached {target}"
    npm = shutil.which("npm")
    if npm is None:
        return None, "npm not found: Cerbos is skipped (apt-get install npm)"
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        try:
            done = subprocess.run(
                [npm, "pack", f"{NPM_PACKAGE}@{version}", "--silent"],
                cwd=tmp,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return None, f"npm pack {NPM_PACKAGE}@{version} timed out: Cerbos is skipped"
        tarballs = list(Path(tmp).glob("*.tgz"))
        if done.returncode != 0 or not tarballs:
            reason = done.stderr.strip().splitlines()[-1:] or ["no tarball"]
            return None, f"npm pack {NPM_PACKAGE}@{version} failed ({reason[0]}): Cerbos skipped"
        with tarfile.open(tarballs[0]) as tar:
            member = tar.getmember("package/cerbos-linux-x64")
            source = tar.extractfile(member)
            if source is None:
                return None, "the npm package holds no cerbos-linux-x64 binary: Cerbos skipped"
            partial = target.with_suffix(".partial")
            with source, partial.open("wb") as out:
                shutil.copyfileobj(source, out)
        partial.chmod(0o755)
        partial.replace(target)
    return target, f"installed {NPM_PACKAGE}@{version} into {target}"
