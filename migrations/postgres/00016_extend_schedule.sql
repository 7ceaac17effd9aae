-- +goose Up
-- Extensions of live grants and access that starts later (issue 11).
-- scheduled: approved access waiting for its start_at; extended: an
-- extension request that was approved and applied to the grant it
-- extends (extends names it). extended_seconds is what approved
-- extensions have added to a grant.
ALTER TABLE requests DROP CONSTRAINT requests_state_check;
ALTER TABLE requests ADD CONSTRAINT requests_state_check CHECK (state IN
    ('pending', 'approved', 'denied', 'cancelled', 'timed_out', 'expired', 'revoked', 'scheduled', 'extended'));
ALTER TABLE requests ADD COLUMN start_at timestamptz;
ALTER TABLE requests ADD COLUMN extends text NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN extended_seconds bigint NOT NULL DEFAULT 0 CHECK (extended_seconds >= 0);
ALTER TABLE requests ADD CONSTRAINT requests_scheduled_check
    CHECK (state <> 'scheduled' OR (start_at IS NOT NULL AND approved_at IS NOT NULL AND expires_at IS NOT NULL));
-- One open request per person and resource (a scheduled grant is open);
-- an extension is not one of its own, and a grant has at most one
-- pending extension.
DROP INDEX requests_open_idx;
CREATE UNIQUE INDEX requests_open_idx ON requests (requester, resource)
    WHERE state IN ('pending', 'approved', 'scheduled') AND extends = '';
CREATE UNIQUE INDEX requests_extension_open_idx ON requests (extends) WHERE state = 'pending' AND extends <> '';
-- The sweeper's activation query.
CREATE INDEX requests_start_idx ON requests (start_at) WHERE state = 'scheduled';

-- +goose Down
DROP INDEX requests_start_idx;
DROP INDEX requests_extension_open_idx;
DROP INDEX requests_open_idx;
UPDATE requests SET state = 'revoked' WHERE state = 'scheduled';
UPDATE requests SET state = 'cancelled' WHERE state = 'extended';
UPDATE requests SET state = 'cancelled' WHERE extends <> '' AND state = 'pending';
CREATE UNIQUE INDEX requests_open_idx ON requests (requester, resource) WHERE state IN ('pending', 'approved');
ALTER TABLE requests DROP CONSTRAINT requests_scheduled_check;
ALTER TABLE requests DROP COLUMN extended_seconds;
ALTER TABLE requests DROP COLUMN extends;
ALTER TABLE requests DROP COLUMN start_at;
ALTER TABLE requests DROP CONSTRAINT requests_state_check;
ALTER TABLE requests ADD CONSTRAINT requests_state_check CHECK (state IN
    ('pending', 'approved', 'denied', 'cancelled', 'timed_out', 'expired', 'revoked'));
