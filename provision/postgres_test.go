package provision_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/jitaccess/jitaccess/provision"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// target is a PostgreSQL database that jitaccess provisions: a login user
// for the agent and a role that can read a customers table. Roles are
// global to the server, so their names carry a random suffix.
type target struct {
	adminDSN string // superuser on the target database: the provisioner's DSN
	user     string // the agent's login
	email    string // the agent in the policy
	role     string // granted just in time
}

func suffix(t *testing.T) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func newTarget(t *testing.T) *target {
	t.Helper()
	ctx := context.Background()
	sfx := suffix(t)
	tg := &target{user: "jitagent_" + sfx, role: "crm.reader-" + sfx}
	tg.email = tg.user + "@example.com"
	tg.adminDSN = storetest.CreatePostgresDatabase(t)
	// Runs before the database is dropped: the roles' privileges live in it.
	t.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, tg.adminDSN)
		if err != nil {
			t.Errorf("drop test roles: %v", err)
			return
		}
		defer conn.Close(ctx)
		roles := pgx.Identifier{tg.user}.Sanitize() + ", " + pgx.Identifier{tg.role}.Sanitize()
		for _, stmt := range []string{"DROP OWNED BY " + roles, "DROP ROLE " + roles} {
			if _, err := conn.Exec(ctx, stmt); err != nil {
				t.Errorf("%s: %v", stmt, err)
			}
		}
	})
	conn, err := pgx.Connect(ctx, tg.adminDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, stmt := range []string{
		"CREATE ROLE " + pgx.Identifier{tg.user}.Sanitize() + " LOGIN",
		"CREATE ROLE " + pgx.Identifier{tg.role}.Sanitize() + " NOLOGIN",
		"CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, payment_card text NOT NULL)",
		"INSERT INTO customers VALUES (1, 'Ada', '4111111111111234'), (2, 'Grace', '5500000000000004')",
		"REVOKE ALL ON customers FROM PUBLIC",
		"GRANT SELECT ON customers TO " + pgx.Identifier{tg.role}.Sanitize(),
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	return tg
}

// agentDSN is the target database as the agent logs in (trust auth).
func (tg *target) agentDSN(t *testing.T) string {
	u, err := url.Parse(tg.adminDSN)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(tg.user)
	return u.String()
}

// session is the agent's connection with the role set, or an error saying
// why the agent cannot read customers.
func (tg *target) session(t *testing.T) (*pgx.Conn, error) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, tg.agentDSN(t))
	if err != nil {
		t.Fatalf("the agent cannot even log in: %v", err)
	}
	if _, err := conn.Exec(ctx, "SET ROLE "+pgx.Identifier{tg.role}.Sanitize()); err != nil {
		conn.Close(ctx)
		return nil, err
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM customers").Scan(&n); err != nil {
		conn.Close(ctx)
		return nil, err
	}
	if n != 2 {
		t.Fatalf("read %d customers", n)
	}
	return conn, nil
}

func (tg *target) canRead(t *testing.T) error {
	conn, err := tg.session(t)
	if err == nil {
		conn.Close(context.Background())
	}
	return err
}

func wantDenied(t *testing.T, err error) {
	t.Helper()
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
		t.Fatalf("want permission denied (42501), got %v", err)
	}
}

func postgresPolicy(tg *target) string {
	return fmt.Sprintf(`admins: [root@example.com]
groups:
  agents: [%s]
  managers: [carol@example.com, dave@example.com]
resources:
  - id: customers-db
    tier: medium
    max_duration: 2h
    requesters: [agents]
    approvers: [managers]
    provisioner:
      type: postgres
      dsn_env: TARGET_DSN
      role: %s
`, tg.email, tg.role)
}

// TestPostgresProvisioner is real just-in-time database access: the agent
// can SET ROLE and read customers while the grant is live, and not before
// or after it, whether it ends by revoke or by expiry.
func TestPostgresProvisioner(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		tg := newTarget(t)
		e := newEnv(t, db, postgresPolicy(tg), map[string]string{"TARGET_DSN": tg.adminDSN})
		ctx := context.Background()
		agent := workflow.User(tg.email)
		wantDenied(t, tg.canRead(t))

		// Granted, then revoked.
		req := e.approve(t, agent, "customers-db")
		e.runUntil(t, "GRANT", func() bool { return e.status(t, req.ID).Status == provision.StatusApplied })
		open, err := tg.session(t)
		if err != nil {
			t.Fatalf("while the grant is live the agent cannot read: %v", err)
		}
		defer open.Close(ctx)
		if _, err := e.svc.Revoke(ctx, carol, req.ID, "done"); err != nil {
			t.Fatal(err)
		}
		e.runUntil(t, "REVOKE", func() bool { return e.status(t, req.ID).Status == provision.StatusRemoved })
		wantDenied(t, tg.canRead(t))
		// The session that had already done SET ROLE was ended with the grant.
		var n int
		if err := open.QueryRow(ctx, "SELECT count(*) FROM customers").Scan(&n); err == nil {
			t.Fatal("a session opened during the grant still reads customers after the revoke")
		}

		// Granted, then expired by the sweeper.
		req = e.approve(t, agent, "customers-db")
		e.runUntil(t, "GRANT", func() bool { return e.status(t, req.ID).Status == provision.StatusApplied })
		if err := tg.canRead(t); err != nil {
			t.Fatalf("second grant: %v", err)
		}
		e.clock.Advance(time.Hour + time.Second)
		if res, err := e.svc.Sweep(ctx); err != nil || res.Expired != 1 {
			t.Fatalf("sweep %+v %v", res, err)
		}
		e.runUntil(t, "REVOKE after expiry", func() bool { return e.status(t, req.ID).Status == provision.StatusRemoved })
		wantDenied(t, tg.canRead(t))
		actions := e.auditActions(t, req.ID)
		if got := strings.Join(actions, ","); got != "submit,approve,provision.apply,expire,provision.remove" {
			t.Fatalf("audit = %s", got)
		}
	})
}

// TestPostgresProvisionerIdempotent: applying twice and removing twice is
// harmless, and removing a grant whose user is gone succeeds (nothing to
// remove).
func TestPostgresProvisionerIdempotent(t *testing.T) {
	tg := newTarget(t)
	p := &provision.Postgres{Env: func(string) (string, bool) { return tg.adminDSN, true }}
	spec := workflow.ProvisionerSpec{Type: "postgres", DSNEnv: "TARGET_DSN", Role: tg.role, Username: workflow.UsernameLocalPart, TerminateSessions: true}
	g := provision.Grant{RequestID: "r", User: tg.email, Resource: "customers-db", Spec: spec}
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if err := p.Apply(ctx, g); err != nil {
			t.Fatalf("apply %d: %v", i, err)
		}
	}
	if err := tg.canRead(t); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := p.Remove(ctx, g); err != nil {
			t.Fatalf("remove %d: %v", i, err)
		}
	}
	wantDenied(t, tg.canRead(t))

	ghost := g
	ghost.User = "nobody_" + suffix(t) + "@example.com"
	if err := p.Apply(ctx, ghost); err == nil || !strings.Contains(err.Error(), "does not exist on the target database") {
		t.Fatalf("apply for a missing login: %v", err)
	}
	if err := p.Remove(ctx, ghost); err != nil {
		t.Fatalf("remove for a missing login: %v", err)
	}
	bad := g
	bad.Spec.DSNEnv = "NOT_SET"
	p.Env = func(string) (string, bool) { return "", false }
	if err := p.Apply(ctx, bad); err == nil || !strings.Contains(err.Error(), "NOT_SET (dsn_env) is not set") {
		t.Fatalf("apply without a DSN: %v", err)
	}
}

func TestDatabaseUser(t *testing.T) {
	local := workflow.ProvisionerSpec{Username: workflow.UsernameLocalPart}
	email := workflow.ProvisionerSpec{Username: workflow.UsernameEmail}
	for _, tc := range []struct {
		spec  workflow.ProvisionerSpec
		email string
		want  string
		err   string
	}{
		{local, "Alice.Smith@Example.com", "alice.smith", ""},
		{email, "alice@example.com", "alice@example.com", ""},
		{local, `x"; DROP ROLE postgres; --@example.com`, "", "must be 1-63"},
		{local, "not-an-email", "", "not an email"},
		{local, strings.Repeat("a", 64) + "@example.com", "", "must be 1-63"},
	} {
		got, err := provision.DatabaseUser(tc.spec, tc.email)
		if tc.err == "" && (err != nil || got != tc.want) {
			t.Errorf("%s: %q %v", tc.email, got, err)
		}
		if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: err = %v, want %q", tc.email, err, tc.err)
		}
	}
}
