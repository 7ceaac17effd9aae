-- +goose Up
-- The audit witness (docs/audit.md, "The witness"): the highest head of the
-- audit chain that serve has verified, one row. Records removed from the
-- end of the log, or a rewritten head, no longer match it. It only moves
-- forward: lowering it, changing its hash, or deleting it is refused, so
-- that covering a truncation takes disabling the triggers too (and the
-- witness file and signed checkpoints are out of the database's reach).
CREATE TABLE audit_witness (
    id           integer     PRIMARY KEY CHECK (id = 1),
    head_id      bigint      NOT NULL CHECK (head_id > 0),
    head_hash    text        NOT NULL,
    witnessed_at timestamptz NOT NULL,
    witnessed_by text        NOT NULL
);

-- +goose StatementBegin
CREATE FUNCTION jitaccess_audit_witness_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.head_id < OLD.head_id OR (NEW.head_id = OLD.head_id AND NEW.head_hash <> OLD.head_hash) THEN
        RAISE EXCEPTION 'the audit witness only moves forward (head % to %)', OLD.head_id, NEW.head_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER audit_witness_forward BEFORE UPDATE ON audit_witness
    FOR EACH ROW EXECUTE FUNCTION jitaccess_audit_witness_forward();
CREATE TRIGGER audit_witness_no_delete BEFORE DELETE OR TRUNCATE ON audit_witness
    FOR EACH STATEMENT EXECUTE FUNCTION jitaccess_audit_refuse();

-- +goose Down
DROP TABLE audit_witness;
DROP FUNCTION jitaccess_audit_witness_forward();
