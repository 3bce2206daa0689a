"""The MFA attempt limiter on its own: counts, lockout windows, back-off, reset, idleness."""

from __future__ import annotations

from authz.sts.mfa_limits import AttemptLimiter, MfaLimits

DEVICE = ("device", "arn:aws:iam::111111111111:mfa/phone", "arn:aws:iam::111111111111:user/a")
USER = ("user", "arn:aws:iam::111111111111:user/a")


def limiter(**limits: float) -> tuple[AttemptLimiter, list[float]]:
    now = [0.0]
    settings = MfaLimits(max_failures=3, lockout_seconds=10, max_lockout_seconds=40, **limits)  # type: ignore[arg-type]
    return AttemptLimiter(settings, lambda: now[0]), now


def test_locks_after_the_limit_and_unlocks_after_the_window() -> None:
    lim, now = limiter()
    keys = [DEVICE, USER]
    assert [lim.record(keys, False) for _ in range(3)] == [False, False, True]
    assert lim.blocked(keys) == 10
    now[0] = 9.5
    assert lim.blocked(keys) == 0.5
    now[0] = 10
    assert lim.blocked(keys) == 0
    assert (lim.failures, lim.lockouts, lim.throttled) == (3, 1, 2)


def test_back_off_doubles_up_to_the_maximum() -> None:
    lim, now = limiter()
    for _ in range(3):
        lim.record([USER], False)
    windows = []
    for _ in range(4):
        now[0] += lim.blocked([USER])
        lim.record([USER], False)
        windows.append(lim.blocked([USER]))
    assert windows == [20, 40, 40, 40]


def test_success_resets_and_other_keys_are_independent() -> None:
    lim, _ = limiter()
    for _ in range(2):
        lim.record([DEVICE, USER], False)
    lim.record([DEVICE, USER], True)
    for _ in range(2):
        lim.record([DEVICE, USER], False)
    assert lim.blocked([DEVICE, USER]) == 0
    other = ("user", "arn:aws:iam::111111111111:user/b")
    for _ in range(3):
        lim.record([other], False)
    assert lim.blocked([other]) > 0
    assert lim.blocked([DEVICE, USER]) == 0


def test_idle_keys_start_over_and_the_table_is_bounded() -> None:
    lim, now = limiter()
    for _ in range(2):
        lim.record([USER], False)
    now[0] = 100  # no failure for longer than the maximum lockout
    lim.record([USER], False)
    assert lim.blocked([USER]) == 0  # one failure, not three
    small = AttemptLimiter(MfaLimits(max_tracked=10), lambda: 0.0)
    for i in range(100):
        small.record([("user", str(i))], False)
    assert len(small._entries) == 10
