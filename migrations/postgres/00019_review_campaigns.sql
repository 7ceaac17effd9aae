-- +goose Up
-- Review campaigns (docs/reviews.md#campaigns): reviews the policy opens on
-- a schedule. A run is one campaign's opening for one period; its primary
-- key makes the opening happen once, whichever replica gets there first.
-- reminders counts the reminder stages sent (1 at opening, 2 halfway, 3 a
-- day before due), advanced by compare-and-set so each is sent once.
ALTER TABLE reviews ADD COLUMN campaign text NOT NULL DEFAULT '';
ALTER TABLE reviews ADD COLUMN due_at timestamptz;

CREATE TABLE review_campaign_runs (
    campaign     text        NOT NULL,
    period_start timestamptz NOT NULL,
    period_end   timestamptz NOT NULL,
    due_at       timestamptz NOT NULL,
    opened_at    timestamptz NOT NULL,
    reviews      integer     NOT NULL CHECK (reviews >= 0),
    reminders    integer     NOT NULL DEFAULT 0 CHECK (reminders BETWEEN 0 AND 3),
    PRIMARY KEY (campaign, period_start),
    CHECK (period_end > period_start)
);

CREATE INDEX reviews_by_campaign ON reviews (campaign, period_end) WHERE campaign <> '';

-- One row per pending request whose approvers were reminded that it is
-- about to time out (remind_approvers_before): the reminder goes once.
CREATE TABLE approver_reminders (
    request_id uuid        PRIMARY KEY,
    sent_at    timestamptz NOT NULL
);

-- +goose Down
DROP TABLE approver_reminders;
DROP INDEX reviews_by_campaign;
DROP TABLE review_campaign_runs;
ALTER TABLE reviews DROP COLUMN due_at;
ALTER TABLE reviews DROP COLUMN campaign;
