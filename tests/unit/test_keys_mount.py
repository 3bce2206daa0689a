"""Signing keys from a shared read-only secret mount: nothing is ever written to it, and an
atomic swap of the mount the way the kubelet publishes a Secret volume (a new ``..<timestamp>``
directory, the ``..data`` symlink replaced by rename, then the top-level links) is picked up by
refresh, read as one publication, never half old and half new."""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from authz.config import Settings
from authz.sts.keys import KeyRing
from authz.sts.tokens import TokenSigner, TokenVerifier
from authz.wiring import open_keyring
from tests.unit.test_tokens import ISSUER, T0, Clock, make_claims

TTL = 3600


class SecretVolume:
    """A directory laid out like a Kubernetes Secret volume, published atomically."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir()
        self.generation = 0

    def publish(self, source: Path, *, links: bool = True) -> None:
        """Publish the files of ``source`` as the kubelet's AtomicWriter does; ``links=False``
        stops after the ``..data`` swap (the instant before the top-level links change)."""
        self.generation += 1
        stamped = self.root / f"..2026_12_06_00_00_00.{self.generation:04d}"
        stamped.mkdir()
        for item in source.iterdir():
            if item.name.startswith("."):
                continue
            shutil.copyfile(item, stamped / item.name)
            (stamped / item.name).chmod(0o444)
        stamped.chmod(0o555)
        old = os.readlink(self.root / "..data") if (self.root / "..data").is_symlink() else None
        os.symlink(stamped.name, self.root / "..data_tmp")
        os.replace(self.root / "..data_tmp", self.root / "..data")
        if links:
            self.relink(old)

    def relink(self, old: str | None) -> None:
        wanted = set(os.listdir(self.root / "..data"))
        for name in wanted:
            if not (self.root / name).is_symlink():
                os.symlink(f"..data/{name}", self.root / name)
        for entry in self.root.iterdir():
            if entry.is_symlink() and not entry.name.startswith("..") and entry.name not in wanted:
                entry.unlink()
        if old is not None:
            shutil.rmtree(self.root / old)

    def tree(self) -> dict[str, tuple[int, int]]:
        """Every path under the volume with (inode, mtime_ns), not following links."""
        out = {}
        for dirpath, dirnames, filenames in os.walk(self.root):
            for name in [*dirnames, *filenames]:
                st = os.lstat(os.path.join(dirpath, name))
                out[os.path.relpath(os.path.join(dirpath, name), self.root)] = (
                    st.st_ino,
                    st.st_mtime_ns,
                )
        return out


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def operator_dir(tmp_path: Path, clock: Clock) -> Path:
    """Where the operator keeps (and rotates) the ring before publishing it as a Secret."""
    KeyRing.generate(tmp_path / "operator", max_token_ttl=TTL, skew=60, clock=clock)
    return tmp_path / "operator"


@pytest.fixture
def volume(tmp_path: Path, operator_dir: Path) -> SecretVolume:
    vol = SecretVolume(tmp_path / "mount")
    vol.publish(operator_dir)
    return vol


@pytest.fixture
def read_only(volume: SecretVolume, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The mount is read-only: opening anything under it for writing fails with EROFS (as
    root, file modes alone would not stop a write), and the tree must not change."""
    real_open = os.open
    root = str(volume.root)

    def guarded(path: object, flags: int, *args: object, **kwargs: object) -> int:
        name = os.fsdecode(path) if isinstance(path, str | bytes | os.PathLike) else ""
        writing = flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC)
        if writing and os.path.abspath(name).startswith(root):
            raise OSError(errno.EROFS, "Read-only file system", name)
        return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    before = volume.tree()
    monkeypatch.setattr(os, "open", guarded)
    yield
    monkeypatch.undo()
    assert volume.tree() == before, "the key ring wrote to its read-only mount"


def test_a_read_only_mount_serves_signs_and_verifies(
    volume: SecretVolume, read_only: None, clock: Clock
) -> None:
    ring = KeyRing.load(volume.root, clock=clock)
    token = TokenSigner(ring, ISSUER).sign(make_claims(now=T0, ttl=TTL))
    assert TokenVerifier(ring, ISSUER, clock=clock).verify(token).account == "111122223333"
    assert len(ring.jwks()["keys"]) == 1
    assert ring.refresh() is False
    clock.now += 5
    ring.maybe_refresh()
    assert not (volume.root / ".lock").exists()


def test_the_server_opens_a_read_only_mount(volume: SecretVolume, read_only: None) -> None:
    ring = open_keyring(Settings(keys_dir=volume.root))
    assert ring.signing_key.kid == KeyRing.load(volume.root).signing_key.kid


def test_an_atomic_swap_of_the_mount_is_picked_up_by_refresh(
    volume: SecretVolume, operator_dir: Path, clock: Clock
) -> None:
    ring = KeyRing.load(volume.root, clock=clock)
    old = ring.signing_key.kid
    old_token = TokenSigner(ring, ISSUER).sign(make_claims(now=T0, ttl=TTL))
    new = KeyRing.load(operator_dir, clock=clock).rotate().kid  # the operator rotates
    volume.publish(operator_dir)  # and updates the Secret
    assert ring.refresh() is True
    assert ring.signing_key.kid == new
    verifier = TokenVerifier(ring, ISSUER, clock=clock)
    assert verifier.verify(old_token).session_id  # the old key keeps verifying
    assert [k["kid"] for k in ring.jwks()["keys"]] == [new, old]


def test_a_swap_is_read_whole_even_before_the_top_level_links_change(
    volume: SecretVolume, operator_dir: Path, clock: Clock
) -> None:
    ring = KeyRing.load(volume.root, clock=clock)
    new = KeyRing.load(operator_dir, clock=clock).rotate().kid
    old_target = os.readlink(volume.root / "..data")
    volume.publish(operator_dir, links=False)  # index.json swapped, <new>.pem link not made
    assert not (volume.root / f"{new}.pem").exists()
    assert ring.refresh() is True
    assert ring.signing_key.kid == new
    volume.relink(old_target)
    assert ring.refresh() is False  # same publication: nothing to re-read


def test_a_broken_publication_keeps_the_last_good_ring(
    volume: SecretVolume, operator_dir: Path, clock: Clock, tmp_path: Path
) -> None:
    ring = KeyRing.load(volume.root, clock=clock)
    kid = ring.signing_key.kid
    broken = tmp_path / "broken"
    broken.mkdir()
    shutil.copyfile(operator_dir / "index.json", broken / "index.json")  # no key files
    volume.publish(broken)
    assert ring.refresh() is False
    assert ring.signing_key.kid == kid


def test_staged_rotation_publishes_first_and_signs_later(operator_dir: Path, clock: Clock) -> None:
    ring = KeyRing.load(operator_dir, clock=clock)
    old = ring.signing_key.kid
    new = ring.rotate(activate_in=120).kid
    reader = KeyRing.load(operator_dir, clock=clock)
    assert {k["kid"] for k in reader.jwks()["keys"]} == {old, new}
    assert ring.signing_key.kid == reader.signing_key.kid == old
    info = {i.kid: i for i in reader.list()}
    assert info[new].status(clock.now) == "pending"
    assert info[old].not_after == T0 + 120 + TTL + 60
    clock.now = T0 + 120
    assert ring.signing_key.kid == reader.signing_key.kid == new
    assert info[old].status(clock.now) == "verifying"


def test_rotating_on_the_mount_itself_fails_without_writing(
    volume: SecretVolume, read_only: None
) -> None:
    ring = KeyRing.load(volume.root)
    with pytest.raises(OSError) as caught:
        ring.rotate()
    assert caught.value.errno == errno.EROFS
