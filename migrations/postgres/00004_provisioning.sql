-- +goose Up
-- One row per request that was ever approved: where applying and removing
-- its access at the target stands (see provision/). Written in the same
-- transaction as the approval or the end of the grant; updated by the
-- provisioning worker after each step. spec is the provisioner's settings
-- when the grant was approved, as JSON: names of environment variables,
-- never secrets.
CREATE TABLE provisioning (
    request_id    uuid        PRIMARY KEY REFERENCES requests (id),
    resource      text        NOT NULL,
    requester     text        NOT NULL,
    provisioner   text        NOT NULL CHECK (provisioner IN ('none', 'webhook', 'postgres')),
    spec          text        NOT NULL,
    operation     text        NOT NULL CHECK (operation IN ('apply', 'remove')),
    status        text        NOT NULL CHECK (status IN ('pending', 'applied', 'removed', 'failed')),
    attempts      integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error    text        NOT NULL DEFAULT '',
    failing_since timestamptz,
    applied_at    timestamptz,
    removed_at    timestamptz,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    CHECK (status <> 'applied' OR operation = 'apply'),
    CHECK (status <> 'removed' OR operation = 'remove')
);
-- Unfinished steps: the sweeper's and the admins' queries.
CREATE INDEX provisioning_unfinished_idx ON provisioning (status, updated_at) WHERE status IN ('pending', 'failed');
-- A person's grants of one resource, in order.
CREATE INDEX provisioning_target_idx ON provisioning (resource, requester);

-- +goose Down
DROP TABLE provisioning;
