// Package migrations holds the versioned SQL schema of jitaccess, one
// directory per database: postgres/ and sqlite/. The files are embedded in
// the binary and applied in order by goose (store.Migrate), at `jitaccess
// migrate` and at the start of `jitaccess serve`; each runs in its own
// transaction and is recorded in goose_db_version.
//
// The files are append-only: never edit one that has shipped; add the next
// number instead, to both directories, and keep the two schemas
// equivalent. store's schema test fails when a model and the migrated
// schema disagree on either database.
package migrations

import "embed"

// FS holds postgres/*.sql and sqlite/*.sql.
//
//go:embed postgres/*.sql sqlite/*.sql
var FS embed.FS
