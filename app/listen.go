package app

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgxlisten"

	"github.com/jitaccess/jitaccess/access"
	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/provision"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/workflow"
)

// ListenerAppName is the application_name of each replica's LISTEN
// connection (visible in pg_stat_activity).
const ListenerAppName = "jitaccess-listen"

// wireChanges keeps the check/mask cache of every replica in step with the
// changes that make its decisions stale: grants that start or end,
// provisioning outcomes, and directory changes to people. On this replica
// they drop the entries at once; on PostgreSQL they are also sent with
// NOTIFY on access.ChangesChannel in the change's transaction (delivered on
// commit), and a listener drops the matching entries of every replica.
func (a *App) wireChanges(chk *access.Checker, pipe *provision.Pipeline) {
	pg := a.DB.Kind() == store.Postgres && !a.Config.Provision.NoNotify
	pipe.StatusCommitted = func(rec provision.Record) { chk.Invalidate(rec.Requester, rec.Resource) }
	if pg {
		a.Service.OnChange(access.NotifyHook)
		pipe.StatusHook = func(ctx context.Context, tx workflow.Tx, rec provision.Record) error {
			return access.NotifyProvisioning(ctx, tx, rec.Requester, rec.Resource)
		}
	}
	a.Service.OnDirectoryChange(func(emails []string) {
		chk.DropUsers(emails)
		if !pg {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, n := range access.PersonNotices(emails) {
			if err := a.DB.Notify(ctx, access.ChangesChannel, n); err != nil {
				// The other replicas' entries expire within one TTL.
				a.Logger.Warn("cannot tell other replicas of a directory change", "err", err)
				return
			}
		}
	})
	if pg {
		a.changes = &changeListener{url: a.Config.DatabaseURL, chk: chk, tokens: a.tokens, app: a}
	}
}

// changeListener holds a replica's LISTEN connection. It keeps the
// check/mask cache and the token cache (tokencache.go) in step.
type changeListener struct {
	url    string
	chk    *access.Checker
	tokens *identity.TokenCache // nil when the token cache is off
	app    *App
	// connects counts the (re)connections; each cleared the cache.
	connects atomic.Int64
	failures atomic.Int64
}

// start listens until ctx is done; wg tracks the goroutine. It does
// nothing on a nil listener (SQLite, or notifications off).
func (l *changeListener) start(ctx context.Context, wg *sync.WaitGroup) {
	if l == nil {
		return
	}
	lst := &pgxlisten.Listener{
		Connect: func(ctx context.Context) (*pgx.Conn, error) {
			cfg, err := pgx.ParseConfig(l.url)
			if err != nil {
				return nil, err
			}
			cfg.RuntimeParams["application_name"] = ListenerAppName
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			return pgx.ConnectConfig(cctx, cfg)
		},
		LogError: func(ctx context.Context, err error) {
			if ctx.Err() != nil {
				return // shutting down
			}
			if n := l.failures.Add(1); n == 1 || n%60 == 0 {
				l.app.Logger.Warn("change listener: other replicas' changes reach this one's cache only after its TTL until it reconnects",
					"err", err, "failures", n)
			}
		},
		// Reconnect quickly: until then, only the TTL bounds staleness.
		ReconnectDelay: time.Second,
	}
	lst.Handle(access.ChangesChannel, l)
	if !l.app.Config.SweepCronOnly {
		lst.Handle(SweepChannel, sweepListener{l.app}) // wake.go
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = lst.Listen(ctx) // returns when ctx is done
	}()
}

// HandleNotification drops the entries a notice makes stale.
func (l *changeListener) HandleNotification(ctx context.Context, n *pgconn.Notification, _ *pgx.Conn) error {
	notice, err := access.ParseNotice(n.Payload)
	if err != nil {
		l.chk.Reset() // unreadable: assume the worst
		l.resetTokens()
		return err
	}
	switch notice.Kind {
	case access.NoticeToken:
		switch {
		case l.tokens == nil:
		case notice.Token != "":
			l.tokens.Forget(notice.Token)
		default:
			l.tokens.Reset()
		}
	case access.NoticeGrant, access.NoticeProvisioning, access.NoticePerson:
		l.chk.Apply(notice)
	default: // all, or a kind this version does not know: assume the worst
		l.chk.Apply(notice)
		l.resetTokens()
	}
	return nil
}

func (l *changeListener) resetTokens() {
	if l.tokens != nil {
		l.tokens.Reset()
	}
}

// HandleBacklog runs once the listener listens, after every (re)connection:
// notifications sent while it was disconnected are lost, so every cached
// decision and token goes.
func (l *changeListener) HandleBacklog(ctx context.Context, channel string, _ *pgx.Conn) error {
	l.chk.Reset()
	l.resetTokens()
	l.failures.Store(0)
	l.connects.Add(1)
	return nil
}

// ListenerConnects counts the times the change listener has (re)connected
// and cleared the cache; 0 on SQLite. For tests and the benchmark.
func (a *App) ListenerConnects() int64 {
	if a.changes == nil {
		return 0
	}
	return a.changes.connects.Load()
}
