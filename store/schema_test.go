package store_test

import (
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm/schema"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
)

// family reduces a database type name to what a Go field can hold.
func family(dbType string) string {
	t := strings.ToUpper(dbType)
	switch {
	case t == "TEXT" || t == "UUID" || strings.HasPrefix(t, "VARCHAR"):
		return "string"
	case t == "INTEGER" || t == "INT8" || t == "INT4" || t == "BIGINT" || t == "INT":
		return "int"
	case t == "TIMESTAMPTZ" || t == "DATETIME":
		return "time"
	case t == "BOOL" || t == "BOOLEAN":
		return "bool"
	}
	return "unknown:" + t
}

func goFamily(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == reflect.TypeOf(time.Time{}):
		return "time"
	case t.Kind() == reflect.String:
		return "string"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		return "int"
	case t.Kind() == reflect.Bool:
		return "bool"
	}
	return "unknown:" + t.String()
}

// TestSchemaMatchesModels proves that the migrated schema of each database
// has exactly the columns the code reads and writes, with matching types
// and nullability.
func TestSchemaMatchesModels(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := db.Gorm()
		for _, model := range store.Models() {
			s, err := schema.Parse(model, &sync.Map{}, g.NamingStrategy)
			if err != nil {
				t.Fatal(err)
			}
			cols, err := g.Migrator().ColumnTypes(model)
			if err != nil {
				t.Fatalf("%s: %v", s.Table, err)
			}
			if len(cols) == 0 {
				t.Fatalf("table %s does not exist", s.Table)
			}
			dbCols := map[string]bool{}
			for _, c := range cols {
				dbCols[c.Name()] = true
				f := s.LookUpField(c.Name())
				if f == nil {
					t.Errorf("%s.%s is in the database but not in the model", s.Table, c.Name())
					continue
				}
				if got, want := family(c.DatabaseTypeName()), goFamily(f.FieldType); got != want {
					t.Errorf("%s.%s: database type %s (%s), model type %s (%s)", s.Table, c.Name(), c.DatabaseTypeName(), got, f.FieldType, want)
				}
				nullable, ok := c.Nullable()
				if ok && !f.PrimaryKey && nullable != (f.FieldType.Kind() == reflect.Pointer) {
					t.Errorf("%s.%s: nullable %v in the database, model type %s", s.Table, c.Name(), nullable, f.FieldType)
				}
			}
			for _, f := range s.Fields {
				if f.DBName != "" && !dbCols[f.DBName] {
					t.Errorf("%s.%s is in the model but not in the database", s.Table, f.DBName)
				}
			}
		}
		// Every table the migrations create has a model.
		tables, err := g.Migrator().GetTables()
		if err != nil {
			t.Fatal(err)
		}
		var modelTables []string
		for _, m := range store.Models() {
			s, _ := schema.Parse(m, &sync.Map{}, g.NamingStrategy)
			modelTables = append(modelTables, s.Table)
		}
		for _, tb := range tables {
			if tb == "goose_db_version" || strings.HasPrefix(tb, "sqlite_") {
				continue
			}
			if !slices.Contains(modelTables, tb) {
				t.Errorf("table %s has no model in store.Models()", tb)
			}
		}
	})
}

func TestMigrateIsIdempotent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		applied, err := db.Migrate(t.Context())
		if err != nil || len(applied) != 0 {
			t.Fatalf("second migrate applied %v, %v", applied, err)
		}
		if err := db.CheckMigrated(t.Context()); err != nil {
			t.Fatal(err)
		}
	})
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in   string
		kind store.Kind
		err  string
	}{
		{"postgres://u:secret@localhost/db", store.Postgres, ""},
		{"postgresql://localhost/db?sslmode=disable", store.Postgres, ""},
		{"sqlite:jitaccess.db", store.SQLite, ""},
		{"sqlite:///var/lib/jitaccess/data.db", store.SQLite, ""},
		{"sqlite:", "", "no file path"},
		{"sqlite:x.db?mode=ro", "", "options are not supported"},
		{"mysql://u:secret@localhost/db", "", "unsupported database URL"},
		{"jitaccess.db", "", "unsupported database URL"},
	} {
		kind, _, err := store.ParseURL(tc.in)
		if tc.err == "" && (err != nil || kind != tc.kind) {
			t.Errorf("%s: %v %v", tc.in, kind, err)
		}
		if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: err = %v, want %q", tc.in, err, tc.err)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: error leaks the password: %v", tc.in, err)
		}
	}
	if got := store.Redact("postgres://u:secret@h/db"); strings.Contains(got, "secret") {
		t.Errorf("Redact = %s", got)
	}
}
