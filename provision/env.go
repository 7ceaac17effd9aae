package provision

import (
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jitaccess/jitaccess/queue"
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

// CheckLease checks that every webhook's timeout is below lease, the
// provisioning lease (--provision-lease; 0 is queue.DefaultLease): a call
// still running when its lease runs out could be taken over by another
// worker and run twice at once. (The worker also extends the lease while
// a step runs; this keeps a single call within one lease even when the
// extension fails.) Errors name the policy file and the timeout's line,
// or the provisioner's when the timeout is the default.
func CheckLease(pol *workflow.Policy, lease time.Duration) error {
	if lease <= 0 {
		lease = queue.DefaultLease
	}
	var errs workflow.PolicyErrors
	for _, r := range pol.Resources {
		p := r.Provisioner
		if p == nil || p.Type != workflow.ProvisionerWebhook {
			continue
		}
		timeout, line, which := p.Timeout, p.TimeoutLine, "webhook timeout"
		if line == 0 {
			line, which = p.Line, "the default webhook timeout"
		}
		if timeout <= 0 {
			timeout = workflow.DefaultWebhookTimeout
		}
		if timeout >= lease {
			errs = append(errs, workflow.PolicyError{File: pol.Source, Line: line, Msg: fmt.Sprintf(
				"resource %q: %s %s is not below the provisioning lease %s (--provision-lease): a call still running when its lease runs out "+
					"could be taken over by another worker; lower the timeout or raise --provision-lease", r.ID, which, timeout, lease)})
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}
