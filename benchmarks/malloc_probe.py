"""Run ``authz serve`` with a sampler of the process's allocators (benchmarks only).

    python benchmarks/malloc_probe.py [--census C] [--trace-from T] OUT.jsonl SECONDS \
        -m authz.cli serve ...

Starts a daemon thread that every SECONDS appends one JSON line to OUT.jsonl, then runs the
module after ``-m`` as ``__main__`` with the remaining arguments (the server is unchanged: the
probe lives only in the soak's server process, never in a deployment). Each line holds:

- ``pymalloc``: CPython's small-object allocator (objects <= 512 bytes), parsed from
  ``_PyObject_DebugMallocStats`` (what ``sys._debugmallocstats()`` prints): arenas allocated
  now / reclaimed / high-water mark, the bytes the arenas span, bytes in allocated blocks (live
  objects), in free blocks of used pools, in wholly free pools. Empty under
  ``PYTHONMALLOC=malloc`` (pymalloc off).
- ``glibc``: ``mallinfo2()`` over every arena: heap bytes obtained by sbrk/arena mmap
  (``arena``), by per-allocation mmap (``hblkhd``), in use (``uordblks``) and free
  (``fordblks``) — native allocations (gRPC core, Cedar) and, with pymalloc off, Python's too.
- ``blocks``: ``sys.getallocatedblocks()``.

With ``--census C``: every C seconds also a line with the objects the collector tracks,
counted by type, and the fill of every ``functools`` cache and module-level container of
``authz.*`` (``gc.get_objects()`` holds the interpreter lock ~0.1-0.5 s: diagnosis only).

With ``--trace-from T``: ``tracemalloc`` starts T seconds in (after warm-up, so only what is
allocated later is traced) and a snapshot is dumped every 60 s after that to
``OUT.jsonl.<n>.snap``: what is still alive of it, by allocation site
(``benchmarks/malloc_growth.py`` compares two). Diagnosis only: tracing slows every allocation.

The C call holds the interpreter lock for its walk over the arenas (~1 ms for ~200 arenas):
a sample every 10 s costs nothing measurable, and nothing runs unless the soak asks for it.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import json
import re
import runpy
import sys
import tempfile
import threading
import time
import tracemalloc
from collections import Counter
from typing import Any

TRACE_FRAMES = 6

_LINE = re.compile(r"^(#?\s*[\w ]+?)\s*=\s*([\d,]+)\s*$")
_KEYS = {
    "# arenas allocated total": "arenas_allocated_total",
    "# arenas reclaimed": "arenas_reclaimed",
    "# arenas highwater mark": "arenas_highwater",
    "# arenas allocated current": "arenas_current",
    "# bytes in allocated blocks": "allocated_bytes",
    "# bytes in available blocks": "free_block_bytes",
    "# bytes lost to pool headers": "pool_header_bytes",
    "# bytes lost to quantization": "quantization_bytes",
    "# bytes lost to arena alignment": "alignment_bytes",
    "Total": "total_bytes",
}


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
                     "uordblks", "fordblks", "keepcost")
    ]  # fmt: skip


def parse_pymalloc(text: str) -> dict[str, int]:
    """The summary figures of ``_PyObject_DebugMallocStats``' output (per-class lines
    skipped); {} when pymalloc is not in use (the call prints nothing then)."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        if "unused pools *" in line:  # "N unused pools * 16384 bytes = X"
            out["free_pool_bytes"] = int(line.rsplit("=", 1)[1].strip().replace(",", ""))
            continue
        if "arenas *" in line:  # "N arenas * 1048576 bytes/arena = X"
            out["arena_bytes"] = int(line.rsplit("=", 1)[1].strip().replace(",", ""))
            continue
        match = _LINE.match(line.strip())
        key = _KEYS.get(match.group(1).strip(), "") if match else ""
        if match and key and key not in out:  # the first "Total": the arenas' (then the map's)
            out[key] = int(match.group(2).replace(",", ""))
    return out


@functools.cache
def _libc() -> ctypes.CDLL:
    """Loaded once: a ``CDLL`` per sample left ctypes types in reference cycles that the
    server's raised collector thresholds free late (the probe's own ~0.06 MB a minute)."""
    libc = ctypes.CDLL(None)
    libc.fopen.restype = ctypes.c_void_p
    libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    stats = ctypes.pythonapi._PyObject_DebugMallocStats  # a PyDLL call: the GIL stays held
    stats.argtypes = [ctypes.c_void_p]
    stats.restype = ctypes.c_int
    if hasattr(libc, "mallinfo2"):
        libc.mallinfo2.restype = _Mallinfo2
    return libc


def sample() -> dict[str, Any]:
    libc = _libc()
    stats = ctypes.pythonapi._PyObject_DebugMallocStats
    with tempfile.NamedTemporaryFile("r", suffix=".mallocstats") as tmp:
        fp = libc.fopen(tmp.name.encode(), b"w")
        stats(fp)
        libc.fclose(fp)
        text = tmp.read()
    out: dict[str, Any] = {
        "time": round(time.time(), 1),
        "pymalloc": parse_pymalloc(text),
        "blocks": sys.getallocatedblocks(),
    }
    if hasattr(libc, "mallinfo2"):
        info = libc.mallinfo2()
        out["glibc"] = {k: getattr(info, k) for k in ("arena", "hblkhd", "uordblks", "fordblks")}
    return out


def census() -> dict[str, Any]:
    """Objects the collector tracks, counted by type (the start-up heap frozen by
    ``authz serve`` is not among them: only what serving created since), and the fill of every
    ``functools`` cache and module-level container in ``authz.*``: a census taken a few
    minutes apart names what keeps growing."""
    objects = gc.get_objects()
    types = Counter(type(o).__qualname__ for o in objects)
    lrus = sorted(
        (len(o), getattr(o, "bytes", 0)) for o in objects if type(o).__qualname__ == "SizedLRU"
    )
    del objects
    filled: dict[str, int] = {}
    for name, module in list(sys.modules.items()):
        if not name.startswith("authz") or module is None:
            continue
        for attr, obj in list(vars(module).items()):
            if attr.startswith("__"):
                continue
            info = getattr(obj, "cache_info", None)
            if callable(info) and hasattr(obj, "cache_clear"):
                filled[f"{name}.{attr}"] = info().currsize
            elif isinstance(obj, (dict, list, set)) and len(obj) >= 64:
                filled[f"{name}.{attr}"] = len(obj)
    return {
        "time": round(time.time(), 1),
        "census": dict(types.most_common(60)),
        "filled": filled,
        "sized_lrus": lrus,
    }


def _loop(path: str, every: float, trace_from: float | None, census_every: float) -> None:
    started, snapshots, censuses = time.monotonic(), 0, 0
    while True:
        lines = []
        try:
            lines.append(json.dumps(sample()))
            elapsed = time.monotonic() - started
            if census_every and elapsed >= census_every * censuses:
                censuses += 1
                lines.append(json.dumps(census()))
        except Exception as err:  # a probe must not take the server down
            lines.append(json.dumps({"time": round(time.time(), 1), "error": repr(err)}))
        with open(path, "a", encoding="utf-8") as f:
            f.write("".join(line + "\n" for line in lines))
        elapsed = time.monotonic() - started
        if trace_from is not None and elapsed >= trace_from:
            if not tracemalloc.is_tracing():
                tracemalloc.start(TRACE_FRAMES)
            elif elapsed >= trace_from + 60 * (snapshots + 1):
                snapshots += 1
                tracemalloc.take_snapshot().dump(f"{path}.{snapshots}.snap")
        time.sleep(every)


def main() -> None:
    args = sys.argv[1:]
    trace_from, census_every = None, 0.0
    while args[:1] in (["--trace-from"], ["--census"]):
        if args[0] == "--census":
            census_every = float(args[1])
        else:
            trace_from = float(args[1])
        args = args[2:]
    path, every, flag, module, *rest = args
    if flag != "-m":
        raise SystemExit(__doc__)
    loop_args = (path, float(every), trace_from, census_every)
    threading.Thread(target=_loop, args=loop_args, daemon=True, name="probe").start()
    sys.argv = [module, *rest]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
