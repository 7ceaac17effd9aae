-- +goose Up
-- The audit witness: the same schema as postgres/00013_audit_witness.sql.
CREATE TABLE audit_witness (
    id           INTEGER  PRIMARY KEY CHECK (id = 1),
    head_id      INTEGER  NOT NULL CHECK (head_id > 0),
    head_hash    TEXT     NOT NULL,
    witnessed_at DATETIME NOT NULL,
    witnessed_by TEXT     NOT NULL
);

-- +goose StatementBegin
CREATE TRIGGER audit_witness_forward BEFORE UPDATE ON audit_witness
WHEN NEW.head_id < OLD.head_id OR (NEW.head_id = OLD.head_id AND NEW.head_hash <> OLD.head_hash)
BEGIN
    SELECT RAISE(ABORT, 'the audit witness only moves forward');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_witness_no_delete BEFORE DELETE ON audit_witness
BEGIN
    SELECT RAISE(ABORT, 'DELETE on audit_witness is refused: the audit witness only moves forward');
END;
-- +goose StatementEnd

-- +goose Down
DROP TABLE audit_witness;
