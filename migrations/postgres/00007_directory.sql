-- +goose Up
-- The directory: people and groups the identity provider pushes over SCIM.
-- Deleted people keep their row (deleted_at) so that they stay refused.
-- emails and attributes are JSON (the SCIM emails, and the attributes that
-- conditions read); resource is the SCIM resource as last received.
CREATE TABLE directory_people (
    id           text    PRIMARY KEY,
    external_id  text    NOT NULL DEFAULT '',
    user_name    text    NOT NULL UNIQUE,
    display_name text    NOT NULL DEFAULT '',
    active       boolean NOT NULL,
    emails       text    NOT NULL DEFAULT '[]',
    attributes   text    NOT NULL DEFAULT '{}',
    resource     text    NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    deleted_at   timestamptz,
    version      bigint  NOT NULL
);
CREATE INDEX directory_people_external_idx ON directory_people (external_id) WHERE external_id <> '';

-- Every address of a person, to resolve a signed-in email to its record.
CREATE TABLE directory_emails (
    email     text NOT NULL,
    person_id text NOT NULL REFERENCES directory_people (id) ON DELETE CASCADE,
    PRIMARY KEY (email, person_id)
);

CREATE TABLE directory_groups (
    id           text   PRIMARY KEY,
    external_id  text   NOT NULL DEFAULT '',
    display_name text   NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    version      bigint NOT NULL
);

CREATE TABLE directory_members (
    group_id  text NOT NULL REFERENCES directory_groups (id) ON DELETE CASCADE,
    person_id text NOT NULL REFERENCES directory_people (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, person_id)
);
CREATE INDEX directory_members_person_idx ON directory_members (person_id);

-- An approval whose approver no longer may approve stops counting; it is
-- kept, marked withdrawn, with the reason.
ALTER TABLE approvals ADD COLUMN withdrawn_at timestamptz;
ALTER TABLE approvals ADD COLUMN withdrawn_reason text NOT NULL DEFAULT '';
-- Standing that came only from the groups a web session asserted (the
-- OIDC claim) cannot be judged again later; re-evaluation leaves it to
-- the directory's deactivation (docs/directory.md).
ALTER TABLE approvals ADD COLUMN via_session boolean NOT NULL DEFAULT false;
ALTER TABLE requests ADD COLUMN via_session boolean NOT NULL DEFAULT false;

-- Leases: work one replica does at a time (the periodic reconcile) is
-- held by one holder until expires_at, then anyone may take it over.
CREATE TABLE leases (
    name       text PRIMARY KEY,
    holder     text NOT NULL,
    expires_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE leases;
ALTER TABLE requests DROP COLUMN via_session;
ALTER TABLE approvals DROP COLUMN via_session;
ALTER TABLE approvals DROP COLUMN withdrawn_reason;
ALTER TABLE approvals DROP COLUMN withdrawn_at;
DROP TABLE directory_members;
DROP TABLE directory_groups;
DROP TABLE directory_emails;
DROP TABLE directory_people;
