"""What one request context costs the native Cedar call, by shape, in instructions (callgrind):
the same trivial policy set decided with contexts that differ only in how values are laid out
(nested records as ``authz.cedar.context`` builds them today, or flattened to top-level
attributes; extension values with or without the ``__extn`` escape). Cedar parses the context
JSON with untagged serde enums, so every value is tried against several shapes before it
matches: the layout, not only the number of values, sets the cost (issue 15, step 3).

    python benchmarks/cedar_context_instr.py      # writes results/cedar-context-<stamp>.json

``REQUESTS`` varies the rest of the request the same way (no context member, entity ids as
Cedar strings instead of ``{"type", "id"}`` dicts).

Prints instructions per decision for each shape and the difference to the empty context.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
N = 200
_ARN = {
    "prefix": "arn",
    "partition": "aws",
    "service": "dynamodb",
    "region": "eu-west-1",
    "account": "111122223333",
    "resource": "table/orders-1",
}
_IP = {"fn": "ip", "arg": "10.0.2.1"}
SHAPES: dict[str, dict[str, Any]] = {
    "empty": {},
    "one string": {"iam_action": "dynamodb:getobject"},
    "two strings": {"iam_action": "dynamodb:getobject", "res_arn": "arn:aws:s3:::b/k"},
    "bool in a record (today)": {"bool": {"aws:securetransport": True}},
    "bool flattened": {"bool.aws:securetransport": True},
    "ARN parts in a record (today)": {"res": _ARN},
    "ARN parts flattened": {f"res.{k}": v for k, v in _ARN.items()},
    "ip in a record, __extn (today)": {"ip": {"aws:sourceip": {"__extn": _IP}}},
    "ip flattened, __extn": {"ip.aws:sourceip": {"__extn": _IP}},
    "ip flattened, implicit": {"ip.aws:sourceip": _IP},
    "set of three strings": {"pids": ["a", "b", "c"]},
    "ARN head and resource part (two strings)": {
        "res_head": "arn:aws:dynamodb:eu-west-1:111122223333",
        "res.resource": "table/orders-1",
    },
}
_UIDS = {
    "principal": {"type": "Iam::Principal", "id": "caller"},
    "action": {"type": "Iam::Action", "id": "dynamodb:getobject"},
    "resource": {"type": "Iam::Resource", "id": "arn:aws:s3:::b/k"},
}
# The rest of a request, each with the empty context unless it says otherwise ("empty" above is
# the dict form with ``"context": "{}"``).
REQUESTS: dict[str, dict[str, Any]] = {
    "no context member": dict(_UIDS),
    "ids as Cedar strings": {
        "principal": 'Iam::Principal::"caller"',
        "action": 'Iam::Action::"dynamodb:getobject"',
        "resource": 'Iam::Resource::"arn:aws:s3:::b/k"',
        "context": "{}",
    },
}


def _requests() -> dict[str, dict[str, Any]]:
    out = {
        name: {**_UIDS, "context": json.dumps(ctx, separators=(",", ":"))}
        for name, ctx in SHAPES.items()
    }
    out.update(REQUESTS)
    return out


def worker() -> None:
    import cedarpy
    from cedarpy import _internal

    policies = cedarpy.PolicySet.from_str("permit(principal, action, resource);")
    entities = cedarpy.Entities.from_json_str("[]")._inner
    pid = str(os.getpid())

    def control(arg: str) -> None:
        subprocess.run(["callgrind_control", arg, pid], check=True, stdout=subprocess.DEVNULL)

    control("--instr=on")
    for n, (name, request) in enumerate(_requests().items()):
        answer = json.loads(_internal.is_authorized_batch([request], policies, entities, None,
                                                          False)[0])  # fmt: skip
        if answer.get("decision") != "Allow":  # a context Cedar rejects would cost less
            raise SystemExit(f"{name}: {answer}")
        control("--dump=warm")
        for _ in range(N):
            _internal.is_authorized_batch([request], policies, entities, None, False)
        control(f"--dump=shape{n}")


def main() -> None:
    if sys.argv[1:] == ["--worker"]:
        worker()
        return
    with tempfile.TemporaryDirectory(prefix="cedar-ctx-") as tmp:
        out = Path(tmp) / "cg"
        subprocess.run(
            ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
             sys.executable, __file__, "--worker"],
            check=True, capture_output=True,
        )  # fmt: skip
        totals = {}
        for k in range(1, 2 * len(_requests()) + 1):
            text = (Path(tmp) / f"cg.{k}").read_text()
            found = re.search(r"^(?:summary|totals):\s+(\d+)", text, re.M)
            totals[k] = int(found.group(1)) if found else 0
    per = {name: totals[2 * i + 2] / N for i, name in enumerate(_requests())}
    empty = per["empty"]
    rows = {
        name: {"per_decision": round(v), "over_empty": round(v - empty)} for name, v in per.items()
    }
    for name, row in rows.items():
        print(f"{name:34s} {row['per_decision']:>9,} {row['over_empty']:>+9,}")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = RESULTS / f"cedar-context-{stamp}.json"
    path.write_text(json.dumps({"decisions_per_shape": N, "contexts": SHAPES, "requests": REQUESTS,
                               "instructions": rows},
                               indent=1) + "\n")  # fmt: skip
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
