-- +goose NO TRANSACTION
-- +goose Up
-- Extensions of live grants and access that starts later (issue 11).
-- scheduled: approved access waiting for its start_at; extended: an
-- extension request that was approved and applied to the grant it
-- extends (extends names it). extended_seconds is what approved
-- extensions have added to a grant.
--
-- SQLite cannot change a CHECK constraint, so the table is rebuilt, the
-- way https://www.sqlite.org/lang_altertable.html prescribes: with
-- foreign keys off (which only works outside a transaction, hence NO
-- TRANSACTION and an explicit one; jitaccess holds one SQLite connection,
-- so every statement runs on it), build the new table, copy the rows,
-- drop the old one and rename the new one to it. The foreign keys of
-- approvals, slack_messages and provisioning name "requests", which then
-- is the new table; the rows keep their ids, so every reference holds.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;
CREATE TABLE requests_new (
    id                 TEXT     PRIMARY KEY,
    requester          TEXT     NOT NULL,
    resource           TEXT     NOT NULL,
    tier               TEXT     NOT NULL CHECK (tier IN ('low', 'medium', 'high', 'critical')),
    reason             TEXT     NOT NULL CHECK (reason <> ''),
    ticket             TEXT     NOT NULL DEFAULT '',
    duration_seconds   INTEGER  NOT NULL CHECK (duration_seconds > 0),
    state              TEXT     NOT NULL CHECK (state IN ('pending', 'approved', 'denied', 'cancelled', 'timed_out', 'expired', 'revoked', 'scheduled', 'extended')),
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
    via_session        BOOLEAN  NOT NULL DEFAULT false,
    purpose            TEXT     NOT NULL DEFAULT '',
    start_at           DATETIME,
    extends            TEXT     NOT NULL DEFAULT '',
    extended_seconds   INTEGER  NOT NULL DEFAULT 0 CHECK (extended_seconds >= 0),
    CHECK (state <> 'approved' OR (approved_at IS NOT NULL AND expires_at IS NOT NULL)),
    CHECK (state <> 'scheduled' OR (start_at IS NOT NULL AND approved_at IS NOT NULL AND expires_at IS NOT NULL))
);
INSERT INTO requests_new (id, requester, resource, tier, reason, ticket, duration_seconds, state, required_approvals, version, created_at, updated_at, review_deadline, approved_at, expires_at, ended_at, ended_by, end_reason, via_session, purpose) SELECT id, requester, resource, tier, reason, ticket, duration_seconds, state, required_approvals, version, created_at, updated_at, review_deadline, approved_at, expires_at, ended_at, ended_by, end_reason, via_session, purpose FROM requests;
DROP TABLE requests;
ALTER TABLE requests_new RENAME TO requests;
CREATE INDEX requests_expiry_idx ON requests (expires_at) WHERE state = 'approved';
CREATE INDEX requests_deadline_idx ON requests (review_deadline) WHERE state = 'pending';
CREATE INDEX requests_created_idx ON requests (created_at DESC, id DESC);
CREATE INDEX requests_requester_idx ON requests (requester, created_at DESC, id DESC);
CREATE INDEX requests_resource_idx ON requests (resource, created_at DESC, id DESC);
CREATE INDEX requests_state_idx ON requests (state, created_at DESC, id DESC);
CREATE INDEX requests_approved_idx ON requests (approved_at) WHERE approved_at IS NOT NULL;
-- One open request per person and resource (a scheduled grant is open);
-- an extension is not one of its own, and a grant has at most one
-- pending extension.
CREATE UNIQUE INDEX requests_open_idx ON requests (requester, resource)
    WHERE state IN ('pending', 'approved', 'scheduled') AND extends = '';
CREATE UNIQUE INDEX requests_extension_open_idx ON requests (extends) WHERE state = 'pending' AND extends <> '';
-- The sweeper's activation query.
CREATE INDEX requests_start_idx ON requests (start_at) WHERE state = 'scheduled';
COMMIT;
PRAGMA foreign_keys = ON;

-- +goose Down
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;
UPDATE requests SET state = 'cancelled' WHERE extends <> '' AND state = 'pending';
UPDATE requests SET state = 'revoked' WHERE state = 'scheduled';
UPDATE requests SET state = 'cancelled' WHERE state = 'extended';
CREATE TABLE requests_old (
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
    via_session        BOOLEAN  NOT NULL DEFAULT false,
    purpose            TEXT     NOT NULL DEFAULT '',
    CHECK (state <> 'approved' OR (approved_at IS NOT NULL AND expires_at IS NOT NULL))
);
INSERT INTO requests_old (id, requester, resource, tier, reason, ticket, duration_seconds, state, required_approvals, version, created_at, updated_at, review_deadline, approved_at, expires_at, ended_at, ended_by, end_reason, via_session, purpose) SELECT id, requester, resource, tier, reason, ticket, duration_seconds, state, required_approvals, version, created_at, updated_at, review_deadline, approved_at, expires_at, ended_at, ended_by, end_reason, via_session, purpose FROM requests;
DROP TABLE requests;
ALTER TABLE requests_old RENAME TO requests;
CREATE INDEX requests_expiry_idx ON requests (expires_at) WHERE state = 'approved';
CREATE INDEX requests_deadline_idx ON requests (review_deadline) WHERE state = 'pending';
CREATE INDEX requests_created_idx ON requests (created_at DESC, id DESC);
CREATE INDEX requests_requester_idx ON requests (requester, created_at DESC, id DESC);
CREATE INDEX requests_resource_idx ON requests (resource, created_at DESC, id DESC);
CREATE INDEX requests_state_idx ON requests (state, created_at DESC, id DESC);
CREATE INDEX requests_approved_idx ON requests (approved_at) WHERE approved_at IS NOT NULL;
CREATE UNIQUE INDEX requests_open_idx ON requests (requester, resource) WHERE state IN ('pending', 'approved');
COMMIT;
PRAGMA foreign_keys = ON;
