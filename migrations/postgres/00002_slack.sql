-- +goose Up
-- The Slack message that shows each request to its approvers. Later changes
-- (a decision in the web UI or the API, expiry hours later) edit it in place
-- with chat.update, so channel and ts are kept; version is the request
-- version the message shows, so that a late or repeated delivery never
-- puts an older state back.
CREATE TABLE slack_messages (
    request_id uuid        PRIMARY KEY REFERENCES requests (id),
    channel    text        NOT NULL,
    ts         text        NOT NULL,
    version    bigint      NOT NULL,
    posted_at  timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

-- Inbound Slack deliveries (slash commands, clicks, modal submissions)
-- already taken, by a hash of their signed body: a retried delivery is
-- acknowledged and not applied twice. Rows older than an hour are pruned.
CREATE TABLE slack_inbound (
    body_hash   text        PRIMARY KEY,
    kind        text        NOT NULL,
    received_at timestamptz NOT NULL
);
CREATE INDEX slack_inbound_received_idx ON slack_inbound (received_at);

-- +goose Down
DROP TABLE slack_inbound;
DROP TABLE slack_messages;
