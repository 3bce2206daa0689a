"""The moto comparison: STS AssumeRole on ``moto_server`` driven through boto3.

Owns the boto3 side of the ``moto-assume-role`` scenario: one boto3 STS client per
connection, with dummy credentials and the endpoint pinned to a loopback address (checked),
so nothing can reach AWS. boto3 is a dev dependency, imported only when a connection opens.
Issue 6 asks authz's AssumeRole to reach at least 5x moto's throughput.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from authz.bench.loadgen import check_loopback

__all__ = ["BotoConnection", "BotoConnector"]

ROLE_ARN = "arn:aws:iam::123456789012:role/bench-role"
_DUMMY = {
    "aws_access_key_id": "AKIABENCHDUMMY000000",
    "aws_secret_access_key": "bench-dummy-secret-not-real",
    "region_name": "us-east-1",
}


class BotoConnection:
    """A boto3 STS client (its own session and connection pool) against moto."""

    def __init__(self, target: str, index: int) -> None:
        import boto3  # type: ignore[import-untyped]
        from botocore.config import Config  # type: ignore[import-untyped]

        session = boto3.session.Session(**_DUMMY)
        self._client: Any = session.client(
            "sts",
            endpoint_url=f"http://{target}",
            config=Config(
                retries={"max_attempts": 1, "mode": "standard"},
                max_pool_connections=64,
                connect_timeout=5,
                read_timeout=10,
            ),
        )
        self._index = index

    def request(self, index: int) -> object:
        reply: object = self._client.assume_role(
            RoleArn=ROLE_ARN, RoleSessionName=f"bench-{index}", DurationSeconds=900
        )
        return reply

    def close(self) -> None:
        self._client.close()


@dataclass(frozen=True)
class BotoConnector:
    """Picklable ``ConnectionFactory`` for the moto scenario; refuses non-loopback targets."""

    target: str

    def __post_init__(self) -> None:
        check_loopback(self.target)

    def __call__(self, index: int) -> BotoConnection:
        return BotoConnection(self.target, index)
