"""The compiled decision path (``authz.native``): the switch back to pure Python, the stale-build
check, and (in a run that built it: ``AUTHZ_EXPECT_COMPILED=1``, set by ``make test`` after
``make compile``) that the compiled modules really are the ones imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from authz import native
from authz.nativebuild import source_path

ROOT = Path(__file__).resolve().parents[2]


def _origins(env: dict[str, str]) -> dict[str, str]:
    """Module -> the file it was imported from, in a fresh interpreter."""
    code = (
        "import importlib, json, sys\n"
        "from authz.native import MODULES\n"
        "print(json.dumps({m: importlib.import_module(m).__file__ for m in MODULES}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        check=True,
    )
    origins: dict[str, str] = json.loads(done.stdout)
    return origins


def test_the_compiled_modules_are_named_by_their_sources() -> None:
    assert native.MODULES, "no module is listed for compiling"
    for name in native.MODULES:
        assert (ROOT / source_path(name)).is_file(), name


def test_pure_python_runs_every_module_from_its_source() -> None:
    origins = _origins({native.PURE_PYTHON_ENV: "1"})
    assert set(origins) == set(native.MODULES)
    for name, origin in origins.items():
        assert origin == str(ROOT / source_path(name)), name


def test_a_changed_source_makes_the_build_stale(tmp_path: Path) -> None:
    source = tmp_path / "authz" / "m.py"
    source.parent.mkdir()
    source.write_text("x = 1\n")
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"authz/m.py": native.digest(source)}))
    assert native.stale(manifest, tmp_path) == []
    source.write_text("x = 2\n")
    assert native.stale(manifest, tmp_path) == ["authz/m.py"]
    source.unlink()
    assert native.stale(manifest, tmp_path) == ["authz/m.py"]
    assert native.stale(tmp_path / "absent.json", tmp_path) == []  # never built


def test_the_source_only_finder_skips_an_extension_beside_the_source(tmp_path: Path) -> None:
    package = tmp_path / "authz"
    package.mkdir()
    (package / "m.py").write_text("")
    (package / "m.cpython-311-x86_64-linux-gnu.so").write_bytes(b"not a library")
    spec = native._SourceOnly().find_spec("authz.m", [str(package)])
    assert spec is not None and spec.origin == str(package / "m.py")
    assert native._SourceOnly().find_spec("json", None) is None  # not ours


@pytest.mark.skipif(
    os.environ.get("AUTHZ_EXPECT_COMPILED") != "1",
    reason="this run did not build the compiled variant (make test sets AUTHZ_EXPECT_COMPILED=1 "
    "after make compile)",
)
def test_the_compiled_variant_is_the_one_imported() -> None:
    origins = _origins({native.PURE_PYTHON_ENV: ""})
    for name, origin in origins.items():
        assert origin.endswith(".so"), f"{name} runs as Python: {origin}"
    if os.environ.get(native.PURE_PYTHON_ENV, "") in ("", "0"):
        assert native.compiled() == dict.fromkeys(native.MODULES, True)


def test_an_installed_authz_imports_its_compiled_modules_from_anywhere(tmp_path: Path) -> None:
    """``pip install -e .`` finds the ``authz`` package, not the tree's root: a process run
    from another directory without ``PYTHONPATH`` (a subprocess of the tests, ``authz serve``
    started by a script) must still import the compiled modules — CI failed three tests with
    ``No module named '<hash>__mypyc'`` before the shared library was loaded by its path."""
    code = (
        "import importlib.util, sys\n"
        f"root = {str(ROOT)!r}\n"
        "assert root not in sys.path\n"
        "spec = importlib.util.spec_from_file_location('authz', root + '/authz/__init__.py',"
        " submodule_search_locations=[root + '/authz'])\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "sys.modules['authz'] = module\n"
        "spec.loader.exec_module(module)\n"
        "import authz.cedar.context as c, authz.engine.evaluate as e\n"
        "print(c.__file__)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", native.PURE_PYTHON_ENV)}
    done = subprocess.run([sys.executable, "-I", "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    if os.environ.get("AUTHZ_EXPECT_COMPILED") == "1":
        assert not done.stdout.strip().endswith(".py"), done.stdout
