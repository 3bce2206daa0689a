"""The examples of docs/translation.md are golden: every ```iam <type>``` block is translated and
must equal the ```cedar``` block after it. Regenerate with ``AUTHZ_REGEN_GOLDEN=1`` and review
the diff."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from authz.cedar.translate import translate_policies
from authz.iam.model import PolicyType
from authz.iam.parse import parse_policy

DOC = Path(__file__).resolve().parents[2] / "docs" / "translation.md"
PAIR = re.compile(r"```iam (?P<type>\w+)\n(?P<iam>.*?)```\n+```cedar\n(?P<cedar>.*?)```", re.DOTALL)
LAYERS = {"identity": "identity", "resource": "resource", "trust": "trust", "scp": "scp"}


def render(policy_type: str, text: str, index: int) -> str:
    policy = parse_policy(json.loads(text), PolicyType(policy_type), name=f"Example{index}")
    translation = translate_policies([policy], LAYERS[policy_type])
    return translation.text() + "\n"


def test_translation_examples_are_golden() -> None:
    doc = DOC.read_text(encoding="utf-8")
    matches = list(PAIR.finditer(doc))
    assert len(matches) >= 15
    if os.environ.get("AUTHZ_REGEN_GOLDEN") == "1":
        counter = iter(range(1, len(matches) + 1))

        def swap(m: re.Match[str]) -> str:
            cedar = render(m["type"], m["iam"], next(counter))
            return f"```iam {m['type']}\n{m['iam']}```\n\n```cedar\n{cedar}```"

        DOC.write_text(PAIR.sub(swap, doc), encoding="utf-8")
        return
    for index, m in enumerate(matches, 1):
        assert render(m["type"], m["iam"], index) == m["cedar"], f"example {index}"
