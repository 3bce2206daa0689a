"""Where a client finds its credentials: the ``AUTHZ_*`` variables first, then the AWS standard
chain as boto3 resolves it, so an ``authz keys create --profile NAME`` entry or the usual AWS
variables work unchanged.

Order, first found wins:

1. ``AUTHZ_SESSION_TOKEN`` (with ``AUTHZ_ACCESS_KEY_ID`` + ``AUTHZ_SECRET_ACCESS_KEY``: the
   session's own key and secret, so calls are signed; alone: a bearer token, which servers
   refuse unless ``allow_bearer_sessions``); ``AUTHZ_ACCESS_KEY_ID`` + ``AUTHZ_SECRET_ACCESS_KEY``;
   ``AUTHZ_CREDENTIALS_FILE`` (JSON ``{"AccessKeyId", "SecretAccessKey"}`` or the
   ``{"Credentials": {...}}`` that ``authz sts assume-role`` prints);
2. ``AWS_ACCESS_KEY_ID`` + ``AWS_SECRET_ACCESS_KEY`` (with ``AWS_SESSION_TOKEN``: the session);
3. the ``AWS_PROFILE`` (else ``default``) section of ``AWS_SHARED_CREDENTIALS_FILE`` (else
   ``~/.aws/credentials``): ``aws_access_key_id``, ``aws_secret_access_key``,
   ``aws_session_token``. A named profile that is missing is an error (as in boto3);
   a missing ``default`` is not.

Also writes a profile (``write_profile``) in that ini format, mode 0600. Must not import grpc.
"""

from __future__ import annotations

import configparser
import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from authz.client.credentials import AccessKeyCredentials, Credentials, SessionCredentials
from authz.errors import ValidationError

FAR_FUTURE = datetime.max.replace(tzinfo=UTC)


def shared_credentials_path(env: Mapping[str, str]) -> Path:
    configured = env.get("AWS_SHARED_CREDENTIALS_FILE")
    return Path(configured).expanduser() if configured else Path.home() / ".aws" / "credentials"


def resolve_credentials(env: Mapping[str, str] | None = None) -> Credentials | None:
    """The credentials of the chain above, or None (an anonymous call)."""
    env = os.environ if env is None else env
    if env.get("AUTHZ_SESSION_TOKEN"):
        return SessionCredentials(
            env["AUTHZ_SESSION_TOKEN"],
            FAR_FUTURE,
            env.get("AUTHZ_ACCESS_KEY_ID") or None,
            env.get("AUTHZ_SECRET_ACCESS_KEY") or None,
        )
    if env.get("AUTHZ_ACCESS_KEY_ID") and env.get("AUTHZ_SECRET_ACCESS_KEY"):
        return AccessKeyCredentials(env["AUTHZ_ACCESS_KEY_ID"], env["AUTHZ_SECRET_ACCESS_KEY"])
    if env.get("AUTHZ_CREDENTIALS_FILE"):
        return credentials_from_file(Path(env["AUTHZ_CREDENTIALS_FILE"]))
    found = _from_values(
        env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY"), env.get("AWS_SESSION_TOKEN")
    )
    if found is not None:
        return found
    return _from_profile(env)


def _from_values(key: str | None, secret: str | None, token: str | None) -> Credentials | None:
    if token:  # signed with the session's key and secret when both are given
        return SessionCredentials(token, FAR_FUTURE, key or None, secret or None)
    if key and secret:
        return AccessKeyCredentials(key, secret)
    return None


def _from_profile(env: Mapping[str, str]) -> Credentials | None:
    profile = env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE")
    path = shared_credentials_path(env)
    parser = configparser.RawConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error as err:
        raise ValidationError(f"shared credentials file `{path}` is not valid: {err}") from err
    name = profile or "default"
    if not parser.has_section(name):
        if profile:
            raise ValidationError(f"the config profile ({profile}) could not be found in {path}")
        return None
    section = parser[name]
    return _from_values(
        section.get("aws_access_key_id"),
        section.get("aws_secret_access_key"),
        section.get("aws_session_token"),
    )


def credentials_from_file(path: Path) -> Credentials:
    """``AUTHZ_CREDENTIALS_FILE``: an access key or the output of ``authz sts assume-role``."""
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ValidationError(f"cannot read credentials file `{path}`: {err}") from err
    creds = data.get("Credentials", data) if isinstance(data, dict) else {}
    if creds.get("SessionToken"):
        expiration = datetime.fromisoformat(
            str(creds.get("Expiration", "9999-12-31T00:00:00+00:00"))
        )
        return SessionCredentials(
            creds["SessionToken"],
            expiration,
            creds.get("AccessKeyId") or None,
            creds.get("SecretAccessKey") or None,
        )
    if creds.get("AccessKeyId") and creds.get("SecretAccessKey"):
        return AccessKeyCredentials(creds["AccessKeyId"], creds["SecretAccessKey"])
    raise ValidationError(f"credentials file `{path}` holds neither an access key nor a session")


def write_profile(path: Path, profile: str, key_id: str, secret: str) -> None:
    """Add or replace ``[profile]`` in an AWS shared credentials file (created 0600; other
    profiles are kept). Written aside and renamed into place."""
    if not profile or any(c in profile for c in "[]\n\r"):
        raise ValidationError(f"--profile `{profile}` is not a valid profile name")
    parser = configparser.RawConfigParser()
    if path.exists():
        try:
            parser.read(path, encoding="utf-8")
        except configparser.Error as err:
            raise ValidationError(f"credentials file `{path}` is not valid: {err}") from err
    if parser.has_section(profile):
        parser.remove_section(profile)
    parser.add_section(profile)
    parser.set(profile, "aws_access_key_id", key_id)
    parser.set(profile, "aws_secret_access_key", secret)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        parser.write(out)
    os.replace(tmp, path)
