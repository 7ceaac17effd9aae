-- +goose Up
-- The sweeper claims due rows in (due time, id) order, a batch at a time
-- (store/requests.go endDueQuery, ActivateDue): with id in the partial
-- index it reads the first rows of the index and sorts nothing, where
-- (due time) alone made it sort every due row of every batch. The
-- predicates are exactly the sweeper's (state = '...', a literal), and the
-- sweeper's next-due read (NextDue) is the first row of each.
DROP INDEX requests_expiry_idx;
CREATE INDEX requests_expiry_idx ON requests (expires_at, id) WHERE state = 'approved';
DROP INDEX requests_deadline_idx;
CREATE INDEX requests_deadline_idx ON requests (review_deadline, id) WHERE state = 'pending';
DROP INDEX requests_start_idx;
CREATE INDEX requests_start_idx ON requests (start_at, id) WHERE state = 'scheduled';

-- +goose Down
DROP INDEX requests_start_idx;
CREATE INDEX requests_start_idx ON requests (start_at) WHERE state = 'scheduled';
DROP INDEX requests_deadline_idx;
CREATE INDEX requests_deadline_idx ON requests (review_deadline) WHERE state = 'pending';
DROP INDEX requests_expiry_idx;
CREATE INDEX requests_expiry_idx ON requests (expires_at) WHERE state = 'approved';
