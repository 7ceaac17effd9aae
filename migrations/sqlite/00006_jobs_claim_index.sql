-- +goose Up
-- Kept equivalent to the PostgreSQL schema (see its 00006): the due index
-- carries a predicate only the claim query's outer scan states.
DROP INDEX jobs_due_idx;
CREATE INDEX jobs_due_idx ON jobs (queue, run_at) WHERE state = 'pending' AND attempts >= 0;
CREATE INDEX jobs_finished_idx ON jobs (finished_at) WHERE state <> 'pending';

-- +goose Down
DROP INDEX jobs_finished_idx;
DROP INDEX jobs_due_idx;
CREATE INDEX jobs_due_idx ON jobs (queue, run_at) WHERE state = 'pending';
