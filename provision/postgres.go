package provision

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/jitaccess/jitaccess/workflow"
)

// Postgres grants a role to the requester's database login when a grant
// starts (GRANT role TO user) and revokes it when the grant ends (REVOKE
// role FROM user), on a target PostgreSQL whose DSN is read from the
// environment variable the policy names. With terminate_sessions (the
// default) the removal also ends the user's open sessions, since a session
// that already did SET ROLE keeps the role's privileges until it ends.
//
// The DSN's user needs to be able to grant the role: a superuser, or a
// role with CREATEROLE (PostgreSQL 15) or ADMIN OPTION on the role
// (PostgreSQL 16 and later), and pg_signal_backend to end sessions.
// jitaccess grants roles; it never creates logins: the user must exist.
type Postgres struct {
	Env Env
	// ConnectTimeout bounds connecting to the target; default 10s.
	ConnectTimeout time.Duration
	// OpTimeout bounds one apply or removal; default 30s.
	OpTimeout time.Duration
}

// databaseUserPattern is what a login name derived from an email may be;
// it is quoted as an identifier (pgx.Identifier) in any case.
var databaseUserPattern = regexp.MustCompile(`^[a-z0-9_][a-z0-9_.@+-]{0,62}$`)

// DatabaseUser is the database login of the person with email under spec:
// the email's local part (default) or the whole email.
func DatabaseUser(spec workflow.ProvisionerSpec, email string) (string, error) {
	name := workflow.NormalizeEmail(email)
	if spec.Username != workflow.UsernameEmail {
		local, _, ok := strings.Cut(name, "@")
		if !ok {
			return "", fmt.Errorf("%q is not an email address", email)
		}
		name = local
	}
	if !databaseUserPattern.MatchString(name) {
		return "", fmt.Errorf("database user name %q (from %s) must be 1-63 lower-case letters, digits and _ . @ + -", name, email)
	}
	return name, nil
}

func (p *Postgres) connect(ctx context.Context, spec workflow.ProvisionerSpec) (*pgx.Conn, error) {
	dsn, ok := p.Env.lookup(spec.DSNEnv)
	if !ok {
		return nil, fmt.Errorf("environment variable %s (dsn_env) is not set", spec.DSNEnv)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("environment variable %s does not hold a valid PostgreSQL DSN", spec.DSNEnv)
	}
	cfg.ConnectTimeout = p.ConnectTimeout
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	cfg.RuntimeParams["application_name"] = "jitaccess-provisioner"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to the target database ($%s): %w", spec.DSNEnv, err)
	}
	return conn, nil
}

func (p *Postgres) withConn(ctx context.Context, g Grant, fn func(conn *pgx.Conn, role, user string) error) error {
	user, err := DatabaseUser(g.Spec, g.User)
	if err != nil {
		return err
	}
	timeout := p.OpTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := p.connect(ctx, g.Spec)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return fn(conn, g.Spec.Role, user)
}

// Apply grants the role. Granting a role the user already has is a
// no-op, so retries are safe. It fails unless the membership is then
// visible in the catalog.
func (p *Postgres) Apply(ctx context.Context, g Grant) error {
	return p.withConn(ctx, g, func(conn *pgx.Conn, role, user string) error {
		for _, r := range []struct{ name, what string }{{user, "login user"}, {role, "role"}} {
			var exists bool
			if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, r.name).Scan(&exists); err != nil {
				return fmt.Errorf("look up %s %q: %w", r.what, r.name, err)
			}
			if !exists {
				return fmt.Errorf("%s %q does not exist on the target database ($%s); jitaccess grants roles, it does not create them", r.what, r.name, g.Spec.DSNEnv)
			}
		}
		if _, err := conn.Exec(ctx, "GRANT "+pgx.Identifier{role}.Sanitize()+" TO "+pgx.Identifier{user}.Sanitize()); err != nil {
			return fmt.Errorf("GRANT %s TO %s: %w", role, user, err)
		}
		member, err := isMember(ctx, conn, role, user)
		if err != nil {
			return err
		}
		if !member {
			return fmt.Errorf("GRANT %s TO %s ran but the membership is not in pg_auth_members", role, user)
		}
		return nil
	})
}

// Remove revokes the role, ends the user's sessions if configured, and
// succeeds only when the catalog shows the user is no longer a member. A
// user or role that no longer exists holds no membership: that is success.
func (p *Postgres) Remove(ctx context.Context, g Grant) error {
	return p.withConn(ctx, g, func(conn *pgx.Conn, role, user string) error {
		_, err := conn.Exec(ctx, "REVOKE "+pgx.Identifier{role}.Sanitize()+" FROM "+pgx.Identifier{user}.Sanitize())
		var pgErr *pgconn.PgError
		if err != nil && !(errors.As(err, &pgErr) && pgErr.Code == "42704") { // undefined_object: no such role or user
			return fmt.Errorf("REVOKE %s FROM %s: %w", role, user, err)
		}
		if g.Spec.TerminateSessions {
			if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
				WHERE usename = $1 AND pid <> pg_backend_pid()`, user); err != nil {
				return fmt.Errorf("end the sessions of %s: %w", user, err)
			}
		}
		member, err := isMember(ctx, conn, role, user)
		if err != nil {
			return err
		}
		if member {
			return fmt.Errorf("REVOKE %s FROM %s ran but %s is still a member (granted by another role?)", role, user, user)
		}
		return nil
	})
}

// isMember reports whether user is a direct member of role.
func isMember(ctx context.Context, conn *pgx.Conn, role, user string) (bool, error) {
	var member bool
	err := conn.QueryRow(ctx, `SELECT EXISTS (
		SELECT 1 FROM pg_auth_members m
		JOIN pg_roles r ON r.oid = m.roleid
		JOIN pg_roles u ON u.oid = m.member
		WHERE r.rolname = $1 AND u.rolname = $2)`, role, user).Scan(&member)
	if err != nil {
		return false, fmt.Errorf("read the membership of %s in %s: %w", user, role, err)
	}
	return member, nil
}
