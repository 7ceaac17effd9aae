-- +goose Up
-- The way in of every audited action (api, web, slack, cli, mcp, scim,
-- system): hashed into the chain when set, so older records still verify.
ALTER TABLE audit_records ADD COLUMN source text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE audit_records DROP COLUMN source;
