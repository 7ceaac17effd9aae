-- +goose Up
-- The audit sealer's tables (see the PostgreSQL migration). SQLite has one
-- writer at a time, so every transaction seals its own records inline
-- (store/sealer.go) and these stay empty; they exist so that the two
-- schemas stay equivalent.
CREATE TABLE audit_pending (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    written_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    xact       INTEGER NOT NULL DEFAULT 0,
    at         DATETIME NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    request_id TEXT,
    resource   TEXT NOT NULL DEFAULT '',
    subject    TEXT NOT NULL DEFAULT '',
    from_state TEXT NOT NULL DEFAULT '',
    to_state   TEXT NOT NULL DEFAULT '',
    reason     TEXT NOT NULL DEFAULT '',
    purpose    TEXT NOT NULL DEFAULT '',
    auth       TEXT NOT NULL DEFAULT '',
    mfa        TEXT NOT NULL DEFAULT '',
    source     TEXT NOT NULL DEFAULT ''
);
CREATE TABLE audit_chain_head (
    id INTEGER PRIMARY KEY CHECK (id = 1)
);
INSERT INTO audit_chain_head (id) VALUES (1);

-- +goose Down
DROP TABLE audit_chain_head;
DROP TABLE audit_pending;
