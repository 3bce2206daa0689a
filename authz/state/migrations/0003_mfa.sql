-- Virtual MFA devices (authz.sts.mfa). The seed is sealed (authz.state.sealing: Fernet under the
-- state key, which is never in this database). last_step: the last TOTP step accepted; only a
-- later step is accepted afterwards (an UPDATE ... WHERE last_step < ? decides it atomically).
CREATE TABLE IF NOT EXISTS mfa_devices (
    serial_number TEXT PRIMARY KEY,
    user_arn TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    sealed_seed TEXT NOT NULL,
    last_step BIGINT
);
CREATE INDEX IF NOT EXISTS mfa_devices_by_user ON mfa_devices (user_arn);
-- The one-time-code ledger: a code (device, TOTP step) is accepted at most once on any node;
-- a second insert breaks the primary key (StateConflict = replay). Rows older than the
-- acceptance window are pruned when the device next accepts a code, and with the device.
CREATE TABLE IF NOT EXISTS mfa_used_codes (
    serial_number TEXT NOT NULL,
    step BIGINT NOT NULL,
    used_at BIGINT NOT NULL,
    PRIMARY KEY (serial_number, step)
);
-- Failed-code counters and lockouts (authz.sts.mfa_limits), shared by every worker and replica
-- so a guesser cannot spread guesses over them. key: a JSON list ("device", serial, caller) or
-- ("user", caller); times in epoch milliseconds. Idle unlocked rows are pruned.
CREATE TABLE IF NOT EXISTS mfa_attempts (
    attempt_key TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    locked_until BIGINT NOT NULL,
    last_failure BIGINT NOT NULL
);
