-- +goose Up
-- Fencing: every claim of a job takes the next token, and a runner's
-- writes about the job (complete, retry, fail, extend) name the token of
-- its claim, so that a runner whose lease ran out and whose job another
-- runner claimed since changes nothing.
ALTER TABLE jobs ADD COLUMN lease_token INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE jobs DROP COLUMN lease_token;
