-- Long-term access keys (authz.sts.credentials). `secret` is the secret access key sealed
-- under the state key file (alg 'fernet'; the key is never in the database); keys from before
-- encryption keep `salt` + `digest` (alg 'hmac-sha256', base64): they authenticate but cannot
-- sign. Changes bump the `access_keys` topic of state_versions in the same transaction.
CREATE TABLE IF NOT EXISTS access_keys (
    access_key_id TEXT PRIMARY KEY,
    user_arn TEXT NOT NULL,
    user_id TEXT,
    status TEXT NOT NULL CHECK (status IN ('Active', 'Inactive')),
    created_at BIGINT NOT NULL,
    alg TEXT NOT NULL CHECK (alg IN ('fernet', 'hmac-sha256')),
    secret TEXT,
    salt TEXT,
    digest TEXT
);
CREATE INDEX IF NOT EXISTS access_keys_by_user ON access_keys (user_arn, created_at);
