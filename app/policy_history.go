package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/jitaccess/jitaccess/alert"
	"github.com/jitaccess/jitaccess/provision"
	"github.com/jitaccess/jitaccess/workflow"
)

// loadedBy names this server in the policy history: host/pid.
func loadedBy() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	return fmt.Sprintf("%s/%d", host, os.Getpid())
}

// reloadPolicy reads the policy file again, records the load in the
// policy history and the audit log, puts it in force, alerts when it
// lowers a resource, and re-evaluates every live grant and pending
// request. A file with errors, or a webhook timeout not below
// --provision-lease, is refused (logged, and recorded as
// policy.load_refused) and the policy in force stays. Reloads take turns,
// so that a slow one never puts an older file back in force.
func (a *App) reloadPolicy(ctx context.Context, trigger workflow.PolicyTrigger) error {
	if a.Config.PolicyFile == "" {
		return errors.New("no policy file to reload (demo or embedded policy)")
	}
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	load := workflow.PolicyLoad{Trigger: trigger, LoadedBy: loadedBy()}
	pol, err := workflow.LoadPolicyFile(a.Config.PolicyFile)
	if err == nil {
		// A reload may not bring in what serve refuses at start.
		err = provision.CheckLease(pol, a.Config.Provision.Lease)
	}
	if err != nil {
		a.Logger.Error("policy reload refused; keeping the policy in force", "trigger", trigger, "err", err)
		if rerr := a.Service.RefusePolicy(ctx, a.Config.PolicyFile, fileSHA(a.Config.PolicyFile), load, err); rerr != nil {
			a.Logger.Error("could not record the refused policy load", "err", rerr)
		}
		return err
	}
	res, err := a.Service.LoadPolicy(ctx, pol, load)
	if err != nil {
		a.Logger.Error("policy reload could not be recorded; keeping the policy in force", "trigger", trigger, "err", err)
		return err
	}
	a.Logger.Info("policy reloaded", "file", a.Config.PolicyFile, "trigger", trigger, "version", res.Policy.Version,
		"sha256", res.Policy.SHA256, "new_version", res.New, "resources", len(res.Policy.Resources))
	a.afterPolicyLoad(ctx, res)
	return nil
}

// afterPolicyLoad follows every successful load (start, SIGHUP, file
// change): a security alert when this load started a version that lowers a
// resource's tier or approvals, then the re-evaluation of everything live.
func (a *App) afterPolicyLoad(ctx context.Context, res workflow.PolicyLoadResult) {
	if res.New && res.Version.Lowered && a.oversight != nil {
		var lowered []string
		for _, l := range res.Version.Diff.Lines() {
			if strings.Contains(l, "LOWERED") {
				lowered = append(lowered, l)
			}
		}
		err := a.oversight.alerts.Send(ctx, alert.Alert{Kind: "policy_lowered", Severity: alert.Warning, At: res.Version.LoadedAt,
			Summary: fmt.Sprintf("Policy version %d (%s) lowers %s", res.Version.Version, res.Version.Trigger, strings.Join(lowered, "; ")),
			Details: fmt.Sprintf("sha256 %s, loaded by %s from %s. Full change: %s", res.Version.SHA256, res.Version.LoadedBy,
				res.Version.Source, res.Version.Diff.String())})
		a.oversight.metrics.ObserveAlert(err)
		if err != nil {
			a.Logger.Error("policy lowered alert not delivered", "err", err)
		}
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
	defer cancel()
	rr, err := a.Service.Reconcile(rctx, fmt.Sprintf("policy version %d", res.Policy.Version))
	if err != nil {
		a.Logger.Error("re-evaluation after the policy load failed", "version", res.Policy.Version, "err", err)
		return
	}
	a.Logger.Info("re-evaluated after the policy load", "version", res.Policy.Version,
		"revoked", rr.Revoked, "cancelled", rr.Cancelled, "withdrawn", rr.Withdrawn)
}

// fileSHA is the hex SHA-256 of the file's bytes, or "" when it cannot be
// read.
func fileSHA(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// watchPolicyFile reloads the policy when the file's content changes,
// checking its hash every --policy-watch-interval until ctx is done. A
// content already refused is not tried again until it changes.
func (a *App) watchPolicyFile(ctx context.Context) {
	every := a.Config.PolicyWatchInterval
	if a.Config.PolicyFile == "" || every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	refused := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sha := fileSHA(a.Config.PolicyFile)
		if sha == "" || sha == a.Service.Policy().SHA256 || sha == refused {
			continue
		}
		if err := a.reloadPolicy(ctx, workflow.TriggerFileChange); err != nil {
			refused = sha
		} else {
			refused = ""
		}
	}
}
