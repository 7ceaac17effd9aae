-- +goose Up
-- The audit sealer (docs/audit.md, "Sealing"; issue 14 item 1). Writers no
-- longer take a cluster-wide lock to append to the hash chain: each
-- transaction inserts its records here, unhashed and unnumbered, atomically
-- with its change; one sealer per cluster (the "audit-sealer" lease) moves
-- them into audit_records in batches, numbering and hashing them, in one
-- transaction per batch. A record is never lost between the two: it leaves
-- this table only in the transaction that seals it.
CREATE TABLE audit_pending (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    written_at timestamptz NOT NULL DEFAULT now(),
    -- the writing transaction, so that the sealer keeps its records
    -- together and in order in the chain
    xact       bigint      NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    at         timestamptz NOT NULL,
    actor      text        NOT NULL,
    action     text        NOT NULL,
    request_id uuid,
    resource   text        NOT NULL DEFAULT '',
    subject    text        NOT NULL DEFAULT '',
    from_state text        NOT NULL DEFAULT '',
    to_state   text        NOT NULL DEFAULT '',
    reason     text        NOT NULL DEFAULT '',
    purpose    text        NOT NULL DEFAULT '',
    auth       text        NOT NULL DEFAULT '',
    mfa        text        NOT NULL DEFAULT '',
    source     text        NOT NULL DEFAULT ''
);

-- One row that every sealing transaction (and a prune) locks, so that two
-- sealers, or a sealer and a prune, take turns at the head of the chain.
-- Writers never touch it.
CREATE TABLE audit_chain_head (
    id int PRIMARY KEY CHECK (id = 1)
);
INSERT INTO audit_chain_head (id) VALUES (1);

-- Pending records are as append-only as sealed ones: no update, no
-- truncate, and a delete only from a sealing transaction, which sets
-- jitaccess.sealing (store/sealer.go) in the same transaction that inserts
-- the sealed copies. This stops mistakes and ordinary roles, not a
-- superuser; docs/audit.md says what that means for unsealed records.
-- +goose StatementBegin
CREATE FUNCTION jitaccess_audit_pending_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('jitaccess.sealing', true), '') <> 'on' THEN
        RAISE EXCEPTION 'DELETE on audit_pending is refused: unsealed audit records leave only when the sealer seals them'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_pending_no_update BEFORE UPDATE OR TRUNCATE ON audit_pending
    FOR EACH STATEMENT EXECUTE FUNCTION jitaccess_audit_refuse();
CREATE TRIGGER audit_pending_delete_sealing BEFORE DELETE ON audit_pending
    FOR EACH STATEMENT EXECUTE FUNCTION jitaccess_audit_pending_delete();
CREATE TRIGGER audit_chain_head_no_change BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_chain_head
    FOR EACH STATEMENT EXECUTE FUNCTION jitaccess_audit_refuse();

-- +goose Down
DROP TABLE audit_chain_head;
DROP TABLE audit_pending;
DROP FUNCTION jitaccess_audit_pending_delete();
