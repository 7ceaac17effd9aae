-- +goose Up
-- When a session's groups claim was read from the identity provider: claim
-- groups older than --groups-max-age no longer count until the person
-- signs in again. Existing sessions read theirs at sign-in.
ALTER TABLE web_sessions ADD COLUMN groups_at timestamptz;
UPDATE web_sessions SET groups_at = created_at;
ALTER TABLE web_sessions ALTER COLUMN groups_at SET NOT NULL;

-- +goose Down
ALTER TABLE web_sessions DROP COLUMN groups_at;
