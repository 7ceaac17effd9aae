-- +goose Up
-- Review campaigns: the same schema as postgres/00019_review_campaigns.sql.
ALTER TABLE reviews ADD COLUMN campaign TEXT NOT NULL DEFAULT '';
ALTER TABLE reviews ADD COLUMN due_at DATETIME;

CREATE TABLE review_campaign_runs (
    campaign     TEXT     NOT NULL,
    period_start DATETIME NOT NULL,
    period_end   DATETIME NOT NULL,
    due_at       DATETIME NOT NULL,
    opened_at    DATETIME NOT NULL,
    reviews      INTEGER  NOT NULL CHECK (reviews >= 0),
    reminders    INTEGER  NOT NULL DEFAULT 0 CHECK (reminders BETWEEN 0 AND 3),
    PRIMARY KEY (campaign, period_start),
    CHECK (period_end > period_start)
);

CREATE INDEX reviews_by_campaign ON reviews (campaign, period_end) WHERE campaign <> '';

CREATE TABLE approver_reminders (
    request_id TEXT     PRIMARY KEY,
    sent_at    DATETIME NOT NULL
);

-- +goose Down
DROP TABLE approver_reminders;
DROP INDEX reviews_by_campaign;
DROP TABLE review_campaign_runs;
ALTER TABLE reviews DROP COLUMN due_at;
ALTER TABLE reviews DROP COLUMN campaign;
