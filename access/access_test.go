package access_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/access"
	"github.com/jitaccess/jitaccess/masking"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

const policy = `admins: [root@example.com]
groups:
  agents: [alice@example.com, bob@example.com]
  managers: [carol@example.com, dave@example.com]
resources:
  - id: crm-payments
    tier: medium
    max_duration: 2h
    requesters: [agents]
    approvers: [managers]
    fields:
      - {name: payment_card, mask: last4}
      - {name: iban, mask: token}
      - {name: identity_document, mask: redact}
      - {name: customer.internal_notes, mask: redact}
  - id: crm-notes
    tier: medium
    max_duration: 2h
    requesters: [agents]
    approvers: [managers]
`

var (
	alice    = workflow.User("alice@example.com")
	carol    = workflow.User("carol@example.com")
	root     = workflow.User("root@example.com")
	helpdesk = workflow.ServiceAccount("helpdesk", workflow.ScopeCheck)
	tokenKey = []byte("a mask token key of 32 bytes!!!!")
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.now = c.now.Add(d) }

type env struct {
	db    *store.DB
	svc   *workflow.Service
	chk   *access.Checker
	clock *clock
}

func newEnv(t *testing.T, db *store.DB, opts access.Options) *env {
	t.Helper()
	pol, err := workflow.ParsePolicy("p.yaml", []byte(policy))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{db: db, clock: &clock{now: workflow.Now()}}
	e.svc = workflow.NewService(db, pol, workflow.Options{Now: e.clock.Now})
	opts.Logger = slog.New(slog.DiscardHandler)
	e.chk = access.New(e.svc, opts)
	e.svc.OnChange(e.chk.Hook)
	e.svc.OnCommit(e.chk.Committed)
	return e
}

func (e *env) grant(t *testing.T) *workflow.Request {
	t.Helper()
	ctx := context.Background()
	req, err := e.svc.Submit(ctx, alice, workflow.SubmitInput{Resource: "crm-payments", Duration: time.Hour, Reason: "case 12: refund"})
	if err != nil {
		t.Fatal(err)
	}
	if req, err = e.svc.Approve(ctx, carol, req.ID, ""); err != nil {
		t.Fatal(err)
	}
	return req
}

const customer = `{
		"id": "cus_1", "name": "Ada Lovelace",
		"payment_card": "4111 1111 1111 1234",
		"iban": "DE89370400440532013000",
		"identity_document": {"type": "passport", "number": "X123"},
		"customer": {"internal_notes": "VIP, angry"},
		"orders": [{"id": 1, "payment_card": 5500000000000004}]
	}`

func record(t *testing.T) json.RawMessage { return json.RawMessage(customer) }

// canon decodes and re-encodes JSON, keys sorted, numbers as sent.
func canon(t *testing.T, raw []byte) string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func TestMaskWithAndWithoutGrant(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, access.Options{TokenKey: tokenKey, CacheTTL: 5 * time.Second})
		ctx := context.Background()
		m := masking.NewMasker(tokenKey)

		res, err := e.chk.Mask(ctx, helpdesk, "Alice@Example.com", "crm-payments", record(t))
		if err != nil {
			t.Fatal(err)
		}
		wantMasked := []string{"customer.internal_notes", "iban", "identity_document", "orders[0].payment_card", "payment_card"}
		if res.Allowed || !reflect.DeepEqual(res.Masked, wantMasked) {
			t.Fatalf("without a grant: allowed %v masked %v", res.Allowed, res.Masked)
		}
		want := `{"customer":{"internal_notes":"[REDACTED]"},"iban":"` + m.Value(masking.Token, "DE89370400440532013000").(string) +
			`","id":"cus_1","identity_document":"[REDACTED]","name":"Ada Lovelace","orders":[{"id":1,"payment_card":"****0004"}],"payment_card":"****1234"}`
		if got := canon(t, res.Record); got != want {
			t.Fatalf("masked record\n got %s\nwant %s", got, want)
		}

		req := e.grant(t)
		res, err = e.chk.Mask(ctx, helpdesk, "alice@example.com", "crm-payments", record(t))
		if err != nil || !res.Allowed || len(res.Masked) != 0 || res.RequestID != req.ID {
			t.Fatalf("with a grant: %+v %v", res, err)
		}
		if string(res.Record) != customer {
			t.Fatalf("with a grant the record changed: %s", res.Record)
		}
		// Someone else still sees it masked.
		res, _ = e.chk.Mask(ctx, helpdesk, "bob@example.com", "crm-payments", record(t))
		if res.Allowed || len(res.Masked) != 5 {
			t.Fatalf("bob: %+v", res)
		}
		// A resource without fields declares nothing, but free text is
		// still scanned: the valid IBAN and card number are masked by the
		// same detectors that mask reasons; the rest passes through.
		res, _ = e.chk.Mask(ctx, helpdesk, "alice@example.com", "crm-notes", record(t))
		if res.Allowed || !reflect.DeepEqual(res.Masked, []string{"iban", "orders[0].payment_card"}) ||
			strings.Contains(string(res.Record), "DE89370400440532013000") || strings.Contains(string(res.Record), "5500000000000004") ||
			!strings.Contains(string(res.Record), `"name": "Ada Lovelace"`) {
			t.Fatalf("crm-notes: %+v %s", res, res.Record)
		}
	})
}

func TestWhoMayAsk(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, access.Options{TokenKey: tokenKey})
		ctx := context.Background()
		for _, tc := range []struct {
			who  workflow.Principal
			code workflow.Code
		}{
			{helpdesk, ""},
			{root, ""},
			{workflow.ServiceAccount("crm"), workflow.CodeForbidden},
			{workflow.ServiceAccount("crm", "other"), workflow.CodeForbidden},
			{alice, workflow.CodeForbidden}, // not even about herself
			{carol, workflow.CodeForbidden}, // approvers neither
		} {
			_, err := e.chk.Mask(ctx, tc.who, "alice@example.com", "crm-payments", record(t))
			if workflow.ErrorCode(err) != tc.code {
				t.Errorf("mask by %s: %v, want %q", tc.who.Name(), err, tc.code)
			}
			_, err = e.chk.Check(ctx, tc.who, "alice@example.com", "crm-payments")
			if workflow.ErrorCode(err) != tc.code {
				t.Errorf("check by %s: %v, want %q", tc.who.Name(), err, tc.code)
			}
		}
		for _, tc := range []struct {
			user, resource string
			rec            string
			code           workflow.Code
		}{
			{"", "crm-payments", `{}`, workflow.CodeInvalid},
			{"alice@example.com", "nope", `{}`, workflow.CodeNotFound},
			{"alice@example.com", "crm-payments", ``, workflow.CodeInvalid},
			{"alice@example.com", "crm-payments", ` null`, workflow.CodeInvalid},
			{"alice@example.com", "crm-payments", `[{"iban":"x"}]`, workflow.CodeInvalid},
			{"alice@example.com", "crm-payments", `{"iban":`, workflow.CodeInvalid},
			{strings.Repeat("a", 400) + "@example.com", "crm-payments", `{}`, workflow.CodeInvalid},
		} {
			if _, err := e.chk.Mask(ctx, helpdesk, tc.user, tc.resource, json.RawMessage(tc.rec)); workflow.ErrorCode(err) != tc.code {
				t.Errorf("mask %q %q: %v, want %s", tc.user, tc.resource, err, tc.code)
			}
		}
	})
}

// TestCacheInvalidation: on this replica a grant that starts or ends is
// seen by the very next call; a change made by another replica (written
// behind this one's back) is seen once the entry's TTL has passed.
func TestCacheInvalidation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, access.Options{TokenKey: tokenKey, CacheTTL: 5 * time.Second})
		ctx := context.Background()
		check := func() bool {
			t.Helper()
			r, err := e.chk.Check(ctx, helpdesk, "alice@example.com", "crm-payments")
			if err != nil {
				t.Fatal(err)
			}
			return r.Allowed
		}
		if check() {
			t.Fatal("allowed before any grant")
		}
		req := e.grant(t)
		if !check() {
			t.Fatal("the approval was not seen by the next check (stale denied)")
		}
		if _, err := e.svc.Revoke(ctx, carol, req.ID, "done"); err != nil {
			t.Fatal(err)
		}
		if check() {
			t.Fatal("the revoke was not seen by the next check (stale allowed)")
		}

		// Another replica approves: this one's cached "denied" holds until
		// its TTL, then the grant is seen.
		req = e.grant(t)
		waitReleased(t, e.chk)
		if !check() { // fills the cache
			t.Fatal("second grant not seen")
		}
		if err := db.Gorm().Exec(`UPDATE requests SET state = 'revoked', version = version + 1 WHERE id = ?`, req.ID).Error; err != nil {
			t.Fatal(err)
		}
		if !check() {
			t.Fatal("the cache was not used: a decision was read again within its TTL")
		}
		e.clock.Add(5 * time.Second)
		if check() {
			t.Fatal("a revoke on another replica is not seen after one TTL")
		}
	})
}

// waitReleased waits until the changes just made are seen committed, so
// that their keys may be cached again.
func waitReleased(t *testing.T, c *access.Checker) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); access.Held(c) > 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a committed change still holds its cache key")
		}
	}
}

// TestNoStaleAllowAfterRevoke races readers against a revoke: no check that
// starts after Revoke has returned may answer allowed, however the reads
// and the cache fills interleave with the commit.
func TestNoStaleAllowAfterRevoke(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, access.Options{TokenKey: tokenKey, CacheTTL: time.Hour, AuditMode: workflow.AuditNoChecks})
		ctx := context.Background()
		for round := 0; round < 5; round++ {
			req := e.grant(t)
			var revoked atomic.Bool
			var stale atomic.Int64
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for i := 0; i < 4; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						after := revoked.Load()
						r, err := e.chk.Check(ctx, helpdesk, "alice@example.com", "crm-payments")
						if err != nil {
							t.Error(err)
							return
						}
						if after && r.Allowed {
							stale.Add(1)
						}
					}
				}()
			}
			time.Sleep(20 * time.Millisecond)
			if _, err := e.svc.Revoke(ctx, carol, req.ID, "done"); err != nil {
				t.Fatal(err)
			}
			revoked.Store(true)
			time.Sleep(50 * time.Millisecond)
			close(stop)
			wg.Wait()
			if n := stale.Load(); n > 0 {
				t.Fatalf("round %d: %d checks after the revoke answered allowed", round, n)
			}
		}
	})
}

func TestAuditModes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		for _, tc := range []struct {
			mode       workflow.CheckAuditMode
			want       int // records for: check denied, mask denied, check allowed, mask allowed
			maskReason string
		}{
			{workflow.AuditAllChecks, 4, "no live grant; masked 5: customer.internal_notes, iban, identity_document, orders[0].payment_card, payment_card"},
			{workflow.AuditAllowedChecks, 2, "unmasked: live grant until"},
			{workflow.AuditNoChecks, 0, ""},
		} {
			t.Run(string(tc.mode), func(t *testing.T) {
				db := storetest.Open(t, db.Kind())
				e := newEnv(t, db, access.Options{TokenKey: tokenKey, CacheTTL: time.Minute, AuditMode: tc.mode})
				ctx := context.Background()
				_, _ = e.chk.Check(ctx, helpdesk, "alice@example.com", "crm-payments")
				_, _ = e.chk.Mask(ctx, helpdesk, "alice@example.com", "crm-payments", record(t))
				e.grant(t)
				_, _ = e.chk.Check(ctx, root, "alice@example.com", "crm-payments")
				_, _ = e.chk.Mask(ctx, helpdesk, "alice@example.com", "crm-payments", record(t))
				var recs []*workflow.AuditRecord
				for _, action := range []string{workflow.ActionCheck, access.ActionMask} {
					got, _, err := db.ListAudit(ctx, workflow.AuditQuery{Action: action, Ascending: true, Limit: 50})
					if err != nil {
						t.Fatal(err)
					}
					recs = append(recs, got...)
				}
				if len(recs) != tc.want {
					t.Fatalf("%d audit records, want %d", len(recs), tc.want)
				}
				for _, r := range recs {
					if r.Subject != "alice@example.com" || r.Resource != "crm-payments" || (r.Actor != "service:helpdesk" && r.Actor != "root@example.com") {
						t.Fatalf("record %+v", r)
					}
					if r.Action == access.ActionMask && strings.HasPrefix(r.Reason, tc.maskReason) {
						tc.maskReason = ""
					}
				}
				if tc.maskReason != "" {
					t.Fatalf("no mask record says %q", tc.maskReason)
				}
			})
		}
	})
}

// TestAuditGroupCommit: concurrent calls each get their own audit record,
// committed before they return.
func TestAuditGroupCommit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, access.Options{TokenKey: tokenKey, CacheTTL: time.Minute})
		ctx := context.Background()
		const n = 60
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				user := fmt.Sprintf("user%d@example.com", i)
				if _, err := e.chk.Mask(ctx, helpdesk, user, "crm-payments", record(t)); err != nil {
					t.Error(err)
					return
				}
				recs, _, err := db.ListAudit(ctx, workflow.AuditQuery{Subject: user, Limit: 5})
				if err != nil || len(recs) != 1 {
					t.Errorf("%s: %d records when the call returned (%v)", user, len(recs), err)
				}
			}()
		}
		wg.Wait()
	})
}

// TestUnauditedReadIsRefused: when the audit log cannot be written, check
// and mask answer an error, never the data.
func TestUnauditedReadIsRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, access.Options{TokenKey: tokenKey, CacheTTL: time.Minute})
		ctx := context.Background()
		e.grant(t)
		breakAudit(t, db)
		if res, err := e.chk.Mask(ctx, helpdesk, "alice@example.com", "crm-payments", record(t)); err == nil || res.Record != nil {
			t.Fatalf("mask without audit: %+v %v", res, err)
		}
		if _, err := e.chk.Check(ctx, helpdesk, "alice@example.com", "crm-payments"); err == nil {
			t.Fatal("check without audit succeeded")
		}
	})
}

func TestNoTokenKeyFailsClosed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, access.Options{})
		res, err := e.chk.Mask(context.Background(), helpdesk, "alice@example.com", "crm-payments", record(t))
		if err != nil || !strings.Contains(string(res.Record), `"iban": "[REDACTED]"`) {
			t.Fatalf("without a key: %s %v", res.Record, err)
		}
		if e.chk.CanTokenize() {
			t.Fatal("CanTokenize without a key")
		}
	})
}

func breakAudit(t *testing.T, db *store.DB) {
	t.Helper()
	stmts := []string{`CREATE TRIGGER fail_audit BEFORE INSERT ON audit_records BEGIN SELECT RAISE(ABORT, 'audit log unavailable'); END`}
	if db.Kind() == store.Postgres {
		stmts = []string{
			`CREATE FUNCTION fail_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit log unavailable'; END $$`,
			`CREATE TRIGGER fail_audit BEFORE INSERT ON audit_records FOR EACH ROW EXECUTE FUNCTION fail_audit()`,
		}
	}
	for _, s := range stmts {
		if err := db.Gorm().Exec(s).Error; err != nil {
			t.Fatal(err)
		}
	}
}

// TestAsyncAudit: with a flush interval, answers do not wait for their
// audit records, and Close commits every record still queued.
func TestAsyncAudit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, access.Options{TokenKey: tokenKey, CacheTTL: time.Minute, AuditFlush: time.Hour})
		ctx := context.Background()
		const n = 50
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := e.chk.Mask(ctx, helpdesk, fmt.Sprintf("user%d@example.com", i), "crm-payments", record(t)); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		count := func() int {
			recs, _, err := db.ListAudit(ctx, workflow.AuditQuery{Action: access.ActionMask, Limit: 500})
			if err != nil {
				t.Fatal(err)
			}
			return len(recs)
		}
		if got := count(); got != 0 {
			t.Fatalf("%d records committed before the first flush (interval 1h)", got)
		}
		if err := e.chk.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if got := count(); got != n {
			t.Fatalf("%d records after Close, want %d", got, n)
		}

		// A short interval commits without Close.
		e2 := newEnv(t, db, access.Options{TokenKey: tokenKey, AuditFlush: 10 * time.Millisecond})
		if _, err := e2.chk.Check(ctx, helpdesk, "late@example.com", "crm-payments"); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			recs, _, _ := db.ListAudit(ctx, workflow.AuditQuery{Subject: "late@example.com", Limit: 5})
			if len(recs) == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the record was never flushed")
			}
		}
		if err := e2.chk.Close(ctx); err != nil {
			t.Fatal(err)
		}
	})
}
