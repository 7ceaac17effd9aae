-- +goose Up
-- Break-glass (docs/policy.md, break_glass): an emergency request is
-- granted at once with no approver, and its mandatory post-hoc review is
-- signed off afterwards by distinct reviewers. next_alert_at is the
-- compare-and-set column of the overdue alerts: replicas move it on by
-- one period, and only the one that moves it alerts.
ALTER TABLE requests ADD COLUMN emergency boolean NOT NULL DEFAULT false;

CREATE TABLE emergency_reviews (
    request_id     uuid        PRIMARY KEY REFERENCES requests (id),
    required       integer     NOT NULL CHECK (required >= 1),
    within_seconds bigint      NOT NULL CHECK (within_seconds > 0),
    created_at     timestamptz NOT NULL,
    due_at         timestamptz NOT NULL,
    state          text        NOT NULL CHECK (state IN ('open', 'signed_off')),
    next_alert_at  timestamptz NOT NULL,
    alerts         integer     NOT NULL DEFAULT 0,
    signed_off_at  timestamptz,
    version        bigint      NOT NULL,
    CHECK (state <> 'signed_off' OR signed_off_at IS NOT NULL)
);
-- The overdue sweep's query.
CREATE INDEX emergency_reviews_alert_idx ON emergency_reviews (next_alert_at) WHERE state = 'open';

-- One sign-off per reviewer and review.
CREATE TABLE emergency_review_signoffs (
    request_id uuid        NOT NULL REFERENCES emergency_reviews (request_id),
    reviewer   text        NOT NULL,
    comment    text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    PRIMARY KEY (request_id, reviewer)
);

-- The dashboard counts emergency use per person.
CREATE INDEX requests_emergency_idx ON requests (requester, created_at) WHERE emergency;

-- +goose Down
DROP INDEX requests_emergency_idx;
DROP TABLE emergency_review_signoffs;
DROP TABLE emergency_reviews;
ALTER TABLE requests DROP COLUMN emergency;
