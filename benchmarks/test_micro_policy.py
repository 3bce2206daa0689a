"""Micro benchmarks: parsing, validating and translating IAM policies, each next to a bare
baseline (``json.loads`` of the same text; Cedar parsing the translated text).

ReadOnlyAccess (the largest common AWS managed policy) per call, and the whole AWS managed
policy corpus (``tests/data/aws-managed-policies.tar.xz``) once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cedarpy
import pytest
from conftest import CORPUS, READ_ONLY

from authz.cedar.schema import validate_translation
from authz.cedar.translate import translate_policies
from authz.iam.model import Policy, PolicyType
from authz.iam.parse import parse_policy

pytestmark = pytest.mark.skipif(not READ_ONLY.exists(), reason="managed-policy corpus missing")


def _text() -> str:
    return json.dumps(json.loads(READ_ONLY.read_text())["Document"])


def _policy() -> Policy:
    return parse_policy(_text(), PolicyType.MANAGED, name="ReadOnlyAccess")


def _mark(benchmark: Any, group: str, role: str) -> None:
    benchmark.group = group
    benchmark.extra_info["role"] = role


def test_bare_json_loads(benchmark: Any) -> None:
    _mark(benchmark, "parse-read-only-access", "baseline")
    text = _text()
    benchmark.pedantic(json.loads, args=(text,), rounds=20, iterations=5, warmup_rounds=1)


def test_parse_policy(benchmark: Any) -> None:
    _mark(benchmark, "parse-read-only-access", "subject")
    text = _text()
    benchmark.pedantic(
        parse_policy,
        args=(text, PolicyType.MANAGED),
        kwargs={"name": "ReadOnlyAccess"},
        rounds=20,
        iterations=5,
        warmup_rounds=1,
    )


def test_bare_cedar_parse(benchmark: Any) -> None:
    _mark(benchmark, "translate-read-only-access", "baseline")
    text = translate_policies([_policy()], "identity").text()
    benchmark.pedantic(cedarpy.PolicySet.from_str, args=(text,), rounds=10, warmup_rounds=1)


def test_translate(benchmark: Any) -> None:
    _mark(benchmark, "translate-read-only-access", "subject")
    policy = _policy()
    benchmark.pedantic(translate_policies, args=([policy], "identity"), rounds=10, warmup_rounds=1)


def test_translate_one_service_partition(benchmark: Any) -> None:
    _mark(benchmark, "translate-read-only-access", "subject")
    policy = _policy()
    benchmark.pedantic(
        translate_policies,
        args=([policy], "identity"),
        kwargs={"service": "s3"},
        rounds=10,
        warmup_rounds=1,
    )


def test_validate(benchmark: Any) -> None:
    _mark(benchmark, "translate-read-only-access", "subject")
    translation = translate_policies([_policy()], "identity")
    benchmark.pedantic(validate_translation, args=(translation,), rounds=5, warmup_rounds=1)


def _corpus() -> list[tuple[str, str]]:
    out = []
    for path in sorted(CORPUS.glob("*.json")):
        doc = json.loads(path.read_text())
        out.append((doc["PolicyName"], json.dumps(doc["Document"])))
    return out


def _translate_corpus(corpus: list[tuple[str, str]]) -> int:
    statements = 0
    for name, text in corpus:
        policy = parse_policy(text, PolicyType.MANAGED, name=name)
        statements += len(translate_policies([policy], "identity").statements)
    return statements


def _load_corpus(corpus: list[tuple[str, str]]) -> int:
    return sum(len(json.loads(text)) for _, text in corpus)


def test_bare_corpus_json_loads(benchmark: Any) -> None:
    _mark(benchmark, "corpus", "baseline")
    corpus = _corpus()
    benchmark.extra_info["policies"] = len(corpus)
    benchmark.pedantic(_load_corpus, args=(corpus,), rounds=3)


def test_corpus_parse_and_translate(benchmark: Any) -> None:
    _mark(benchmark, "corpus", "subject")
    corpus = _corpus()
    benchmark.extra_info["policies"] = len(corpus)
    benchmark.pedantic(_translate_corpus, args=(corpus,), rounds=1, iterations=1)


def test_corpus_exists() -> None:
    assert Path(CORPUS).is_dir()
