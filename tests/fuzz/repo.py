"""Repository fuzzing: a copy of the example repository (policies/) with 1-3 random edits — a
file replaced by random JSON, random text or a YAML document with anchors and aliases; a
JSON file with one node mutated; a new file dropped into a random directory; a file deleted —
then loaded as a reload would (``build_snapshot``). The oracle: loading reports problems
(``RepositoryError`` or a snapshot), it never raises anything else.

Owns ``inputs`` and ``check``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from authz.engine.snapshot import build_snapshot
from authz.errors import AuthzError
from tests.fuzz.engine import REJECTED
from tests.fuzz.values import _paths, _replace, json_values, text

REPO = Path(__file__).resolve().parents[2] / "policies"
FILES = tuple(sorted(str(f.relative_to(REPO)) for f in REPO.rglob("*") if f.is_file()))
DIRS = tuple(sorted({str(Path(f).parent) for f in FILES}))
YAML_TEXTS = (
    "a: &a [1, 2]\nb: *a\n",
    "a: &a ['x','x','x','x']\nb: &b [*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b]\nd: [*c,*c,*c,*c]\n",
    "- !!python/object/apply:os.system ['true']\n",
    "tests:\n  - name: x\n    principal: 42\n    action: [1, 2]\n",
    "%YAML 1.2\n---\n...\n",
    "key: [unclosed\n",
    "\t- tab\n",
)


@st.composite
def _edit(draw: st.DrawFn) -> dict[str, Any]:
    how = draw(st.sampled_from(("json", "mutate", "mutate", "text", "yaml", "add", "delete")))
    if how == "add":
        directory = draw(st.sampled_from(DIRS))
        suffix = draw(st.sampled_from((".json", ".yaml", ".yml", ".txt", "")))
        return {"how": how, "file": f"{directory}/fuzz{suffix}", "json": draw(json_values())}
    edit: dict[str, Any] = {"how": how, "file": draw(st.sampled_from(FILES))}
    if how == "json":
        edit["json"] = draw(json_values())
    elif how == "text":
        edit["text"] = draw(st.one_of(text(), st.text(max_size=300)))
    elif how == "yaml":
        edit["text"] = draw(st.sampled_from(YAML_TEXTS))
    elif how == "mutate":
        edit["seed"] = draw(st.integers(0, 2**16))
        edit["json"] = draw(json_values())
    return edit


def inputs() -> st.SearchStrategy[list[dict[str, Any]]]:
    return st.lists(_edit(), min_size=1, max_size=3)


def _mutate(path: Path, seed: int, value: Any) -> None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        return
    nodes = _paths(doc)
    target = nodes[seed % len(nodes)]
    path.write_text(json.dumps(_replace(doc, target, value, seed % 5 == 0 and bool(target))))


def apply(root: Path, edits: list[dict[str, Any]]) -> None:
    for edit in edits:
        path = root / edit["file"]
        if edit["how"] == "delete":
            path.unlink(missing_ok=True)
        elif edit["how"] == "mutate":
            if path.exists():
                _mutate(path, edit["seed"], edit["json"])
        elif "text" in edit:
            path.write_text(edit["text"], encoding="utf-8", errors="surrogatepass")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(edit["json"]), encoding="utf-8")


def check(edits: list[dict[str, Any]]) -> Any:
    with tempfile.TemporaryDirectory(prefix="authz-fuzz-repo-") as tmp:
        root = Path(tmp) / "repo"
        shutil.copytree(REPO, root)
        apply(root, edits)
        try:
            build_snapshot(root, git=False)
        except AuthzError:
            return REJECTED  # documented: RepositoryError with every problem
    return None
