-- +goose Up
-- Web UI sessions, kept server-side so that signing someone out takes
-- effect on their next click. The browser holds a random secret; only its
-- SHA-256 is stored here.
CREATE TABLE web_sessions (
    id           uuid PRIMARY KEY,
    hash         text        NOT NULL UNIQUE,
    email        text        NOT NULL,
    idp_groups   text        NOT NULL DEFAULT '',
    amr          text        NOT NULL DEFAULT '',
    acr          text        NOT NULL DEFAULT '',
    method       text        NOT NULL CHECK (method IN ('oidc', 'demo')),
    csrf_token   text        NOT NULL,
    client_ip    text        NOT NULL DEFAULT '',
    user_agent   text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);
CREATE INDEX web_sessions_email_idx ON web_sessions (email);
CREATE INDEX web_sessions_expires_idx ON web_sessions (expires_at);

-- OpenID Connect sign-ins in flight: state, nonce and PKCE verifier, bound
-- to the browser that started them (id is the SHA-256 of a cookie) and
-- used once.
CREATE TABLE web_login_flows (
    id            text        PRIMARY KEY,
    state         text        NOT NULL,
    nonce         text        NOT NULL,
    pkce_verifier text        NOT NULL,
    return_to     text        NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL
);
CREATE INDEX web_login_flows_expires_idx ON web_login_flows (expires_at);

-- +goose Down
DROP TABLE web_login_flows;
DROP TABLE web_sessions;
