-- +goose Up
-- Web UI sessions (see the PostgreSQL migration for the design).
CREATE TABLE web_sessions (
    id           TEXT     PRIMARY KEY,
    hash         TEXT     NOT NULL UNIQUE,
    email        TEXT     NOT NULL,
    idp_groups   TEXT     NOT NULL DEFAULT '',
    amr          TEXT     NOT NULL DEFAULT '',
    acr          TEXT     NOT NULL DEFAULT '',
    method       TEXT     NOT NULL CHECK (method IN ('oidc', 'demo')),
    csrf_token   TEXT     NOT NULL,
    client_ip    TEXT     NOT NULL DEFAULT '',
    user_agent   TEXT     NOT NULL DEFAULT '',
    created_at   DATETIME NOT NULL,
    last_seen_at DATETIME NOT NULL,
    expires_at   DATETIME NOT NULL
);
CREATE INDEX web_sessions_email_idx ON web_sessions (email);
CREATE INDEX web_sessions_expires_idx ON web_sessions (expires_at);

CREATE TABLE web_login_flows (
    id            TEXT     PRIMARY KEY,
    state         TEXT     NOT NULL,
    nonce         TEXT     NOT NULL,
    pkce_verifier TEXT     NOT NULL,
    return_to     TEXT     NOT NULL DEFAULT '',
    created_at    DATETIME NOT NULL,
    expires_at    DATETIME NOT NULL
);
CREATE INDEX web_login_flows_expires_idx ON web_login_flows (expires_at);

-- +goose Down
DROP TABLE web_login_flows;
DROP TABLE web_sessions;
