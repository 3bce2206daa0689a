-- One row per kind of run-time state ("access_keys", "mfa_devices", "revocations",
-- "signing_keys", ...): bumped in the same transaction as every change of that kind, polled by
-- every process (authz.state.watch) to learn that its cached copy is stale.
CREATE TABLE IF NOT EXISTS state_versions (
    topic TEXT PRIMARY KEY,
    version BIGINT NOT NULL
);
