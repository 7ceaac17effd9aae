package provision

import (
	"fmt"
	"os"

	"github.com/jackc/pgx/v5"

	"github.com/jitaccess/jitaccess/workflow"
)

// Env looks up an environment variable; nil is the process environment.
// Secrets and DSNs are read when each step runs, so that a rotated secret
// is picked up by a restart without touching the policy.
type Env func(name string) (string, bool)

func (e Env) lookup(name string) (string, bool) {
	if e == nil {
		e = os.LookupEnv
	}
	v, ok := e(name)
	return v, ok && v != ""
}

// Builtin returns the built-in provisioners, by type, reading secrets and
// DSNs from env.
func Builtin(env Env) map[string]Provisioner {
	return map[string]Provisioner{
		workflow.ProvisionerWebhook:  NewWebhook(env),
		workflow.ProvisionerPostgres: &Postgres{Env: env},
	}
}

// CheckEnv checks, before serving, that every environment variable the
// policy's provisioners name is set and usable. Its errors name the policy
// file and line, never a secret's value.
func CheckEnv(pol *workflow.Policy, env Env) error {
	var errs workflow.PolicyErrors
	for _, r := range pol.Resources {
		p := r.Provisioner
		if p == nil {
			continue
		}
		bad := func(format string, args ...any) {
			errs = append(errs, workflow.PolicyError{File: pol.Source, Line: p.Line,
				Msg: fmt.Sprintf("resource %q: ", r.ID) + fmt.Sprintf(format, args...)})
		}
		switch p.Type {
		case workflow.ProvisionerWebhook:
			secret, ok := env.lookup(p.SecretEnv)
			switch {
			case !ok:
				bad("environment variable %s (the webhook's secret_env) is not set", p.SecretEnv)
			case len(secret) < MinSecretLen:
				bad("the webhook secret in %s is shorter than %d bytes", p.SecretEnv, MinSecretLen)
			}
		case workflow.ProvisionerPostgres:
			dsn, ok := env.lookup(p.DSNEnv)
			if !ok {
				bad("environment variable %s (the postgres provisioner's dsn_env) is not set", p.DSNEnv)
			} else if _, err := pgx.ParseConfig(dsn); err != nil {
				bad("environment variable %s does not hold a valid PostgreSQL DSN", p.DSNEnv)
			}
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}
