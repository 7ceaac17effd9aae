-- +goose Up
-- A request's purpose (one of its resource's purposes), stored on the
-- request and on its submit audit record; '' for older rows, whose
-- audit hashes do not cover a purpose (see audit/chain.go).
ALTER TABLE requests ADD COLUMN purpose TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_records ADD COLUMN purpose TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE audit_records DROP COLUMN purpose;
ALTER TABLE requests DROP COLUMN purpose;
