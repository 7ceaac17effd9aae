-- +goose Up
-- Oversight (docs/audit.md, docs/reviews.md): the audit log becomes a hash
-- chain, append-only at the database; pruning leaves an anchor; reviews,
-- their follow-ups and the anomaly flags that were raised get tables.

-- Record ids are assigned by the writer that holds the chain lock (the last
-- id + 1), so that each record's hash can cover its own id.
ALTER TABLE audit_records ALTER COLUMN id DROP IDENTITY;
ALTER TABLE audit_records ADD COLUMN prev_hash text NOT NULL DEFAULT '';
ALTER TABLE audit_records ADD COLUMN hash text NOT NULL DEFAULT '';

-- One row per prune: the last pruned record and its hash, from which the
-- first remaining record's prev_hash must follow.
CREATE TABLE audit_anchors (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           timestamptz NOT NULL,
    actor        text        NOT NULL,
    first_id     bigint      NOT NULL,
    through_id   bigint      NOT NULL UNIQUE,
    through_hash text        NOT NULL,
    through_at   timestamptz NOT NULL,
    pruned       bigint      NOT NULL CHECK (pruned > 0),
    CHECK (through_id >= first_id)
);

-- +goose StatementBegin
CREATE FUNCTION jitaccess_audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% on % is refused: the audit log is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'old records are removed with jitaccess audit prune, which leaves an anchor';
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION jitaccess_audit_check_prune() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM pruned_rows
               WHERE id > (SELECT coalesce(max(through_id), 0) FROM audit_anchors)) THEN
        RAISE EXCEPTION 'DELETE on audit_records is refused: only records covered by a prune anchor may be removed'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'old records are removed with jitaccess audit prune, which leaves an anchor';
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER audit_records_no_update BEFORE UPDATE ON audit_records
    FOR EACH STATEMENT EXECUTE FUNCTION jitaccess_audit_refuse();
CREATE TRIGGER audit_records_no_truncate BEFORE TRUNCATE ON audit_records
    FOR EACH STATEMENT EXECUTE FUNCTION jitaccess_audit_refuse();
CREATE TRIGGER audit_records_delete_anchored AFTER DELETE ON audit_records
    REFERENCING OLD TABLE AS pruned_rows
    FOR EACH STATEMENT EXECUTE FUNCTION jitaccess_audit_check_prune();
CREATE TRIGGER audit_anchors_no_change BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_anchors
    FOR EACH STATEMENT EXECUTE FUNCTION jitaccess_audit_refuse();

-- Access reviews: a period and a scope that a reviewer signs off.
CREATE TABLE reviews (
    id            uuid PRIMARY KEY,
    scope_kind    text        NOT NULL CHECK (scope_kind IN ('all', 'resource', 'person')),
    scope         text        NOT NULL DEFAULT '',
    period_start  timestamptz NOT NULL,
    period_end    timestamptz NOT NULL,
    created_by    text        NOT NULL,
    created_at    timestamptz NOT NULL,
    state         text        NOT NULL CHECK (state IN ('open', 'signed_off')),
    signed_off_by text        NOT NULL DEFAULT '',
    signed_off_at timestamptz,
    notes         text        NOT NULL DEFAULT '',
    report_digest text        NOT NULL DEFAULT '',
    version       bigint      NOT NULL,
    CHECK (period_end > period_start),
    CHECK (state <> 'signed_off' OR signed_off_at IS NOT NULL)
);
CREATE INDEX reviews_created_idx ON reviews (created_at DESC, id DESC);

-- Items of a review marked for follow-up, and how they were resolved.
CREATE TABLE review_followups (
    id          uuid PRIMARY KEY,
    review_id   uuid        NOT NULL REFERENCES reviews (id),
    item_kind   text        NOT NULL CHECK (item_kind IN ('request', 'person', 'resource', 'flag')),
    item_ref    text        NOT NULL,
    note        text        NOT NULL,
    created_by  text        NOT NULL,
    created_at  timestamptz NOT NULL,
    resolved_by text        NOT NULL DEFAULT '',
    resolved_at timestamptz,
    resolution  text        NOT NULL DEFAULT ''
);
CREATE INDEX review_followups_review_idx ON review_followups (review_id, created_at);

-- Anomaly flags already raised (and sent to the security channel), so that
-- each is raised once whichever replica's scan finds it.
CREATE TABLE oversight_flags (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        text        NOT NULL,
    key         text        NOT NULL UNIQUE,
    person      text        NOT NULL DEFAULT '',
    resource    text        NOT NULL DEFAULT '',
    request_ids text        NOT NULL DEFAULT '',
    reason      text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    detected_at timestamptz NOT NULL
);
CREATE INDEX oversight_flags_occurred_idx ON oversight_flags (occurred_at);

-- Review periods select requests by when access began and ended.
CREATE INDEX requests_approved_idx ON requests (approved_at) WHERE approved_at IS NOT NULL;
CREATE INDEX jobs_failed_idx ON jobs (queue, finished_at) WHERE state = 'failed';

-- +goose Down
DROP INDEX jobs_failed_idx;
DROP INDEX requests_approved_idx;
DROP TABLE oversight_flags;
DROP TABLE review_followups;
DROP TABLE reviews;
DROP TRIGGER audit_records_no_update ON audit_records;
DROP TRIGGER audit_records_no_truncate ON audit_records;
DROP TRIGGER audit_records_delete_anchored ON audit_records;
DROP TABLE audit_anchors;
DROP FUNCTION jitaccess_audit_check_prune();
DROP FUNCTION jitaccess_audit_refuse();
ALTER TABLE audit_records DROP COLUMN hash;
ALTER TABLE audit_records DROP COLUMN prev_hash;
ALTER TABLE audit_records ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY;
SELECT setval(pg_get_serial_sequence('audit_records', 'id'), coalesce(max(id), 0) + 1, false) FROM audit_records;
