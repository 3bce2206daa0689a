-- Sessions revoked by an operator without a repository commit (authz.sts.revocations): by the
-- session id (the token's jti) or its temporary access key id (ASIA...). expires_at: when the
-- session cannot be valid any more (its own expiry, or now + the longest token lifetime), after
-- which the row is pruned, so the table stays bounded by the sessions alive at once.
CREATE TABLE IF NOT EXISTS session_revocations (
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (kind, value)
);
CREATE INDEX IF NOT EXISTS session_revocations_by_expiry ON session_revocations (expires_at);
