-- +goose Up
-- Idempotency-Key (docs/api.md#idempotency): the first response to each
-- caller's key, kept 24 hours so that a retried POST replays it instead of
-- acting twice. A row is 'running' while its first request is in flight,
-- until locked_until (after which a crashed request's key may be taken
-- again), and 'done' with the stored response. reservation is a random
-- value of the request that holds the row: only it completes or releases
-- it. fingerprint is the SHA-256 of method, path and body.
CREATE TABLE idempotency_keys (
    principal    text        NOT NULL,
    key          text        NOT NULL,
    fingerprint  text        NOT NULL,
    reservation  text        NOT NULL,
    state        text        NOT NULL CHECK (state IN ('running', 'done')),
    created_at   timestamptz NOT NULL,
    locked_until timestamptz,
    status       integer     NOT NULL DEFAULT 0,
    content_type text        NOT NULL DEFAULT '',
    location     text        NOT NULL DEFAULT '',
    body         text        NOT NULL DEFAULT '',
    PRIMARY KEY (principal, key)
);
-- The sweeper deletes keys by age.
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- +goose Down
DROP TABLE idempotency_keys;
