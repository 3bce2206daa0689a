-- STS signing keys kept in the state database (keys_source = "state"; authz.sts.keys_state).
-- One ring per database: its parameters in signing_key_ring (a single row, id = 1, whose
-- `generation` every rotation bumps first, so concurrent rotations on different nodes run one
-- after the other), its keys in signing_keys with the private key SEALED (a Fernet token under
-- the state key file, never in the database in clear). Changes bump the topic "signing_keys".
CREATE TABLE IF NOT EXISTS signing_key_ring (
    id BIGINT PRIMARY KEY,
    max_token_ttl BIGINT NOT NULL,
    skew BIGINT NOT NULL,
    publish_delay BIGINT NOT NULL,
    generation BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS signing_keys (
    kid TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL,
    activates_at BIGINT NOT NULL,
    retired_at BIGINT,
    not_after BIGINT,
    sealed_private_key TEXT NOT NULL
);
