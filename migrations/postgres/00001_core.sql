-- +goose Up
CREATE TABLE requests (
    id                 uuid PRIMARY KEY,
    requester          text        NOT NULL,
    resource           text        NOT NULL,
    tier               text        NOT NULL CHECK (tier IN ('low', 'medium', 'high', 'critical')),
    reason             text        NOT NULL CHECK (reason <> ''),
    ticket             text        NOT NULL DEFAULT '',
    duration_seconds   bigint      NOT NULL CHECK (duration_seconds > 0),
    state              text        NOT NULL CHECK (state IN ('pending', 'approved', 'denied', 'cancelled', 'timed_out', 'expired', 'revoked')),
    required_approvals integer     NOT NULL CHECK (required_approvals >= 0),
    version            bigint      NOT NULL,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    review_deadline    timestamptz NOT NULL,
    approved_at        timestamptz,
    expires_at         timestamptz,
    ended_at           timestamptz,
    ended_by           text        NOT NULL DEFAULT '',
    end_reason         text        NOT NULL DEFAULT '',
    CHECK (state <> 'approved' OR (approved_at IS NOT NULL AND expires_at IS NOT NULL))
);
-- The sweeper's two queries.
CREATE INDEX requests_expiry_idx ON requests (expires_at) WHERE state = 'approved';
CREATE INDEX requests_deadline_idx ON requests (review_deadline) WHERE state = 'pending';
-- One open request per person and resource; also the check API's lookup.
CREATE UNIQUE INDEX requests_open_idx ON requests (requester, resource) WHERE state IN ('pending', 'approved');
-- Listings: newest first, by requester, by resource, by state.
CREATE INDEX requests_created_idx ON requests (created_at DESC, id DESC);
CREATE INDEX requests_requester_idx ON requests (requester, created_at DESC, id DESC);
CREATE INDEX requests_resource_idx ON requests (resource, created_at DESC, id DESC);
CREATE INDEX requests_state_idx ON requests (state, created_at DESC, id DESC);

CREATE TABLE approvals (
    request_id uuid        NOT NULL REFERENCES requests (id),
    approver   text        NOT NULL,
    comment    text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    PRIMARY KEY (request_id, approver)
);

CREATE TABLE audit_records (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL,
    actor      text        NOT NULL,
    action     text        NOT NULL,
    request_id uuid,
    resource   text        NOT NULL DEFAULT '',
    subject    text        NOT NULL DEFAULT '',
    from_state text        NOT NULL DEFAULT '',
    to_state   text        NOT NULL DEFAULT '',
    reason     text        NOT NULL DEFAULT ''
);
CREATE INDEX audit_records_request_idx ON audit_records (request_id, id);
CREATE INDEX audit_records_actor_idx ON audit_records (actor, id);
CREATE INDEX audit_records_subject_idx ON audit_records (subject, id);
CREATE INDEX audit_records_resource_idx ON audit_records (resource, id);
CREATE INDEX audit_records_at_idx ON audit_records (at);

CREATE TABLE api_tokens (
    id           uuid PRIMARY KEY,
    hash         text        NOT NULL UNIQUE,
    kind         text        NOT NULL CHECK (kind IN ('user', 'service')),
    subject      text        NOT NULL,
    scopes       text        NOT NULL DEFAULT '',
    description  text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz,
    revoked_at   timestamptz,
    last_used_at timestamptz
);

-- The persisted work queue (outbox): notifications and other follow-up work,
-- written in the same transaction as the change that causes it.
CREATE TABLE jobs (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue        text        NOT NULL,
    order_key    text        NOT NULL DEFAULT '',
    payload      text        NOT NULL,
    state        text        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
    attempts     integer     NOT NULL DEFAULT 0,
    run_at       timestamptz NOT NULL,
    locked_until timestamptz,
    last_error   text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL,
    finished_at  timestamptz
);
CREATE INDEX jobs_due_idx ON jobs (queue, run_at) WHERE state = 'pending';
CREATE INDEX jobs_order_idx ON jobs (queue, order_key, id) WHERE state = 'pending';

-- +goose Down
DROP TABLE jobs;
DROP TABLE api_tokens;
DROP TABLE audit_records;
DROP TABLE approvals;
DROP TABLE requests;
