-- +goose Up
-- Oversight: the same schema as postgres/00005_oversight.sql. Record ids
-- are assigned by the writer (the last id + 1); SQLite has one writer at a
-- time, so the chain needs no further lock.
ALTER TABLE audit_records ADD COLUMN prev_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_records ADD COLUMN hash TEXT NOT NULL DEFAULT '';

CREATE TABLE audit_anchors (
    id           INTEGER  PRIMARY KEY AUTOINCREMENT,
    at           DATETIME NOT NULL,
    actor        TEXT     NOT NULL,
    first_id     INTEGER  NOT NULL,
    through_id   INTEGER  NOT NULL UNIQUE,
    through_hash TEXT     NOT NULL,
    through_at   DATETIME NOT NULL,
    pruned       INTEGER  NOT NULL CHECK (pruned > 0),
    CHECK (through_id >= first_id)
);

-- +goose StatementBegin
CREATE TRIGGER audit_records_no_update BEFORE UPDATE ON audit_records
BEGIN
    SELECT RAISE(ABORT, 'UPDATE on audit_records is refused: the audit log is append-only');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_records_delete_anchored BEFORE DELETE ON audit_records
WHEN OLD.id > (SELECT coalesce(max(through_id), 0) FROM audit_anchors)
BEGIN
    SELECT RAISE(ABORT, 'DELETE on audit_records is refused: only records covered by a prune anchor may be removed');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_anchors_no_update BEFORE UPDATE ON audit_anchors
BEGIN
    SELECT RAISE(ABORT, 'UPDATE on audit_anchors is refused: the audit log is append-only');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_anchors_no_delete BEFORE DELETE ON audit_anchors
BEGIN
    SELECT RAISE(ABORT, 'DELETE on audit_anchors is refused: the audit log is append-only');
END;
-- +goose StatementEnd

CREATE TABLE reviews (
    id            TEXT     PRIMARY KEY,
    scope_kind    TEXT     NOT NULL CHECK (scope_kind IN ('all', 'resource', 'person')),
    scope         TEXT     NOT NULL DEFAULT '',
    period_start  DATETIME NOT NULL,
    period_end    DATETIME NOT NULL,
    created_by    TEXT     NOT NULL,
    created_at    DATETIME NOT NULL,
    state         TEXT     NOT NULL CHECK (state IN ('open', 'signed_off')),
    signed_off_by TEXT     NOT NULL DEFAULT '',
    signed_off_at DATETIME,
    notes         TEXT     NOT NULL DEFAULT '',
    report_digest TEXT     NOT NULL DEFAULT '',
    version       INTEGER  NOT NULL,
    CHECK (period_end > period_start),
    CHECK (state <> 'signed_off' OR signed_off_at IS NOT NULL)
);
CREATE INDEX reviews_created_idx ON reviews (created_at DESC, id DESC);

CREATE TABLE review_followups (
    id          TEXT     PRIMARY KEY,
    review_id   TEXT     NOT NULL REFERENCES reviews (id),
    item_kind   TEXT     NOT NULL CHECK (item_kind IN ('request', 'person', 'resource', 'flag')),
    item_ref    TEXT     NOT NULL,
    note        TEXT     NOT NULL,
    created_by  TEXT     NOT NULL,
    created_at  DATETIME NOT NULL,
    resolved_by TEXT     NOT NULL DEFAULT '',
    resolved_at DATETIME,
    resolution  TEXT     NOT NULL DEFAULT ''
);
CREATE INDEX review_followups_review_idx ON review_followups (review_id, created_at);

CREATE TABLE oversight_flags (
    id          INTEGER  PRIMARY KEY AUTOINCREMENT,
    kind        TEXT     NOT NULL,
    key         TEXT     NOT NULL UNIQUE,
    person      TEXT     NOT NULL DEFAULT '',
    resource    TEXT     NOT NULL DEFAULT '',
    request_ids TEXT     NOT NULL DEFAULT '',
    reason      TEXT     NOT NULL,
    occurred_at DATETIME NOT NULL,
    detected_at DATETIME NOT NULL
);
CREATE INDEX oversight_flags_occurred_idx ON oversight_flags (occurred_at);

CREATE INDEX requests_approved_idx ON requests (approved_at) WHERE approved_at IS NOT NULL;
CREATE INDEX jobs_failed_idx ON jobs (queue, finished_at) WHERE state = 'failed';

-- +goose Down
DROP INDEX jobs_failed_idx;
DROP INDEX requests_approved_idx;
DROP TABLE oversight_flags;
DROP TABLE review_followups;
DROP TABLE reviews;
DROP TRIGGER audit_anchors_no_delete;
DROP TRIGGER audit_anchors_no_update;
DROP TRIGGER audit_records_delete_anchored;
DROP TRIGGER audit_records_no_update;
DROP TABLE audit_anchors;
ALTER TABLE audit_records DROP COLUMN hash;
ALTER TABLE audit_records DROP COLUMN prev_hash;
