"""Server configuration: defaults, an optional TOML file (``--config authz.toml``), then flags.

Owns the one ``Settings`` object every part of ``authz serve`` reads. Precedence, lowest
first: built-in defaults → the TOML file → command-line flags. Unknown keys in the file are an
error that names the key (a typo must never silently fall back to a default).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from authz.errors import ValidationError
from authz.limits import RequestLimits
from authz.state.db import redact_url
from authz.state.runtime import is_local_url
from authz.state.sealing import Sealer, SealError
from authz.sts.assume_role import TtlPolicy

SAN_TYPES = ("uri", "dns", "email", "ip")


def typed_san(key: str) -> str:
    """A ``service_principals`` key as ``<type>:<value>``: ``uri:``, ``dns:``, ``email:`` or
    ``ip:`` explicitly, a bare value is a URI (``spiffe://corp/ci`` = ``uri:spiffe://corp/ci``).
    DNS names compare case-insensitively (lowercased). Idempotent."""
    prefix, sep, rest = key.partition(":")
    kind = prefix.lower()
    if not (sep and kind in SAN_TYPES and not rest.startswith("//")):
        kind, rest = "uri", key  # a bare value, e.g. spiffe://... (or dns://... as a URI)
    if not rest:
        raise ValidationError(f"service principal mapping `{key}` names no SAN value")
    return f"{kind}:{rest.lower() if kind == 'dns' else rest}"


def typed_san_mapping(mapping: Mapping[str, str]) -> dict[str, str]:
    """``service_principals`` with every key typed (``typed_san``)."""
    return {typed_san(str(k)): str(v) for k, v in mapping.items()}


class StartupError(Exception):
    """A setting that cannot work (a missing directory, an unreadable file, no signing keys):
    ``authz serve`` prints it as one line and exits 2, without a traceback."""


@dataclass(frozen=True)
class Settings:
    repo: Path = Path("policies")
    listen: str = "127.0.0.1:50051"
    workers: int = 1
    pin_workers: bool = False  # worker i runs on CPU i (mod the CPUs the server may use)
    # Admission (docs/operations.md, "Overload"): max_threads calls held from arrival, of which
    # max_concurrent_rpcs run at once; the others wait at most admission_wait_ms, then
    # Throttling. One caller runs at most max_concurrent_per_caller (0: three quarters).
    max_threads: int = 64
    max_concurrent_rpcs: int = 60
    max_concurrent_per_caller: int = 0
    admission_wait_ms: int = 100
    # Stopping: health NOT_SERVING, drain_seconds of serving on, then accepted calls get
    # shutdown_grace_seconds to finish.
    drain_seconds: float = 5.0
    shutdown_grace_seconds: float = 10.0
    # Connection hygiene (docs/operations.md, "Connections").
    request_read_timeout_ms: int = 5000
    max_stalled_reads_per_peer: int = 8
    max_concurrent_streams: int = 100
    max_connections: int = 1000
    max_connection_idle_seconds: float = 300.0
    max_connection_age_seconds: float = 1800.0
    max_connection_age_grace_seconds: float = 30.0
    max_message_bytes: int = 4 * 1024 * 1024
    max_batch_size: int = 1000
    keys_dir: Path = Path(".authz-local/keys")
    generate_keys: bool = False  # development only: create a key ring when keys_dir has none
    # "dir": keys_dir (also a read-only secret mount); "state": the state database, private
    # keys sealed, rotation coordinated through it (docs/operations.md, "Keys and credentials")
    keys_source: str = "dir"
    # Run-time state (docs/operations.md, "State database"): access keys, MFA devices,
    # revocations, signing keys. SQLite (one machine) or postgresql:// (a fleet); secrets in it
    # sealed with the key file (created for SQLite only). Changes made elsewhere are polled
    # every state_poll_ms; state that was not polled for state_stale_seconds is not trusted.
    state_url: str = "sqlite:///.authz-local/state.db"
    state_key_file: Path = Path(".authz-local/state.key")
    state_poll_ms: int = 250
    state_stale_seconds: float = 5.0
    # The JSON stores of earlier releases: only sources for `authz state migrate`.
    credentials_file: Path = Path(".authz-local/credentials.json")
    mfa_file: Path = Path(".authz-local/mfa.json")  # virtual MFA devices; key in <file>.key
    issuer: str = "authz"
    token_leeway_seconds: int = 30
    ttl: TtlPolicy = field(default_factory=TtlPolicy)
    metrics_listen: str | None = None  # e.g. "127.0.0.1:9464"
    # The AWS-compatible HTTP endpoint (STS/IAM Query protocol, SigV4), e.g. "127.0.0.1:4566";
    # None: off. Signatures must be scoped to one of aws_regions; each signature is accepted
    # once within aws_signature_window_seconds (replay memory of aws_replay_max_entries).
    aws_listen: str | None = None
    aws_regions: tuple[str, ...] = ("us-east-1",)
    aws_signature_window_seconds: int = 300
    aws_replay_max_entries: int = 200_000
    aws_max_body_bytes: int = 1024 * 1024
    aws_max_connections: int = 64
    # The client SDK signs every gRPC call (SigV4). For grpcurl experiments on loopback only:
    # accept x-authz-secret-access-key metadata / `authorization: Bearer <session token>`.
    allow_plaintext_secret: bool = False
    allow_bearer_sessions: bool = False
    audit_log: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None  # set → mTLS required
    # mTLS identity → service principal, e.g. {"uri:spiffe://corp/ci": "ci.internal"}; the
    # key names the SAN type (uri: / dns: / email: / ip:, bare = uri:) and matches only it
    service_principals: dict[str, str] = field(default_factory=dict)
    trusted_proxies: tuple[str, ...] = ()  # peers whose x-forwarded-for sets aws:SourceIp
    watch: bool = True
    reload_debounce_ms: int = 200
    # "any": every file change reloads; "marker": only a change of `reload_marker` (in the
    # published directory) or of the git HEAD does. A symlink flip of the root reloads in both.
    reload_trigger: str = "any"
    reload_marker: str = ".authz-revision"
    reload_poll_ms: int = 1000  # how often the publication (symlink, marker) is checked
    reload_rpc_per_second: float = 1.0  # Reload RPC token bucket (<= 0: unlimited)
    reload_rpc_burst: int = 5
    wait_for_valid_repo: bool = False
    # Reload gate: refuse an activation that changes more decisions than this (replayed on
    # requests generated from every principal x its policies' actions); None = no limit.
    # `authz reload --force` (Reload with force) activates anyway.
    max_changed_decisions: int | None = None
    decision_cache_size: int = 65536
    partition_cache_size: int = 4096
    # MFA attempt limits (shared by every node): after mfa_max_failures wrong codes a device/user is
    # locked for mfa_lockout_seconds, doubling per further failure up to the maximum
    mfa_max_failures: int = 5
    mfa_lockout_seconds: float = 60.0
    mfa_max_lockout_seconds: float = 3600.0
    # OIDC providers' JWKS over HTTPS (docs/operations.md, "Web identity"): extra CA bundle to
    # trust (besides the system's), timeout, background refresh age, least interval between
    # fetches of one URL, and the longest a request waits for a fetch it needs
    oidc_ca_file: Path | None = None
    oidc_jwks_timeout_seconds: float = 5.0
    oidc_jwks_refresh_seconds: float = 3600.0
    oidc_jwks_min_interval_seconds: float = 30.0
    oidc_jwks_wait_seconds: float = 5.0
    oidc_token_leeway_seconds: int = 60
    # Limits (docs/operations.md, "Limits"): request sizes, deadlines, memory in bytes.
    max_request_seconds: float = 2.0  # server-side deadline of every call; 0 = the caller's only
    max_context_keys: int = 64
    max_context_values: int = 64
    max_context_value_chars: int = 4096
    max_context_bytes: int = 65536
    max_simulation_actions: int = 1000
    max_simulation_resources: int = 1000
    max_simulation_policies: int = 10
    decision_cache_bytes: int = 64 * 1024 * 1024
    caller_policy_cache_bytes: int = 16 * 1024 * 1024
    partition_cache_bytes: int = 256 * 1024 * 1024  # compiled repository partitions
    malloc_arena_max: int = 2  # glibc malloc arenas per process (0: glibc's default)
    token_cache_bytes: int = 16 * 1024 * 1024
    repeat_memo_bytes: int = 8 * 1024 * 1024

    def request_limits(self) -> RequestLimits:
        """The limits the servicers check at the door."""
        return RequestLimits(
            max_context_keys=self.max_context_keys,
            max_context_values=self.max_context_values,
            max_context_value_chars=self.max_context_value_chars,
            max_context_bytes=self.max_context_bytes,
            max_simulation_actions=self.max_simulation_actions,
            max_simulation_resources=self.max_simulation_resources,
            max_simulation_policies=self.max_simulation_policies,
            max_request_seconds=self.max_request_seconds,
        )


_PATHS = {"repo", "keys_dir", "credentials_file", "mfa_file", "audit_log", "tls_cert", "tls_key",
          "tls_client_ca", "oidc_ca_file", "state_key_file"}  # fmt: skip
_FLOATS = {"drain_seconds", "shutdown_grace_seconds", "max_connection_idle_seconds",
           "state_stale_seconds", "max_connection_age_seconds", "max_connection_age_grace_seconds",
           "oidc_jwks_timeout_seconds", "oidc_jwks_refresh_seconds",
           "oidc_jwks_min_interval_seconds", "oidc_jwks_wait_seconds"}  # fmt: skip
_TTL_KEYS = {f.name for f in fields(TtlPolicy)}
_POSITIVE = ("max_context_keys", "max_context_values", "max_context_value_chars",
             "max_context_bytes", "max_simulation_actions", "max_simulation_resources",
             "max_simulation_policies")  # fmt: skip


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Defaults, then ``config_file`` (TOML), then the non-None ``overrides`` (flags)."""
    values: dict[str, Any] = {}
    if config_file is not None:
        try:
            values.update(_flatten(tomllib.loads(config_file.read_text(encoding="utf-8"))))
        except (OSError, tomllib.TOMLDecodeError) as err:
            raise ValidationError(f"cannot read config file `{config_file}`: {err}") from err
    values.update({k: v for k, v in overrides.items() if v is not None})
    return _build(values, str(config_file or "flags"))


def _flatten(data: dict[str, Any]) -> dict[str, Any]:
    """``[ttl]`` table → ``ttl_<key>``; everything else stays flat."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key == "ttl" and isinstance(value, dict):
            out.update({f"ttl_{k}": v for k, v in value.items()})
        else:
            out[key] = value
    return out


def _build(values: dict[str, Any], origin: str) -> Settings:
    known = {f.name for f in fields(Settings)}
    ttl_values: dict[str, Any] = {}
    plain: dict[str, Any] = {}
    for key, value in values.items():
        if key.startswith("ttl_") and key[4:] in _TTL_KEYS:
            ttl_values[key[4:]] = int(value)
        elif key in known and key != "ttl":
            plain[key] = _coerce(key, value)
        else:
            raise ValidationError(f"unknown setting `{key}` in {origin}")
    settings = replace(Settings(), **plain)
    if ttl_values:
        settings = replace(settings, ttl=replace(settings.ttl, **ttl_values))
    _check(settings)
    return settings


def _coerce(key: str, value: Any) -> Any:
    if key in _PATHS:
        return Path(value)
    if key in _FLOATS:
        return float(value)
    if key in ("trusted_proxies", "aws_regions"):
        return tuple(value)
    if key == "service_principals":
        return typed_san_mapping(value)
    return value


def _check(s: Settings) -> None:
    t = s.ttl
    if not 900 <= t.minimum_seconds <= t.default_seconds <= t.maximum_seconds <= 43200:
        raise ValidationError(
            "ttl settings must satisfy 900 <= minimum_seconds <= default_seconds <= "
            f"maximum_seconds <= 43200, got {t.minimum_seconds}/{t.default_seconds}/"
            f"{t.maximum_seconds}"
        )
    if s.reload_trigger not in ("any", "marker"):
        raise ValidationError(f"reload_trigger must be `any` or `marker`, got `{s.reload_trigger}`")
    if s.reload_poll_ms < 10 or s.reload_rpc_burst < 1:
        raise ValidationError("reload_poll_ms must be at least 10 and reload_rpc_burst at least 1")
    for name in _POSITIVE:
        if getattr(s, name) < 1:
            raise ValidationError(f"{name} must be at least 1, got {getattr(s, name)}")
    if s.max_request_seconds < 0:
        raise ValidationError(f"max_request_seconds must be >= 0, got {s.max_request_seconds}")
    if s.max_changed_decisions is not None and s.max_changed_decisions < 0:
        raise ValidationError(f"max_changed_decisions must be >= 0, got {s.max_changed_decisions}")
    if s.mfa_max_failures < 1 or not 0 < s.mfa_lockout_seconds <= s.mfa_max_lockout_seconds:
        raise ValidationError(
            "mfa settings must satisfy mfa_max_failures >= 1 and 0 < mfa_lockout_seconds <= "
            f"mfa_max_lockout_seconds, got {s.mfa_max_failures}/{s.mfa_lockout_seconds}/"
            f"{s.mfa_max_lockout_seconds}"
        )
    _check_state(s)
    if s.keys_source not in ("dir", "state"):
        raise ValidationError(f"keys_source must be `dir` or `state`, got `{s.keys_source}`")
    if s.workers < 1:
        raise ValidationError(f"workers must be at least 1, got {s.workers}")
    if not 0 < s.max_concurrent_rpcs <= s.max_threads:
        raise ValidationError(
            "max_concurrent_rpcs must be between 1 and max_threads "
            f"({s.max_threads}), got {s.max_concurrent_rpcs}"
        )
    if s.max_concurrent_per_caller < 0 or s.admission_wait_ms < 0:
        raise ValidationError("max_concurrent_per_caller and admission_wait_ms must be >= 0")
    if s.drain_seconds < 0 or s.shutdown_grace_seconds < 0 or s.request_read_timeout_ms <= 0:
        raise ValidationError(
            "drain_seconds and shutdown_grace_seconds must be >= 0, request_read_timeout_ms > 0"
        )
    if (s.tls_cert is None) != (s.tls_key is None):
        raise ValidationError("tls_cert and tls_key must be given together")
    if s.tls_client_ca is not None and s.tls_cert is None:
        raise ValidationError("tls_client_ca (mTLS) needs tls_cert and tls_key")


def _check_state(s: Settings) -> None:
    if not isinstance(s.state_url, str) or not isinstance(s.state_poll_ms, int):
        raise ValidationError("state_url must be a string and state_poll_ms an integer")
    scheme = s.state_url.split(":", 1)[0].lower() if ":" in s.state_url else ""
    if scheme not in ("sqlite", "postgresql", "postgres"):
        raise ValidationError(
            f"state_url `{redact_url(s.state_url)}` must be `sqlite:///PATH` or `postgresql://…`"
        )
    if not 10 <= s.state_poll_ms <= 60_000:
        raise ValidationError(f"state_poll_ms must be between 10 and 60000, got {s.state_poll_ms}")
    if s.state_stale_seconds < 2 * s.state_poll_ms / 1000:
        raise ValidationError(
            "state_stale_seconds must be at least two polls (2 × state_poll_ms), got "
            f"{s.state_stale_seconds}"
        )


def check_paths(s: Settings) -> None:
    """Every path ``authz serve`` will use, checked before anything starts; raises
    ``StartupError`` naming the first unusable one. (Signing keys are checked by opening
    them: ``authz.wiring.open_keyring``.)"""
    if not s.repo.is_dir():
        raise StartupError(f"policy repository `{s.repo}` is not a directory")
    if s.audit_log is not None:
        _check_writable_file(s.audit_log, "audit log")
    if s.keys_dir.exists() and not s.keys_dir.is_dir():
        raise StartupError(f"keys directory `{s.keys_dir}` is not a directory")
    if s.mfa_file.exists() and not _readable(s.mfa_file):
        raise StartupError(f"MFA file `{s.mfa_file}` is not readable")
    key = s.state_key_file
    if key.exists() and not (key.is_file() and _readable(key)):
        raise StartupError(f"state_key_file `{key}` is not a readable file")
    if key.exists():
        try:
            Sealer.from_key_file(key, create=False)
        except SealError as err:
            raise StartupError(f"state_key_file: {err.message}") from err
    if not key.exists() and not is_local_url(s.state_url):
        raise StartupError(
            f"state_key_file `{key}` does not exist: with a shared state database every node "
            "needs the same key (create it once with `authz state keygen --key-file PATH` and "
            "mount it on every node)"
        )
    for label, tls in (("tls_cert", s.tls_cert), ("tls_key", s.tls_key),
                       ("tls_client_ca", s.tls_client_ca),
                       ("oidc_ca_file", s.oidc_ca_file)):  # fmt: skip
        if tls is not None and not (tls.is_file() and _readable(tls)):
            raise StartupError(f"{label} `{tls}` is not a readable file")


def _check_writable_file(path: Path, label: str) -> None:
    parent = path.parent
    if not parent.is_dir():
        raise StartupError(f"{label} directory `{parent}` does not exist")
    if path.exists():
        if path.is_dir():
            raise StartupError(f"{label} `{path}` is a directory")
        try:
            with path.open("a", encoding="utf-8"):
                pass
        except OSError as err:
            raise StartupError(f"{label} `{path}` is not writable: {err.strerror}") from err
    elif not os.access(parent, os.W_OK | os.X_OK):
        raise StartupError(f"{label} directory `{parent}` is not writable")


def _readable(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError:
        return False
    return True
