-- +goose Up
-- The claim query's ordering subquery (is there an earlier pending job with
-- the same key?) must probe jobs_order_idx. Before PostgreSQL has
-- statistics on a new jobs table it may probe jobs_due_idx instead and scan
-- the whole backlog for every candidate. The extra predicate, which only the
-- outer query states, makes jobs_due_idx unusable for the subquery.
DROP INDEX jobs_due_idx;
CREATE INDEX jobs_due_idx ON jobs (queue, run_at) WHERE state = 'pending' AND attempts >= 0;
-- Retention deletes finished jobs by age.
CREATE INDEX jobs_finished_idx ON jobs (finished_at) WHERE state <> 'pending';

-- +goose Down
DROP INDEX jobs_finished_idx;
DROP INDEX jobs_due_idx;
CREATE INDEX jobs_due_idx ON jobs (queue, run_at) WHERE state = 'pending';
