-- +goose Up
-- Break-glass (docs/policy.md, break_glass): an emergency request is
-- granted at once with no approver, and its mandatory post-hoc review is
-- signed off afterwards by distinct reviewers. next_alert_at is the
-- compare-and-set column of the overdue alerts: replicas move it on by
-- one period, and only the one that moves it alerts.
ALTER TABLE requests ADD COLUMN emergency BOOLEAN NOT NULL DEFAULT false;

CREATE TABLE emergency_reviews (
    request_id     TEXT     PRIMARY KEY REFERENCES requests (id),
    required       INTEGER  NOT NULL CHECK (required >= 1),
    within_seconds INTEGER  NOT NULL CHECK (within_seconds > 0),
    created_at     DATETIME NOT NULL,
    due_at         DATETIME NOT NULL,
    state          TEXT     NOT NULL CHECK (state IN ('open', 'signed_off')),
    next_alert_at  DATETIME NOT NULL,
    alerts         INTEGER  NOT NULL DEFAULT 0,
    signed_off_at  DATETIME,
    version        INTEGER  NOT NULL,
    CHECK (state <> 'signed_off' OR signed_off_at IS NOT NULL)
);
CREATE INDEX emergency_reviews_alert_idx ON emergency_reviews (next_alert_at) WHERE state = 'open';

CREATE TABLE emergency_review_signoffs (
    request_id TEXT     NOT NULL REFERENCES emergency_reviews (request_id),
    reviewer   TEXT     NOT NULL,
    comment    TEXT     NOT NULL DEFAULT '',
    created_at DATETIME NOT NULL,
    PRIMARY KEY (request_id, reviewer)
);

CREATE INDEX requests_emergency_idx ON requests (requester, created_at) WHERE emergency;

-- +goose Down
DROP INDEX requests_emergency_idx;
DROP TABLE emergency_review_signoffs;
DROP TABLE emergency_reviews;
ALTER TABLE requests DROP COLUMN emergency;
