"""Assembling one process's service from ``Settings``: key ring, run-time state (ONE state
database + ONE change watcher + the sealer per process, handed to the stores), access-key
store, MFA store, reloader (first snapshot, file watching, SIGHUP), STS, token verifier and the
backend, plus the gRPC ``ServerConfig``. ``worker(settings)`` is the picklable factory
``--workers N`` spawns. ``AuthzBackend.close`` stops what ``build_backend`` started.
"""

from __future__ import annotations

import contextlib
import logging
import threading

from authz.backend import AuthzBackend
from authz.config import Settings, StartupError
from authz.engine.evaluate import configure_default
from authz.engine.reload import Reloader
from authz.errors import AuthzError, ValidationError
from authz.oidc.fetch import FetchSettings, JwksCache
from authz.server.app import ServerConfig, limit_malloc_arenas
from authz.state.db import redact_url
from authz.state.runtime import RuntimeState, open_state
from authz.state.sealing import SealError
from authz.sts.credentials import CredentialStore
from authz.sts.keys import KeyRing
from authz.sts.mfa import MfaStore
from authz.sts.mfa_limits import MfaLimits, SharedAttemptLimiter
from authz.sts.revocations import RevocationStore
from authz.sts.service import StsService
from authz.sts.tokens import SessionClaims, TokenSigner, TokenVerifier
from authz.sts.web_identity import WebIdentityVerifier

log = logging.getLogger("authz.wiring")


def open_keyring(settings: Settings, state: RuntimeState | None = None) -> KeyRing:
    """The signing keys. A missing key ring is an error (a replica whose key mount failed
    must not mint a key no other replica accepts) unless ``settings.generate_keys`` (a
    development setting) asks for one; that is logged, never the key material. With
    ``keys_source = "state"`` the ring is in the state database (``state``'s watcher reloads
    it; without ``state``, one is opened for the check and closed)."""
    if settings.keys_source == "state":
        if state is None:
            state = open_runtime_state(settings)
            try:
                return _open_state_keyring(settings, state, watch=False)
            finally:
                state.close()
        return _open_state_keyring(settings, state, watch=True)
    index = settings.keys_dir / "index.json"
    try:
        if not index.exists():
            if not settings.generate_keys:
                raise StartupError(
                    f"no signing keys in `{settings.keys_dir}`: create them with "
                    f"`authz keys generate --dir {settings.keys_dir}` (or, for development "
                    "only, set generate_keys = true / --dev-generate-keys)"
                )
            log.warning("no signing keys in %s: generating a new Ed25519 key", settings.keys_dir)
            return KeyRing.generate(settings.keys_dir, max_token_ttl=settings.ttl.maximum_seconds)
        return KeyRing.load(settings.keys_dir)
    except (OSError, AuthzError) as err:
        message = err.message if isinstance(err, AuthzError) else (err.strerror or str(err))
        raise StartupError(
            f"cannot use the signing keys in `{settings.keys_dir}`: {message}"
        ) from err


def _open_state_keyring(settings: Settings, state: RuntimeState, *, watch: bool) -> KeyRing:
    from authz.sts.keys_state import generate_state_ring, open_state_ring, ring_exists

    try:
        if settings.generate_keys and not ring_exists(state.db):
            log.warning("no signing keys in %s: generating a new Ed25519 key", state.db.display_url)
            with contextlib.suppress(ValidationError):  # another process made it first
                generate_state_ring(
                    state.db, state.sealer, max_token_ttl=settings.ttl.maximum_seconds
                )
        return open_state_ring(
            state.db,
            state.sealer,
            watcher=state.watcher if watch else None,
            poll_seconds=settings.state_poll_ms / 1000,
        )
    except AuthzError as err:
        raise StartupError(f"keys_source = state: {err.message}") from err


def open_runtime_state(settings: Settings) -> RuntimeState:
    """The state database, its watcher (not started) and the sealer of ``settings``; a
    ``StartupError`` naming the setting when one cannot be used."""
    try:
        return open_state(
            settings.state_url,
            settings.state_key_file,
            poll_seconds=settings.state_poll_ms / 1000,
            stale_seconds=settings.state_stale_seconds,
        )
    except SealError as err:
        raise StartupError(f"state_key_file: {err.message}") from err
    except AuthzError as err:  # StateUnavailable (logged with the cause), ValidationError
        cause = err.__cause__
        detail = f" ({cause.strerror})" if isinstance(cause, OSError) and cause.strerror else ""
        raise StartupError(
            f"state_url `{redact_url(settings.state_url)}`: {err.message}{detail}"
        ) from err


def build_backend(settings: Settings, *, start: bool = True) -> AuthzBackend:
    """Everything behind the edge. ``start`` loads the first snapshot (``RepositoryError``
    lists every problem of a broken repository unless ``wait_for_valid_repo``), starts
    watching the repository when ``settings.watch``, and starts the state watcher."""
    state = open_runtime_state(settings)
    try:
        keyring = open_keyring(settings, state)
        return _assemble(settings, keyring, state, start=start)
    except BaseException:
        state.close()
        raise


def _assemble(
    settings: Settings, keyring: KeyRing, state: RuntimeState, *, start: bool
) -> AuthzBackend:
    configure_default(settings.caller_policy_cache_bytes)
    reloader = Reloader(
        settings.repo,
        cache_size=settings.partition_cache_size,
        decision_cache_size=settings.decision_cache_size,
        cooldown=settings.reload_debounce_ms / 1000,
        trigger=settings.reload_trigger,
        marker=settings.reload_marker,
        poll_interval=settings.reload_poll_ms / 1000,
        rpc_rate=settings.reload_rpc_per_second,
        rpc_burst=settings.reload_rpc_burst,
        decision_cache_bytes=settings.decision_cache_bytes,
        caller_policy_cache_bytes=settings.caller_policy_cache_bytes,
        partition_cache_bytes=settings.partition_cache_bytes,
        max_changed_decisions=settings.max_changed_decisions,
    )
    holder = reloader.holder
    revocations = RevocationStore(state.db, state.watcher)

    def revoked(claims: SessionClaims) -> bool:
        # the operator's revocations (state database; fails closed when stale), then the
        # repository's RevokedSessionIds
        return revocations.is_revoked(claims) or AuthzBackend.session_revoked(holder, claims)

    verifier = TokenVerifier(
        keyring,
        settings.issuer,
        settings.token_leeway_seconds,
        is_revoked=revoked,
        cache_bytes=settings.token_cache_bytes,
    )
    mfa_limits = MfaLimits(
        max_failures=settings.mfa_max_failures,
        lockout_seconds=settings.mfa_lockout_seconds,
        max_lockout_seconds=settings.mfa_max_lockout_seconds,
    )
    sts = StsService(
        TokenSigner(keyring, settings.issuer),
        settings.issuer,
        settings.ttl,
        mfa=MfaStore(state.db, state.sealer, state.watcher, issuer=settings.issuer),
        mfa_limiter=SharedAttemptLimiter(state.db, mfa_limits),
        web_identity=web_identity_verifier(settings),
    )
    credentials = CredentialStore(state.db, state.sealer, state.watcher)
    if settings.credentials_file.exists() and not credentials.list():
        log.warning(
            "%s holds access keys of an earlier release that the state database lacks: "
            "import them with `authz state migrate`",
            settings.credentials_file,
        )
    backend = AuthzBackend(
        reloader,
        sts,
        verifier,
        keyring,
        credentials,
        settings.service_principals,
        audit_log=settings.audit_log,
        state=state,
        revocations=revocations,
    )
    if start:
        state.start()
        if settings.watch:
            reloader.watch()
        reloader.start(wait_for_valid=settings.wait_for_valid_repo)
        if threading.current_thread() is threading.main_thread():
            reloader.install_sighup()
    return backend


def server_config(settings: Settings) -> ServerConfig:
    running = settings.max_concurrent_rpcs
    return ServerConfig(
        listen=settings.listen,
        max_workers=settings.max_threads,
        max_concurrent_rpcs=running,
        max_concurrent_per_caller=settings.max_concurrent_per_caller or max(1, running * 3 // 4),
        admission_wait_seconds=settings.admission_wait_ms / 1000,
        drain_seconds=settings.drain_seconds,
        shutdown_grace_seconds=settings.shutdown_grace_seconds,
        request_read_timeout_seconds=settings.request_read_timeout_ms / 1000,
        max_stalled_reads_per_peer=settings.max_stalled_reads_per_peer,
        max_concurrent_streams=settings.max_concurrent_streams,
        max_connections=settings.max_connections,
        max_connection_idle_seconds=settings.max_connection_idle_seconds,
        max_connection_age_seconds=settings.max_connection_age_seconds,
        max_connection_age_grace_seconds=settings.max_connection_age_grace_seconds,
        max_message_bytes=settings.max_message_bytes,
        max_batch_size=settings.max_batch_size,
        tls_cert_file=str(settings.tls_cert) if settings.tls_cert else None,
        tls_key_file=str(settings.tls_key) if settings.tls_key else None,
        client_ca_file=str(settings.tls_client_ca) if settings.tls_client_ca else None,
        san_principals=dict(settings.service_principals),
        metrics_listen=settings.metrics_listen,
        aws_listen=settings.aws_listen,
        aws_regions=frozenset(settings.aws_regions),
        aws_signature_window_seconds=settings.aws_signature_window_seconds,
        aws_replay_max_entries=settings.aws_replay_max_entries,
        aws_max_body_bytes=settings.aws_max_body_bytes,
        aws_max_connections=settings.aws_max_connections,
        allow_plaintext_secret=settings.allow_plaintext_secret,
        allow_bearer_sessions=settings.allow_bearer_sessions,
        audit_path=str(settings.audit_log) if settings.audit_log else None,
        trusted_proxies=frozenset(settings.trusted_proxies),
        limits=settings.request_limits(),
        repeat_memo_bytes=settings.repeat_memo_bytes,
    )


def worker(settings: Settings) -> tuple[AuthzBackend, ServerConfig]:
    """The factory each ``--workers`` process calls (use ``functools.partial``)."""
    limit_malloc_arenas(settings.malloc_arena_max)  # before this process starts its threads
    return build_backend(settings), server_config(settings)


def web_identity_verifier(settings: Settings) -> WebIdentityVerifier:
    """OIDC token verification with the JWKS fetch bounds of the settings."""
    fetch = FetchSettings(
        timeout_seconds=settings.oidc_jwks_timeout_seconds,
        refresh_seconds=settings.oidc_jwks_refresh_seconds,
        min_interval_seconds=settings.oidc_jwks_min_interval_seconds,
        wait_seconds=settings.oidc_jwks_wait_seconds,
        ca_file=str(settings.oidc_ca_file) if settings.oidc_ca_file else None,
    )
    return WebIdentityVerifier(JwksCache(fetch), leeway=settings.oidc_token_leeway_seconds)
