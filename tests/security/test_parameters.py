"""Loose parameters (issue 11 item 8), each written as the attack it stops, against a real
server: what a caller sends to AssumeRole is validated exactly as AWS validates it, and the
files the server writes about callers are private."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tests.integration.e2e.harness import ServerFactory


def test_audit_log_is_created_private(start_server: ServerFactory, example_repo: Path) -> None:
    """Attack: another local user reads who asked what (audit.jsonl was created 0644)."""
    old = os.umask(0o022)  # the usual umask: the server must not rely on a stricter one
    try:
        env = start_server(example_repo)
    finally:
        os.umask(old)
    mode = stat.S_IMODE(env.audit_path.stat().st_mode)
    assert mode == 0o600, oct(mode)
