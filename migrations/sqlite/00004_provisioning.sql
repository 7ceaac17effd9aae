-- +goose Up
-- One row per request that was ever approved: where applying and removing
-- its access at the target stands (see provision/). Written in the same
-- transaction as the approval or the end of the grant; updated by the
-- provisioning worker after each step. spec is the provisioner's settings
-- when the grant was approved, as JSON: names of environment variables,
-- never secrets.
CREATE TABLE provisioning (
    request_id    TEXT        PRIMARY KEY REFERENCES requests (id),
    resource      TEXT        NOT NULL,
    requester     TEXT        NOT NULL,
    provisioner   TEXT        NOT NULL CHECK (provisioner IN ('none', 'webhook', 'postgres')),
    spec          TEXT        NOT NULL,
    operation     TEXT        NOT NULL CHECK (operation IN ('apply', 'remove')),
    status        TEXT        NOT NULL CHECK (status IN ('pending', 'applied', 'removed', 'failed')),
    attempts      INTEGER     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error    TEXT        NOT NULL DEFAULT '',
    failing_since DATETIME,
    applied_at    DATETIME,
    removed_at    DATETIME,
    created_at    DATETIME    NOT NULL,
    updated_at    DATETIME    NOT NULL,
    CHECK (status <> 'applied' OR operation = 'apply'),
    CHECK (status <> 'removed' OR operation = 'remove')
);
-- Unfinished steps: the sweeper's and the admins' queries.
CREATE INDEX provisioning_unfinished_idx ON provisioning (status, updated_at) WHERE status IN ('pending', 'failed');
-- A person's grants of one resource, in order.
CREATE INDEX provisioning_target_idx ON provisioning (resource, requester);

-- +goose Down
DROP TABLE provisioning;
