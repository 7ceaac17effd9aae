-- +goose Up
-- The viewer's time zone (an IANA name such as Europe/Paris), as the
-- browser reported it, so that pages show times in it from the server
-- (issue 16 item 2); '' until the browser has said.
ALTER TABLE web_sessions ADD COLUMN time_zone text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE web_sessions DROP COLUMN time_zone;
