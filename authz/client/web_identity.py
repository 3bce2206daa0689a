"""``WebIdentityCredentials``: role sessions for a workload that holds only an OIDC token file.

The AWS SDKs' web identity provider, for authz: ``AWS_WEB_IDENTITY_TOKEN_FILE`` (the token
file a Kubernetes projected service-account volume or a CI runner keeps fresh),
``AWS_ROLE_ARN`` and optionally ``AWS_ROLE_SESSION_NAME``. The file is read again on every
refresh, so a rotated token is picked up; the session is refreshed before it expires
(``RefreshingCredentialsProvider``: advisory, then mandatory margin). The exchange itself sends
no credentials (``AuthzClient.assume_role_with_web_identity``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from datetime import UTC, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from authz.client.credentials import (
    Clock,
    RefreshingCredentialsProvider,
    SessionCredentials,
    utc_now,
)
from authz.errors import ValidationError

if TYPE_CHECKING:
    from authz.client.client import AuthzClient

TOKEN_FILE_ENV = "AWS_WEB_IDENTITY_TOKEN_FILE"
ROLE_ARN_ENV = "AWS_ROLE_ARN"
SESSION_NAME_ENV = "AWS_ROLE_SESSION_NAME"
MAX_TOKEN_FILE_BYTES = 64 * 1024


_STATIC = ("AUTHZ_SESSION_TOKEN", "AUTHZ_ACCESS_KEY_ID", "AUTHZ_CREDENTIALS_FILE",
           "AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN")  # fmt: skip


def web_identity_first(env: Mapping[str, str]) -> bool:
    """Whether the credential chain resolves to web identity: both variables are set and no
    credentials given in the environment come first (the AWS SDKs' order: environment, then
    web identity, then the shared credentials file)."""
    return bool(env.get(TOKEN_FILE_ENV) and env.get(ROLE_ARN_ENV)) and not any(
        env.get(name) for name in _STATIC
    )


def read_token_file(path: Path) -> str:
    """The token in ``path`` (surrounding white space removed); ``ValidationError`` naming the
    file when it cannot be read, is empty or is larger than ``MAX_TOKEN_FILE_BYTES``."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_TOKEN_FILE_BYTES + 1)
    except OSError as err:
        raise ValidationError(
            f"cannot read web identity token file `{path}`: {err.strerror}"
        ) from err
    if len(raw) > MAX_TOKEN_FILE_BYTES:
        raise ValidationError(
            f"web identity token file `{path}` is larger than {MAX_TOKEN_FILE_BYTES} bytes"
        )
    token = raw.decode("utf-8", errors="replace").strip()
    if not token:
        raise ValidationError(f"web identity token file `{path}` is empty")
    return token


class WebIdentityCredentials(RefreshingCredentialsProvider):
    """Session credentials from AssumeRoleWithWebIdentity, refreshed before expiry, with the
    token re-read from ``token_file`` each time. ``client`` is the client that calls STS (it
    may be the very client that uses these credentials)."""

    def __init__(
        self,
        client: AuthzClient,
        role_arn: str,
        token_file: Path | str,
        *,
        role_session_name: str | None = None,
        duration_seconds: int | None = None,
        policy: str = "",
        policy_arns: tuple[str, ...] = (),
        refresh_margin: timedelta = timedelta(minutes=5),
        advisory_margin: timedelta | None = None,
        clock: Clock = utc_now,
    ) -> None:
        super().__init__(
            self._exchange,
            refresh_margin=refresh_margin,
            advisory_margin=advisory_margin,
            clock=clock,
        )
        self.client = client
        self.role_arn = role_arn
        self.token_file = Path(token_file)
        self.role_session_name = role_session_name or f"authz-session-{int(time.time())}"
        self.duration_seconds = duration_seconds
        self.policy = policy
        self.policy_arns = policy_arns
        self.last_response: Any = None

    @classmethod
    def from_environment(
        cls, client: AuthzClient, env: Mapping[str, str] | None = None, **kwargs: Any
    ) -> WebIdentityCredentials:
        """From ``AWS_WEB_IDENTITY_TOKEN_FILE``, ``AWS_ROLE_ARN`` and ``AWS_ROLE_SESSION_NAME``
        (``ValidationError`` naming a missing variable)."""
        env = os.environ if env is None else env
        missing = [name for name in (TOKEN_FILE_ENV, ROLE_ARN_ENV) if not env.get(name)]
        if missing:
            raise ValidationError(
                "web identity credentials need " + " and ".join(f"`{m}`" for m in missing)
            )
        kwargs.setdefault("role_session_name", env.get(SESSION_NAME_ENV) or None)
        return cls(client, env[ROLE_ARN_ENV], env[TOKEN_FILE_ENV], **kwargs)

    def _exchange(self) -> SessionCredentials:
        token = read_token_file(self.token_file)
        response = self.client.assume_role_with_web_identity(
            self.role_arn,
            self.role_session_name,
            token,
            duration_seconds=self.duration_seconds,
            policy=self.policy,
            policy_arns=self.policy_arns,
        )
        self.last_response = response
        creds = response.credentials
        return SessionCredentials(
            token=creds.session_token,
            expiration=creds.expiration.ToDatetime(tzinfo=UTC),
            access_key_id=creds.access_key_id,
            secret=creds.secret_access_key,
        )
