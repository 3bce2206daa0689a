"""The module boundaries of style.md, checked: only authz.cedar imports cedarpy; only the
network edge (server, client SDK, load generator, generated code) imports grpc; the IAM model
imports neither, nor anything above it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "authz"
GRPC_ALLOWED = ("server", "client", "bench", "_gen", "protogen.py")


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
            if node.module.startswith("authz."):
                names.add(node.module)
    return names


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "_gen" not in p.parts)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_import_boundaries(path: Path) -> None:
    rel = path.relative_to(PACKAGE)
    found = imports_of(path)
    if rel.parts[0] != "cedar":
        assert "cedarpy" not in found, f"{rel} imports cedarpy outside authz.cedar"
    if rel.parts[0] not in GRPC_ALLOWED:
        assert "grpc" not in found, f"{rel} imports grpc outside the network edge"
    if rel.parts[0] == "iam":
        above = {m for m in found if m.startswith("authz.") and not m.startswith("authz.iam")}
        assert above <= {"authz.errors"}, f"{rel} imports {sorted(above)}"
