"""The benchmark scripts (``benchmarks/<name>.py``) as modules, for the tests of their pure
parts (reports, parsers) and of what they drive. A script imports its neighbours as top-level
modules, so ``benchmarks/`` is on ``sys.path`` while it loads; it is registered in
``sys.modules`` first because its dataclasses look their module up."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCHMARKS))
    return module
