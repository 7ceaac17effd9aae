-- +goose Up
-- Step-up MFA (issue 12). Passkeys are WebAuthn credentials registered in
-- the web UI, one row each: credential is go-webauthn's Credential as JSON
-- (what verifying an assertion needs); id, public_key and sign_count are
-- kept apart so that they can be read and queried (id is the credential
-- id and public_key the COSE key, both base64url).
CREATE TABLE passkeys (
    id           TEXT        PRIMARY KEY,
    email        TEXT        NOT NULL,
    name         TEXT        NOT NULL,
    public_key   TEXT        NOT NULL,
    sign_count   INTEGER     NOT NULL DEFAULT 0,
    credential   TEXT        NOT NULL,
    created_at   DATETIME NOT NULL,
    last_used_at DATETIME
);
CREATE INDEX passkeys_email_idx ON passkeys (email);

-- A session keeps the WebAuthn ceremony in flight (its challenge, used
-- once), when it last proved a passkey (mfa_at) and, for an OpenID
-- Connect sign-in, the provider's auth_time.
ALTER TABLE web_sessions ADD COLUMN webauthn_ceremony TEXT NOT NULL DEFAULT '';
ALTER TABLE web_sessions ADD COLUMN mfa_at DATETIME;
ALTER TABLE web_sessions ADD COLUMN auth_time DATETIME;

-- How the person behind a decision was verified; '' for older rows,
-- whose hashes do not cover these (see audit/chain.go).
ALTER TABLE audit_records ADD COLUMN auth TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_records ADD COLUMN mfa TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE audit_records DROP COLUMN mfa;
ALTER TABLE audit_records DROP COLUMN auth;
ALTER TABLE web_sessions DROP COLUMN auth_time;
ALTER TABLE web_sessions DROP COLUMN mfa_at;
ALTER TABLE web_sessions DROP COLUMN webauthn_ceremony;
DROP TABLE passkeys;
