"""Serving under reloads of a large repository: a bounded soak, and a reload storm.

    python benchmarks/soak.py soak  [--seconds 600] [--rate 300] [--change-every 30] [--roles 10000]
        [--server-env NAME=VALUE ...] [--malloc-probe 10 [--census 60] [--trace-from 90]]
    python benchmarks/soak.py storm [--rounds 5] [--seconds 10] [--rate 300] [--roles 10000]
        [--out benchmarks/results]

Both generate a repository with ``benchmarks/gen_repo.py`` (plus a user ``soak`` allowed
everything, the caller of every request), start ``authz serve`` on it in a subprocess on
127.0.0.1, and drive Authorize open-loop at ``--rate`` requests per second (latency measured
from each request's scheduled send time, so a stalled server shows; distinct resources, so
answers are evaluated, not cached).

- ``soak``: the server watches the repository; every ``--change-every`` seconds a role file is
  rewritten (a new revision, activated by the file watcher). Per minute: requests, errors by
  code, p50/p99, and the server's RSS, threads and open descriptors. Steady p99 = requests
  scheduled more than 5 s after the last change; reload p99 = within 5 s of one.
- ``storm``: no watching; ``--rounds`` rounds of steady serving for ``--seconds``, then
  back-to-back reloads for ``--seconds`` (each a one-file change, then a Reload RPC, the next as
  soon as it returns; the server's Reload rate limit is switched off for this). Each storm's
  p99 is compared with the steady phase right before it; every round is reported.

Targets (issue 10 item 5, issue 12 item 4): 0 errors, p99 under reloads <= 3x steady p99, RSS
flat after warm-up: the least-squares slope of RSS over the second half of the soak (every 5-s
sample) at most 0.05 MB a minute (3 MB an hour; ``RSS_FLAT_MB_PER_MINUTE``); the exit status
is 0 only when all three hold. Writes ``<mode>-<stamp>.json`` and ``.md`` into ``--out``.

Memory diagnosis (soak): ``--server-env`` sets variables for the server only (e.g.
``PYTHONMALLOC=malloc``, ``LD_PRELOAD=...``); ``--malloc-probe S`` runs the server under
``benchmarks/malloc_probe.py``, which samples pymalloc's arenas and glibc's heap every S seconds
(a table per minute in the report); ``--census S`` adds object counts by type and cache fills;
``--trace-from S`` tracemalloc snapshots (``benchmarks/malloc_growth.py`` compares them; it
slows the server several-fold at 300 req/s on two cores).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from authz.client import AccessKeyCredentials, AuthzClient
from authz.errors import AuthzError
from authz.sts.credentials import open_credentials
from authz.sts.keys import KeyRing
from benchmarks.gen_repo import generate

ACCOUNT = "100000000000"
SOAK_USER = f"arn:aws:iam::{ACCOUNT}:user/soak"
ACTIONS = ("s3:GetObject", "dynamodb:GetItem", "sqs:SendMessage", "kms:Decrypt", "sts:AssumeRole")
WINDOW_AFTER_CHANGE = 5.0


@dataclass
class Sample:
    due: float  # scheduled send time (monotonic)
    latency: float
    error: str | None


@dataclass
class Recorder:
    samples: list[Sample] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, sample: Sample) -> None:
        with self.lock:
            self.samples.append(sample)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def _summary(samples: list[Sample]) -> dict[str, Any]:
    ok = [s.latency * 1000 for s in samples if s.error is None]
    errors: dict[str, int] = {}
    for s in samples:
        if s.error is not None:
            errors[s.error] = errors.get(s.error, 0) + 1
    return {
        "requests": len(samples),
        "errors": errors,
        "p50_ms": round(statistics.median(ok), 2) if ok else None,
        "p99_ms": round(_percentile(ok, 0.99), 2) if ok else None,
        "max_ms": round(max(ok), 2) if ok else None,
    }


def prepare(
    work: Path, roles: int, settings: dict[str, Any]
) -> tuple[Path, Path, AccessKeyCredentials]:
    repo = work / "repo"
    generate(repo, roles)
    user = {
        "UserName": "soak",
        "UserPolicyList": [
            {
                "PolicyName": "everything",
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
                },
            }
        ],
    }
    (repo / "accounts" / ACCOUNT / "users" / "soak.json").write_text(json.dumps(user))
    KeyRing.generate(work / "keys")
    state_url, state_key = f"sqlite:///{work / 'state.db'}", work / "state.key"
    with open_credentials(state_url, state_key) as store:
        key_id, secret = store.create(SOAK_USER)
    values = {
        "repo": str(repo),
        "keys_dir": str(work / "keys"),
        "state_url": state_url,
        "state_key_file": str(state_key),
        "mfa_file": str(work / "mfa.json"),
        **settings,
    }
    config = work / "authz.toml"
    config.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items()))
    return repo, config, AccessKeyCredentials(key_id, secret)


def start_server(
    config: Path,
    port: int,
    log: Path,
    server_env: dict[str, str] | None = None,
    probe: tuple[Path, float] | None = None,
    trace_from: float | None = None,
    census: float = 0.0,
) -> subprocess.Popen[bytes]:
    """``authz serve`` in a subprocess; ``server_env`` is added to its environment only (e.g.
    PYTHONMALLOC, LD_PRELOAD: the load generator keeps its own), ``probe`` = (file, seconds)
    runs it under ``benchmarks/malloc_probe.py``, which samples its allocators into the file."""
    argv = [sys.executable]
    if probe is not None:
        argv += [str(Path(__file__).with_name("malloc_probe.py"))]
        if trace_from is not None:
            argv += ["--trace-from", str(trace_from)]
        if census:
            argv += ["--census", str(census)]
        argv += [str(probe[0]), str(probe[1])]
    argv += ["-m", "authz.cli", "serve", "--config", str(config)]
    argv += ["--listen", f"127.0.0.1:{port}"]
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
        **(server_env or {}),
    }
    with open(log, "wb") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)


def wait_ready(target: str, creds: AccessKeyCredentials, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with AuthzClient(target, creds, timeout=2) as client:
                client.authorize("s3:GetObject", "arn:aws:s3:::ready/x")
                return
        except Exception:
            time.sleep(0.5)
    raise RuntimeError("server not ready in 300 s")


def server_stats(pid: int) -> dict[str, float]:
    out: dict[str, float] = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    out["rss_mb"] = round(int(line.split()[1]) / 1024, 1)
                elif line.startswith(("RssAnon:", "RssFile:")):  # heap vs mapped files
                    out[line.split(":")[0].lower() + "_mb"] = round(int(line.split()[1]) / 1024, 1)
                elif line.startswith("Threads:"):
                    out["threads"] = int(line.split()[1])
        out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
        with open(f"/proc/{pid}/stat") as f:  # utime + stime: fields 14 and 15, after "(comm)"
            fields = f.read().rsplit(")", 1)[1].split()
        out["cpu_s"] = round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 2)
    except OSError:
        pass
    return out


CACHE_STATS = ("partition_size", "partition_caller_bytes", "decision_size", "decision_bytes")


def cache_sizes(client: AuthzClient) -> dict[str, int]:
    """The serving snapshot's cache fill (GetStatus): what the request-keyed caches hold, to
    tell RSS that follows them from RSS that does not."""
    try:
        stats = dict(client.get_status().cache_stats)
    except Exception:  # a busy server: this sample has no cache figures
        return {}
    return {k: stats[k] for k in CACHE_STATS if k in stats}


class Load:
    """Open-loop Authorize at ``rate``/s from ``threads`` threads over a few channels."""

    def __init__(self, target: str, creds: AccessKeyCredentials, rate: float, threads: int = 16):
        self.target, self.creds, self.rate = target, creds, rate
        self.recorder = Recorder()
        self._next = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._clients = [AuthzClient(target, creds, timeout=10) for _ in range(4)]
        self._threads = [
            threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)
        ]
        self.started = 0.0

    def start(self) -> None:
        self.started = time.monotonic() + 0.1
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(15)
        for c in self._clients:
            c.close()

    def _run(self, index: int) -> None:
        client = self._clients[index % len(self._clients)]
        while not self._stop.is_set():
            with self._lock:
                k = self._next
                self._next += 1
            due = self.started + k / self.rate
            delay = due - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                return
            action = ACTIONS[k % len(ACTIONS)]
            resource = f"arn:aws:s3:::soak-{k % 997}/object-{k}"
            if action == "sts:AssumeRole":
                resource = f"arn:aws:iam::{ACCOUNT}:role/team{k % 25}/app-{k % 1000:05d}"
            error = None
            try:
                client.authorize(action, resource)
            except AuthzError as err:
                error = err.code
            except Exception as err:  # transport errors count too
                error = type(err).__name__
            self.recorder.add(Sample(due, time.monotonic() - due, error))


def change_role(repo: Path, n: int) -> None:
    """Rewrite one role file atomically with a new tag: a new revision."""
    path = repo / "accounts" / ACCOUNT / "roles" / f"app-{n % 1000:05d}.json"
    doc = json.loads(path.read_text())
    doc["Tags"] = [{"Key": "generation", "Value": str(n)}]
    tmp = path.parent / f".{path.name}.tmp"
    tmp.write_text(json.dumps(doc, indent=1))
    tmp.replace(path)


def run_soak(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    repo, config, creds = prepare(work, args.roles, {"watch": True})
    port = _free_port()
    target = f"127.0.0.1:{port}"
    probe_file = work / "malloc.jsonl"
    probe = (probe_file, args.malloc_probe) if args.malloc_probe > 0 else None
    proc = start_server(
        config, port, work / "server.log", args.server_env, probe, args.trace_from, args.census
    )
    try:
        wait_ready(target, creds, proc)
        load = Load(target, creds, args.rate)
        load.start()
        changes: list[float] = []
        stats: list[dict[str, Any]] = []
        end = load.started + args.seconds
        next_change = load.started + args.change_every
        next_stat = load.started
        n = 0
        observer = AuthzClient(target, creds, timeout=10)
        while time.monotonic() < end:
            now = time.monotonic()
            if now >= next_stat:
                stats.append(
                    {
                        "t": round(now - load.started, 1),
                        **server_stats(proc.pid),
                        **cache_sizes(observer),
                    }
                )
                next_stat += 5
            if now >= next_change:
                n += 1
                change_role(repo, n)
                changes.append(now)
                next_change += args.change_every
            time.sleep(0.05)
        load.stop()
        stats.append(
            {
                "t": round(time.monotonic() - load.started, 1),
                **server_stats(proc.pid),
                **cache_sizes(observer),
            }
        )
        observer.close()
        with AuthzClient(target, creds, timeout=10) as client:
            status = client.get_status()
        reload_counts = dict(status.cache_stats) if hasattr(status, "cache_stats") else {}
    finally:
        _stop_server(proc)
        keep_snapshots(probe_file, args)
    allocators = read_probe(probe_file, load.started - time.monotonic() + time.time())
    samples = [s for s in load.recorder.samples if s.due < end]
    minutes = []
    for m in range(int(-(-args.seconds // 60))):
        lo, hi = load.started + 60 * m, load.started + 60 * (m + 1)
        inside = [s for s in samples if lo <= s.due < hi]
        last = [x for x in stats if 60 * m <= x["t"] < 60 * (m + 1) + 1]
        server = last[-1] if last else {}
        minutes.append(
            {
                "minute": m + 1,
                **_summary(inside),
                **{
                    k: server.get(k)
                    for k in ("rss_mb", "rssanon_mb", "rssfile_mb", "threads", "fds", *CACHE_STATS)
                },
                **_last_probe(allocators, 60 * (m + 1) + 1),
            }
        )
    near = [s for s in samples if any(0 <= s.due - c < WINDOW_AFTER_CHANGE for c in changes)]
    steady = [s for s in samples if not any(0 <= s.due - c < WINDOW_AFTER_CHANGE for c in changes)]
    profile = []  # p99 by seconds since the last change, over every change: where a spike sits
    for second in range(int(min(args.change_every, 15))):
        inside = [x for x in samples if any(second <= x.due - c < second + 1 for c in changes)]
        profile.append({"second": second, **_summary(inside)})
    return {
        "mode": "soak",
        "after_change": profile,
        "changes": len(changes),
        "reloads": {k: v for k, v in reload_counts.items() if k.startswith("reload_")},
        "overall": _summary(samples),
        "steady": _summary(steady),
        "near_reloads": _summary(near),
        "minutes": minutes,
        "server_samples": stats,
        "malloc_samples": allocators,
        "server_env": args.server_env,
    }


def keep_snapshots(probe_file: Path, args: argparse.Namespace) -> None:
    """Move the probe's tracemalloc snapshots out of the work directory (removed after the
    run) to ``--out``/snapshots-<tag>/ (large: not for the repository)."""
    snaps = sorted(probe_file.parent.glob(probe_file.name + ".*.snap"))
    if snaps:
        keep = args.out / f"snapshots{args.tag}"
        keep.mkdir(parents=True, exist_ok=True)
        for snap in snaps:
            shutil.move(snap, keep / snap.name)


def read_probe(path: Path, started_epoch: float) -> list[dict[str, Any]]:
    """The allocator samples of ``benchmarks/malloc_probe.py``, flattened to MB figures with
    ``t`` in seconds since the load started: pymalloc's arenas (``pymalloc_arenas_mb``: what
    they span, the RSS they can hold), its live blocks (``pymalloc_live_mb``) and free space
    inside them (free blocks + wholly free pools), glibc's heap (sbrk + arena mmap + per-block
    mmap) and its bytes in use."""
    out: list[dict[str, Any]] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return out
    mb = 2**20
    for line in lines:
        raw = json.loads(line)
        if "census" in raw:
            out.append({"t": round(raw["time"] - started_epoch, 1), **raw})
            del out[-1]["time"]
            continue
        row: dict[str, Any] = {"t": round(raw["time"] - started_epoch, 1)}
        py, libc = raw.get("pymalloc") or {}, raw.get("glibc") or {}
        if py:
            row["pymalloc_arenas"] = py.get("arenas_current")
            row["pymalloc_arenas_highwater"] = py.get("arenas_highwater")
            row["pymalloc_arenas_mb"] = round(py.get("total_bytes", 0) / mb, 1)
            row["pymalloc_live_mb"] = round(py.get("allocated_bytes", 0) / mb, 1)
            free = py.get("free_block_bytes", 0) + py.get("free_pool_bytes", 0)
            row["pymalloc_free_mb"] = round(free / mb, 1)
        if libc:
            row["glibc_heap_mb"] = round((libc["arena"] + libc["hblkhd"]) / mb, 1)
            row["glibc_used_mb"] = round(libc["uordblks"] / mb, 1)
        if "error" in raw:
            row["error"] = raw["error"]
        out.append(row)
    return out


PROBE_COLUMNS = ("pymalloc_arenas", "pymalloc_arenas_mb", "pymalloc_live_mb", "pymalloc_free_mb",
                 "glibc_heap_mb", "glibc_used_mb")  # fmt: skip


def _last_probe(samples: list[dict[str, Any]], before: float) -> dict[str, Any]:
    inside = [x for x in samples if x["t"] < before and "census" not in x]
    return {k: inside[-1].get(k) for k in PROBE_COLUMNS} if inside else {}


def run_storm(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """``--rounds`` rounds of steady serving then a reload storm, ``--seconds`` each: the
    machine's speed drifts (it is shared), so each storm is compared with the steady phase
    right before it, and every round is reported."""
    repo, config, creds = prepare(work, args.roles, {"watch": False, "reload_rpc_per_second": 0})
    port = _free_port()
    target = f"127.0.0.1:{port}"
    proc = start_server(config, port, work / "server.log")
    phases: list[tuple[float, float, float]] = []  # (steady start, storm start, storm end)
    reload_seconds: list[list[float]] = []
    try:
        wait_ready(target, creds, proc)
        load = Load(target, creds, args.rate)
        load.start()
        n = 0
        with AuthzClient(target, creds, timeout=120) as admin:
            for _ in range(args.rounds):
                steady_start = time.monotonic()
                time.sleep(args.seconds)
                storm_start = time.monotonic()
                took: list[float] = []
                while time.monotonic() < storm_start + args.seconds:
                    n += 1
                    change_role(repo, n)
                    t = time.monotonic()
                    result = admin.reload()
                    took.append(time.monotonic() - t)
                    if result.error:
                        raise RuntimeError(f"reload refused: {result.error}")
                phases.append((steady_start, storm_start, time.monotonic()))
                reload_seconds.append(took)
        load.stop()
        rss = server_stats(proc.pid)
    finally:
        _stop_server(proc)
    samples = load.recorder.samples
    rounds = []
    for (steady_start, storm_start, storm_end), took in zip(phases, reload_seconds, strict=True):
        steady = _summary([x for x in samples if steady_start <= x.due < storm_start])
        storm = _summary([x for x in samples if storm_start <= x.due < storm_end])
        ratio = round((storm["p99_ms"] or 0) / (steady["p99_ms"] or 1), 2)
        rounds.append(
            {
                "steady": steady,
                "storm": storm,
                "p99_ratio": ratio,
                "reloads": len(took),
                "reload_seconds_median": round(statistics.median(took), 3),
                "met": ratio <= 3.0 and not storm["errors"] and not steady["errors"],
            }
        )
    inside = [x for x in samples if any(b <= x.due < c for _, b, c in phases)]
    outside = [x for x in samples if not any(b <= x.due < c for _, b, c in phases)]
    met = sum(r["met"] for r in rounds)
    return {
        "mode": "storm",
        "rounds": rounds,
        "rounds_met": f"{met} of {len(rounds)}",
        "median_p99_ratio": statistics.median(r["p99_ratio"] for r in rounds),
        "steady": _summary(outside),
        "storm": _summary(inside),
        "reloads": sum(len(t) for t in reload_seconds),
        "target_p99_ratio": 3.0,
        "met": met == len(rounds),
        "server_after": rss,
    }


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _stop_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _row(cells: list[Any]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def markdown(result: dict[str, Any]) -> str:
    r = result
    head = f"# {r['mode']} — {r['started']}\n\n"
    head += f"Command: `{r['command']}`  \nMachine: {r['machine']}\n\n"
    if r["mode"] == "storm":
        names = ["round", "steady p50/p99 ms", "storm p50/p99 ms", "p99 ratio", "reloads",
                 "reload s (median)", "errors"]  # fmt: skip
        rows = [_row(names), _row(["---"] * len(names))]
        for i, x in enumerate(r["rounds"], 1):
            st, sm = x["steady"], x["storm"]
            errors = sum(st["errors"].values()) + sum(sm["errors"].values())
            cells = [i, f"{st['p50_ms']}/{st['p99_ms']}", f"{sm['p50_ms']}/{sm['p99_ms']}"]
            rows.append(
                _row([*cells, x["p99_ratio"], x["reloads"], x["reload_seconds_median"], errors])
            )
        st, sm = r["steady"], r["storm"]
        tail = (
            f"\nAll steady phases p50/p99 {st['p50_ms']}/{st['p99_ms']} ms; all storms"
            f" {sm['p50_ms']}/{sm['p99_ms']} ms; {r['reloads']} reloads. Target p99 storm <= 3x"
            f" the steady phase before it: met in **{r['rounds_met']}** rounds (median ratio"
            f" {r['median_p99_ratio']}).\n"
        )
        return head + "\n".join(rows) + "\n" + tail
    names = ["minute", "requests", "errors", "p50 ms", "p99 ms", "RSS MB", "threads", "fds",
             "partitions", "decisions (MB)"]  # fmt: skip
    rows = [_row(names), _row(["---"] * len(names))]
    for m in r["minutes"]:
        errors = sum(m["errors"].values())
        cells = [m["minute"], m["requests"], errors, m["p50_ms"], m["p99_ms"]]
        held = m.get("decision_bytes")
        decisions = f"{m.get('decision_size')} ({held / 2**20:.1f})" if held is not None else "-"
        rows.append(
            _row([*cells, m["rss_mb"], m["threads"], m["fds"], m.get("partition_size"), decisions])
        )
    probed = [m for m in r["minutes"] if any(m.get(k) is not None for k in PROBE_COLUMNS)]
    if probed:
        names = ["minute", "RSS MB", "RssAnon MB", "pymalloc arenas", "arenas MB", "live MB",
                 "free in arenas MB", "glibc heap MB", "glibc used MB"]  # fmt: skip
        rows += ["", "Allocators (benchmarks/malloc_probe.py, last sample of each minute):", ""]
        rows += [_row(names), _row(["---"] * len(names))]
        for m in probed:
            rows.append(_row([m["minute"], m["rss_mb"], m["rssanon_mb"],
                              *(m.get(k, "-") for k in PROBE_COLUMNS)]))  # fmt: skip
    s, n, o = r["steady"], r["near_reloads"], r["overall"]
    tail = (
        f"\nChanges: {r['changes']}; reloads {r['reloads']}. Overall {o['requests']} requests,"
        f" errors {o['errors'] or 0}. Steady p50/p99 {s['p50_ms']}/{s['p99_ms']} ms; within"
        f" {WINDOW_AFTER_CHANGE:g} s of a change {n['p50_ms']}/{n['p99_ms']} ms"
        f" (**{r['near_reload_p99_ratio']}x** steady). Worst minute after warm-up (minute 1)"
        f" p99 / steady p99 = **{r['worst_minute_p99_ratio']}** (target <= 3 for both). RSS"
        f" after warm-up (minute 2 -> last): {r['rss_drift_mb']:+.1f} MB"
        f" ({r['rss_drift_mb_per_minute']:+.2f} MB/min)."
    )
    if "rss_second_half_mb_per_minute" in r:
        low, high = r["rss_second_half_range_mb"]
        verdict = "flat" if r["rss_flat"] else "NOT flat"
        tail += (
            f" Second half: RSS {low}-{high} MB, slope"
            f" {r['rss_second_half_mb_per_minute']:+.3f}"
            f" ± {r['rss_second_half_slope_stderr']:.3f} MB/min (least squares over the means"
            f" of {r['rss_second_half_cycles']} change cycles; ± standard error): **{verdict}**"
            " (bound"
            f" {r['rss_flat_bound_mb_per_minute']} MB/min = 3 MB/hour)."
        )
    if "server_cpu_ms_per_request" in r:
        tail += f" Server CPU after warm-up: {r['server_cpu_ms_per_request']} ms per request."
    if r.get("server_env"):
        tail += (
            " Server environment: "
            + ", ".join(f"`{k}={v}`" for k, v in r["server_env"].items())
            + "."
        )
    if r.get("server_log"):
        tail += f" Server log with errors kept: `{r['server_log']}`."
    tail += "\n"
    return head + "\n".join(rows) + "\n" + tail


# "Flat after warm-up", fixed before any run was judged by it: RSS's least-squares slope over
# the second half of the soak is at most 0.05 MB a minute: 3 MB an hour, under 2 % of the
# ~180 MB process an hour. The first half is warm-up (caches, the allocators' pools). The
# slope is fitted to the mean RSS of each whole change cycle (the 5-s samples of 30 s): RSS
# swings within a cycle as the decision cache refills, and a fit to the raw samples would read
# that sawtooth as a trend (a 4 MB one over ten cycles: ~0.04 MB/min). Its standard error is
# reported beside it: a 5-minute window resolves only so much.
RSS_FLAT_MB_PER_MINUTE = 0.05


def rss_flatness(samples: list[dict[str, Any]], seconds: float, cycle: float) -> dict[str, Any]:
    """The second half's RSS slope (MB/min) over per-cycle means, its standard error, range
    and the verdict."""
    cycles: dict[int, list[float]] = {}
    first = int(-(-(seconds / 2) // cycle))  # the first whole cycle in the second half
    for x in samples:
        k = int(x["t"] // cycle)
        if "rss_mb" in x and first <= k and (k + 1) * cycle <= seconds:
            cycles.setdefault(k, []).append(x["rss_mb"])
    points = [((k + 0.5) * cycle / 60, statistics.fmean(v)) for k, v in sorted(cycles.items())]
    if len(points) < 3:
        return {"rss_flat": None}
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    raw = [x["rss_mb"] for x in samples if "rss_mb" in x and x["t"] >= first * cycle]
    fit = statistics.linear_regression(xs, ys)
    mean = statistics.fmean(xs)
    residual = sum((y - fit.intercept - fit.slope * x) ** 2 for x, y in points)
    spread = sum((x - mean) ** 2 for x in xs)
    stderr = (residual / (len(points) - 2) / spread) ** 0.5 if spread else 0.0
    return {
        "rss_second_half_mb_per_minute": round(fit.slope, 3),
        "rss_second_half_slope_stderr": round(stderr, 3),
        "rss_second_half_range_mb": [min(raw), max(raw)],
        "rss_second_half_cycles": len(points),
        "rss_flat_bound_mb_per_minute": RSS_FLAT_MB_PER_MINUTE,
        "rss_flat": fit.slope <= RSS_FLAT_MB_PER_MINUTE,
    }


def cpu_per_request(result: dict[str, Any]) -> dict[str, Any]:
    """The server's CPU (user + system) per request after warm-up (from the first sample at
    or past 60 s to the last), in ms: what a setting costs, beside p50/p99."""
    samples = [x for x in result["server_samples"] if "cpu_s" in x]
    after = [x for x in samples if x["t"] >= 60]
    if len(after) < 2:
        return {}
    first, last = after[0], after[-1]
    rate = result["overall"]["requests"] / result["seconds"]
    requests = rate * (last["t"] - first["t"])
    return {
        "server_cpu_ms_per_request": round(1000 * (last["cpu_s"] - first["cpu_s"]) / requests, 3)
    }


def keep_server_log(log: Path, out: Path, name: str) -> Path | None:
    """Copy the server's log next to the results when it recorded an error (an INTERNAL
    answer, a traceback), since the work directory is removed: the evidence of a failure
    must outlive the run. The copy's path, or None."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    if "Traceback" not in text and " ERROR " not in text:
        return None
    out.mkdir(parents=True, exist_ok=True)
    kept = out / f"{name}-server.log"
    kept.write_text(text, encoding="utf-8")
    return kept


def judge_soak(result: dict[str, Any], change_every: float) -> None:
    """The soak's ratios, RSS trend and verdict, added to ``result``."""
    # Warm-up: the first minute (every partition the traffic touches is compiled then);
    # it is in the table, not in the ratios or the RSS drift.
    steady = result["steady"]["p99_ms"] or 1
    after_warmup = result["minutes"][1:] or result["minutes"]
    worst = max((m["p99_ms"] or 0) for m in after_warmup)
    result["worst_minute_p99_ratio"] = round(worst / steady, 2)
    near = result["near_reloads"]["p99_ms"] or 0
    result["near_reload_p99_ratio"] = round(near / steady, 2)
    rss = [m["rss_mb"] for m in result["minutes"] if m["rss_mb"] is not None]
    result["rss_drift_mb"] = round(rss[-1] - rss[1], 1) if len(rss) > 2 else 0.0
    result["rss_drift_mb_per_minute"] = (
        round(result["rss_drift_mb"] / (len(rss) - 2), 2) if len(rss) > 2 else 0.0
    )
    for stale in [k for k in result if k.startswith("rss_second_half_")]:
        del result[stale]  # a re-judged result: the fields of the earlier definition go
    result.update(rss_flatness(result["server_samples"], result["seconds"], change_every))
    result.update(cpu_per_request(result))
    result["met"] = (
        not result["overall"]["errors"]
        and result["worst_minute_p99_ratio"] <= 3.0
        and result["near_reload_p99_ratio"] <= 3.0
        and bool(result.get("rss_flat"))
    )


def rejudge(path: Path, change_every: float) -> int:
    """``soak.py judge FILE.json``: apply this file's verdict to a result written by an earlier
    version (rewrites the .json and .md beside it)."""
    result = json.loads(path.read_text())
    judge_soak(result, change_every)
    path.write_text(json.dumps(result, indent=1) + "\n")
    path.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))
    return 0 if result.get("met") else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("mode", choices=("soak", "storm", "judge"))
    p.add_argument("result", nargs="?", type=Path, help="judge: a soak's .json result")
    p.add_argument("--seconds", type=float)
    p.add_argument("--rate", type=float, default=300.0)
    p.add_argument("--change-every", type=float, default=30.0)
    p.add_argument("--roles", type=int, default=10000)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    p.add_argument("--tag", default="")
    p.add_argument("--rounds", type=int, default=5, help="storm: steady + storm rounds")
    p.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="soak: set in the server's environment only (e.g. PYTHONMALLOC=malloc)",
    )
    p.add_argument(
        "--malloc-probe",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="soak: sample the server's allocators every SECONDS (benchmarks/malloc_probe.py)",
    )
    p.add_argument(
        "--trace-from",
        type=float,
        metavar="SECONDS",
        help="soak, with --malloc-probe: tracemalloc snapshots each minute after SECONDS",
    )
    p.add_argument(
        "--census",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="soak, with --malloc-probe: count objects by type and cache fill every SECONDS",
    )
    args = p.parse_args(argv)
    if args.mode == "judge":
        if args.result is None:
            p.error("judge takes a soak result (.json)")
        return rejudge(args.result, args.change_every)
    if any("=" not in x for x in args.server_env):
        p.error("--server-env takes NAME=VALUE")
    args.server_env = dict(x.split("=", 1) for x in args.server_env)
    if args.seconds is None:
        args.seconds = float(os.environ.get("SOAK_SECONDS", "600")) if args.mode == "soak" else 10.0
    if not (1 <= args.seconds <= 3600 and 1 <= args.rate <= 2000):
        p.error("--seconds must be 1..3600 and --rate 1..2000")
    work = Path(tempfile.mkdtemp(prefix=f"authz-{args.mode}-"))
    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%d-%H%M%S")
    kept: Path | None = None
    try:
        result = run_soak(args, work) if args.mode == "soak" else run_storm(args, work)
    finally:
        kept = keep_server_log(work / "server.log", args.out, f"{args.mode}{args.tag}-{stamp}")
        shutil.rmtree(work, ignore_errors=True)
    if kept is not None:
        result["server_log"] = str(kept)
    result.update(
        started=started.isoformat(timespec="seconds"),
        command=" ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        machine=f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end",
        rate=args.rate,
        seconds=args.seconds,
        roles=args.roles,
    )
    if result["mode"] == "soak":
        judge_soak(result, args.change_every)
    args.out.mkdir(parents=True, exist_ok=True)
    name = f"{args.mode}{args.tag}-{stamp}"
    (args.out / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.out / f"{name}.md").write_text(markdown(result))
    print(markdown(result))
    return 0 if result.get("met") else 1


if __name__ == "__main__":
    raise SystemExit(main())
