package storetest

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jitaccess/jitaccess/store"
)

// SeedPerson writes a directory user straight into the directory tables,
// in the given directory groups (created when missing), as the SCIM server
// would have, and returns their id. For tests of what the directory
// decides without going through SCIM.
func SeedPerson(t testing.TB, db *store.DB, email string, active bool, groups ...string) string {
	t.Helper()
	g := db.Gorm()
	id := uuid.NewString()
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	if err := g.Exec(`INSERT INTO directory_people (id, user_name, display_name, active, emails, attributes, resource, created_at, updated_at, version)
		VALUES (?, ?, ?, ?, ?, '{}', '{}', ?, ?, 1)`, id, email, email, active, `["`+email+`"]`, now, now).Error; err != nil {
		t.Fatal(err)
	}
	if err := g.Exec(`INSERT INTO directory_emails (email, person_id) VALUES (?, ?)`, email, id).Error; err != nil {
		t.Fatal(err)
	}
	for _, name := range groups {
		var gid string
		if err := g.Raw(`SELECT id FROM directory_groups WHERE display_name = ?`, name).Scan(&gid).Error; err != nil {
			t.Fatal(err)
		}
		if gid == "" {
			gid = uuid.NewString()
			if err := g.Exec(`INSERT INTO directory_groups (id, display_name, created_at, updated_at, version) VALUES (?, ?, ?, ?, 1)`,
				gid, name, now, now).Error; err != nil {
				t.Fatal(err)
			}
		}
		if err := g.Exec(`INSERT INTO directory_members (group_id, person_id) VALUES (?, ?)`, gid, id).Error; err != nil {
			t.Fatal(err)
		}
	}
	return id
}

// SetPersonActive flips a seeded directory user's active flag.
func SetPersonActive(t testing.TB, db *store.DB, email string, active bool) {
	t.Helper()
	if err := db.Gorm().Exec(`UPDATE directory_people SET active = ?, version = version + 1 WHERE user_name = ?`, active, email).Error; err != nil {
		t.Fatal(err)
	}
}
