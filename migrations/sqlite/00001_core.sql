-- +goose Up
-- Timestamps are DATETIME so that the driver reads them back as times; they
-- are written in UTC in one format, which also sorts correctly as text.
CREATE TABLE requests (
    id                 TEXT     PRIMARY KEY,
    requester          TEXT     NOT NULL,
    resource           TEXT     NOT NULL,
    tier               TEXT     NOT NULL CHECK (tier IN ('low', 'medium', 'high', 'critical')),
    reason             TEXT     NOT NULL CHECK (reason <> ''),
    ticket             TEXT     NOT NULL DEFAULT '',
    duration_seconds   INTEGER  NOT NULL CHECK (duration_seconds > 0),
    state              TEXT     NOT NULL CHECK (state IN ('pending', 'approved', 'denied', 'cancelled', 'timed_out', 'expired', 'revoked')),
    required_approvals INTEGER  NOT NULL CHECK (required_approvals >= 0),
    version            INTEGER  NOT NULL,
    created_at         DATETIME NOT NULL,
    updated_at         DATETIME NOT NULL,
    review_deadline    DATETIME NOT NULL,
    approved_at        DATETIME,
    expires_at         DATETIME,
    ended_at           DATETIME,
    ended_by           TEXT     NOT NULL DEFAULT '',
    end_reason         TEXT     NOT NULL DEFAULT '',
    CHECK (state <> 'approved' OR (approved_at IS NOT NULL AND expires_at IS NOT NULL))
);
CREATE INDEX requests_expiry_idx ON requests (expires_at) WHERE state = 'approved';
CREATE INDEX requests_deadline_idx ON requests (review_deadline) WHERE state = 'pending';
CREATE UNIQUE INDEX requests_open_idx ON requests (requester, resource) WHERE state IN ('pending', 'approved');
CREATE INDEX requests_created_idx ON requests (created_at DESC, id DESC);
CREATE INDEX requests_requester_idx ON requests (requester, created_at DESC, id DESC);
CREATE INDEX requests_resource_idx ON requests (resource, created_at DESC, id DESC);
CREATE INDEX requests_state_idx ON requests (state, created_at DESC, id DESC);

CREATE TABLE approvals (
    request_id TEXT     NOT NULL REFERENCES requests (id),
    approver   TEXT     NOT NULL,
    comment    TEXT     NOT NULL DEFAULT '',
    created_at DATETIME NOT NULL,
    PRIMARY KEY (request_id, approver)
);

CREATE TABLE audit_records (
    id         INTEGER  PRIMARY KEY AUTOINCREMENT,
    at         DATETIME NOT NULL,
    actor      TEXT     NOT NULL,
    action     TEXT     NOT NULL,
    request_id TEXT,
    resource   TEXT     NOT NULL DEFAULT '',
    subject    TEXT     NOT NULL DEFAULT '',
    from_state TEXT     NOT NULL DEFAULT '',
    to_state   TEXT     NOT NULL DEFAULT '',
    reason     TEXT     NOT NULL DEFAULT ''
);
CREATE INDEX audit_records_request_idx ON audit_records (request_id, id);
CREATE INDEX audit_records_actor_idx ON audit_records (actor, id);
CREATE INDEX audit_records_subject_idx ON audit_records (subject, id);
CREATE INDEX audit_records_resource_idx ON audit_records (resource, id);
CREATE INDEX audit_records_at_idx ON audit_records (at);

CREATE TABLE api_tokens (
    id           TEXT     PRIMARY KEY,
    hash         TEXT     NOT NULL UNIQUE,
    kind         TEXT     NOT NULL CHECK (kind IN ('user', 'service')),
    subject      TEXT     NOT NULL,
    scopes       TEXT     NOT NULL DEFAULT '',
    description  TEXT     NOT NULL DEFAULT '',
    created_at   DATETIME NOT NULL,
    expires_at   DATETIME,
    revoked_at   DATETIME,
    last_used_at DATETIME
);

CREATE TABLE jobs (
    id           INTEGER  PRIMARY KEY AUTOINCREMENT,
    queue        TEXT     NOT NULL,
    order_key    TEXT     NOT NULL DEFAULT '',
    payload      TEXT     NOT NULL,
    state        TEXT     NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
    attempts     INTEGER  NOT NULL DEFAULT 0,
    run_at       DATETIME NOT NULL,
    locked_until DATETIME,
    last_error   TEXT     NOT NULL DEFAULT '',
    created_at   DATETIME NOT NULL,
    finished_at  DATETIME
);
CREATE INDEX jobs_due_idx ON jobs (queue, run_at) WHERE state = 'pending';
CREATE INDEX jobs_order_idx ON jobs (queue, order_key, id) WHERE state = 'pending';

-- +goose Down
DROP TABLE jobs;
DROP TABLE api_tokens;
DROP TABLE audit_records;
DROP TABLE approvals;
DROP TABLE requests;
