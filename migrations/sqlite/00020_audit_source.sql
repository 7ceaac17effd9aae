-- +goose Up
-- The audit record's source: the same as postgres/00020_audit_source.sql.
ALTER TABLE audit_records ADD COLUMN source TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE audit_records DROP COLUMN source;
