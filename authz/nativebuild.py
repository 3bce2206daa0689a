"""Builds the compiled decision path: ``python -m authz.nativebuild build|clean|status``.

``build`` (``make compile``) compiles ``authz.native.MODULES`` in place with mypyc: an extension
``<module>.cpython-*.so`` beside each source, mypyc's shared library at the top of the tree
(``*__mypyc.*.so``), and the manifest ``authz/.native-build.json`` holding the SHA-256 of each
compiled source, by which ``authz.native`` notices a stale build (all git-ignored; mypyc's own
build directory is ``build/``). Without a C compiler it says so and leaves the tree pure Python
(exit 0: compiling is optional). ``clean`` removes what a build left; ``status`` prints where
each module was loaded from. ``build --if-stale`` does nothing when the last build compiled the
same modules from the same sources.

Owns the build. Imports only ``authz.native``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from authz.native import MANIFEST, MODULES, ROOT, compiled, digest, stale

_SETUP = """\
import os
from concurrent.futures import ThreadPoolExecutor

from setuptools import setup
from setuptools._distutils import ccompiler
from mypyc.build import mypycify


def compile_in_parallel(self, sources, output_dir=None, macros=None, include_dirs=None,
                        debug=0, extra_preargs=None, extra_postargs=None, depends=None):
    # distutils compiles an extension's C files one after the other: here one per core
    macros, objects, extra_postargs, pp_opts, build = self._setup_compile(
        output_dir, macros, include_dirs, sources, depends, extra_postargs)
    cc_args = self._get_cc_args(pp_opts, debug, extra_preargs)

    def one(obj):
        src, ext = build[obj]
        self._compile(obj, src, ext, cc_args, extra_postargs, pp_opts)

    with ThreadPoolExecutor(len(os.sched_getaffinity(0))) as pool:
        list(pool.map(one, [obj for obj in objects if obj in build]))
    return objects


ccompiler.CCompiler.compile = compile_in_parallel
setup(
    name="authz_native",
    ext_modules=mypycify({sources!r}, opt_level={opt!r}, debug_level="0", multi_file=True),
)
"""


def source_path(name: str) -> str:
    """``authz.cedar.context`` -> ``authz/cedar/context.py``."""
    return name.replace(".", "/") + ".py"


def artefacts(root: Path = ROOT) -> list[Path]:
    """The files a build leaves in the tree (extensions, shared library, manifest)."""
    found = [*root.joinpath("authz").rglob("*.so"), *root.glob("*__mypyc*.so")]
    manifest = root / "authz" / MANIFEST.name
    return sorted(found + ([manifest] if manifest.exists() else []))


def clean(root: Path = ROOT) -> None:
    for path in artefacts(root):
        path.unlink()


def build(root: Path = ROOT, modules: Sequence[str] = MODULES) -> int:
    """Compile ``modules`` in place with mypyc (module docstring); mypyc's exit status."""
    clean(root)
    if not (os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")):
        print("authz.nativebuild: no C compiler found: the decision path stays pure Python")
        return 0
    sources = [source_path(m) for m in modules]
    # mypyc's own command line writes one C file for all modules and compiles it with one
    # compiler process; here each module gets its own C file (``multi_file``), compiled on
    # every core (distutils would compile them one after the other). No debug information
    # (-g0): the same code, a shorter build.
    build_dir = root / "build"
    build_dir.mkdir(exist_ok=True)
    script = build_dir / "authz_native_setup.py"
    script.write_text(_SETUP.format(sources=sources, opt=os.environ.get("MYPYC_OPT_LEVEL", "3")))
    command = [sys.executable, str(script), "--quiet", "build_ext", "--inplace"]
    print(f"authz.nativebuild: compiling {len(sources)} modules with mypyc (about a minute)",
          flush=True)  # fmt: skip
    done = subprocess.run(command, cwd=root, check=False)
    if done.returncode != 0:
        clean(root)  # nothing half-built stays behind
        return done.returncode
    digests = {rel: digest(root / rel) for rel in sources}
    (root / "authz" / MANIFEST.name).write_text(json.dumps(digests, indent=1) + "\n")
    return 0


def up_to_date(root: Path = ROOT, modules: Sequence[str] = MODULES) -> bool:
    """Whether the last build compiled exactly ``modules`` from the sources as they are."""
    try:
        built: dict[str, str] = json.loads((root / "authz" / MANIFEST.name).read_text())
    except (OSError, ValueError):
        return False
    sources = {source_path(m) for m in modules}
    return set(built) == sources and not stale(root / "authz" / MANIFEST.name, root)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    command = args[0] if args else "status"
    if command == "build":
        if "--if-stale" in args and up_to_date():
            print("authz.nativebuild: the compiled modules are up to date")
            return 0
        return build()
    if command == "clean":
        clean()
        return 0
    if command == "status":
        for name, native in compiled().items():
            print(f"{name}: {'compiled' if native else 'python'}")
        return 0
    print("usage: python -m authz.nativebuild build [--if-stale]|clean|status", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
