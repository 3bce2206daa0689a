"""Whether the decision path runs compiled (mypyc) or as Python, and which modules are compiled.

``MODULES`` may be compiled with mypyc (``make compile``, ``authz.nativebuild``): an extension
``<module>.cpython-*.so`` beside each source. The extensions are built from the same source
files, and the sources run as Python instead (``choose``, called by ``authz/__init__.py`` before
any other authz module is imported):

- without a build (no C compiler, or never built): Python's import finds only the sources;
- with ``AUTHZ_PURE_PYTHON=1`` in the environment: the extensions are skipped;
- when a compiled source changed since the build (its SHA-256 differs from the build's
  manifest, ``authz/.native-build.json``): the stale extensions are skipped, with a warning on
  stderr naming the file and the remedy.

Owns the list of compiled modules and the source-only import switch. Imports nothing of authz
(it runs while the package itself is being imported).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

PURE_PYTHON_ENV = "AUTHZ_PURE_PYTHON"
PACKAGE = Path(__file__).resolve().parent
ROOT = PACKAGE.parent  # the tree that holds the ``authz`` package (mypyc's working directory)
MANIFEST = PACKAGE / ".native-build.json"
# The modules a distinct Authorize runs through, measured by ``benchmarks/instr_bench.py``.
MODULES: tuple[str, ...] = (
    "authz.cedar.context",
    "authz.cedar.merged",
    "authz.cedar.oracle",
    "authz.cedar.pattern",
    "authz.cedar.policyset",
    "authz.cedar.principals",
    "authz.cedar.values",
    "authz.deadline",
    "authz.engine.cache",
    "authz.engine.combine",
    "authz.engine.decision",
    "authz.engine.evaluate",
    "authz.engine.principal",
    "authz.engine.snapshot",
    "authz.sizedcache",
    "authz.iam.context_keys",
    "authz.iam.glob",
    "authz.iam.model",
    "authz.limits",
    "authz.server.admission",
    "authz.server.callctx",
    "authz.server.interceptors",
    "authz.server.metrics",
    "authz.server.origin",
    "authz.server.ports",
    "authz.server.readtimeout",
    "authz.server.servicers.authorizer",
    "authz.repo.entities",
    # authentication and the backend's entry points (every call passes through them)
    "authz.backend",
    "authz.server.servicers._fields",
    "authz.state.watch",
    "authz.sts.credentials",
    # a signed call's authentication, and the SDK's signing (its cost against a decision's:
    # issue 16)
    "authz.client.signing",
    "authz.sigv4.canonical",
    "authz.sigv4.parse",
    "authz.sigv4.replay",
    "authz.sigv4.verify",
)


class _SourceOnly(importlib.abc.MetaPathFinder):
    """Finds ``authz.*`` modules as their ``.py`` source even when a compiled extension sits
    beside it (the default finders prefer the extension)."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if path is None or not fullname.startswith("authz."):
            return None
        name = fullname.rpartition(".")[2]
        for entry in path:
            source = os.path.join(entry, name + ".py")
            if os.path.isfile(source):
                return importlib.util.spec_from_file_location(fullname, source)
        return None  # a package, or not found here: the default finders decide


def use_pure_python() -> None:
    """Import every ``authz`` module from its source from now on."""
    if not any(isinstance(f, _SourceOnly) for f in sys.meta_path):
        sys.meta_path.insert(0, _SourceOnly())


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stale(manifest: Path = MANIFEST, root: Path = ROOT) -> list[str]:
    """The compiled sources (relative paths) that changed since the build; [] without one."""
    try:
        built: dict[str, str] = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return []
    out = []
    for rel, expected in sorted(built.items()):
        try:
            if digest(root / rel) != expected:
                out.append(rel)
        except OSError:
            out.append(rel)
    return out


def choose() -> None:
    """Run the sources as Python when asked to or when the build is stale (module docstring);
    else make the build's shared library importable (``load_runtime``)."""
    if os.environ.get(PURE_PYTHON_ENV, "") not in ("", "0"):
        use_pure_python()
        return
    changed = stale()
    if changed:
        sys.stderr.write(
            f"authz: {changed[0]} changed since `make compile` ({len(changed)} compiled "
            "source(s) stale): running the pure-Python modules; run `make compile` again\n"
        )
        use_pure_python()
        return
    try:
        load_runtime()
    except ImportError as err:
        sys.stderr.write(f"authz: the compiled modules cannot load ({err}): running the "
                         "pure-Python modules; run `make compile` again\n")  # fmt: skip
        use_pure_python()


def load_runtime(root: Path = ROOT) -> None:
    """mypyc puts the code of every compiled module in one shared library at the top of the
    tree (``<hash>__mypyc.*.so``) that the extensions import by that top-level name. The
    tree's root is on ``sys.path`` only when Python starts there (or ``PYTHONPATH`` names
    it); an installed ``authz`` imported from anywhere else would fail to import. So load it
    by its path, once, before any compiled module is imported."""
    for path in sorted(root.glob("*__mypyc*.so")):
        name = path.name.split(".", 1)[0]
        if name in sys.modules:
            continue
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"{path.name} is not an extension module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise


def compiled(modules: Sequence[str] = MODULES) -> dict[str, bool]:
    """Module name -> whether it was loaded from a compiled extension (imports it)."""
    out = {}
    for name in modules:
        origin = getattr(importlib.import_module(name), "__file__", None) or ""
        out[name] = not origin.endswith(".py")
    return out
