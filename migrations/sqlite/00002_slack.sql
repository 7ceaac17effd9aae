-- +goose Up
-- See migrations/postgres/00002_slack.sql.
CREATE TABLE slack_messages (
    request_id TEXT     PRIMARY KEY REFERENCES requests (id),
    channel    TEXT     NOT NULL,
    ts         TEXT     NOT NULL,
    version    INTEGER  NOT NULL,
    posted_at  DATETIME NOT NULL,
    updated_at DATETIME NOT NULL
);

CREATE TABLE slack_inbound (
    body_hash   TEXT     PRIMARY KEY,
    kind        TEXT     NOT NULL,
    received_at DATETIME NOT NULL
);
CREATE INDEX slack_inbound_received_idx ON slack_inbound (received_at);

-- +goose Down
DROP TABLE slack_inbound;
DROP TABLE slack_messages;
