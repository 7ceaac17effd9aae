-- +goose Up
-- The policy history: one row per distinct policy content, numbered from
-- 1. A load of the same content as the latest keeps its number (and is
-- still recorded as a policy.load audit record). trigger is what first put
-- this content in force (start, sighup or file_change); summary is the
-- normalized JSON (resources, groups, admins) the next version is diffed
-- against, and diff the JSON diff from the previous version. (Comments stay
-- outside the column list: SQLite's schema reader trips on them.)
CREATE TABLE policy_versions (
    version   bigint PRIMARY KEY,
    sha256    text   NOT NULL,
    source    text   NOT NULL DEFAULT '',
    trigger   text   NOT NULL,
    summary   text   NOT NULL,
    diff      text   NOT NULL,
    lowered   boolean NOT NULL,
    loaded_at timestamptz NOT NULL,
    loaded_by text   NOT NULL DEFAULT ''
);

-- +goose Down
DROP TABLE policy_versions;
