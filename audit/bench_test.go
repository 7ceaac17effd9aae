package audit_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jitaccess/jitaccess/audit"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// benchRecords is the size of the log the benchmarks build: 1,000,000
// unless JITACCESS_BENCH_AUDIT_RECORDS says otherwise.
func benchRecords(b *testing.B) int {
	if s := os.Getenv("JITACCESS_BENCH_AUDIT_RECORDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1000 {
			b.Fatalf("JITACCESS_BENCH_AUDIT_RECORDS=%q: want a number >= 1000", s)
		}
		return n
	}
	return 1_000_000
}

// loadLog fills db with n records shaped like a busy installation: four
// records per request (submit, two approvals, expire), 2,000 people, 40
// resources, a record a few seconds apart. It appends through AppendAudit,
// 2,000 records per transaction, so the chain is the real one.
func loadLog(b *testing.B, db *store.DB, n int) (requests []string, people []string) {
	ctx := context.Background()
	start := time.Now()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for p := 0; p < 2000; p++ {
		people = append(people, fmt.Sprintf("person%04d@example.com", p))
	}
	actions := []string{"submit", "approve", "approve", "expire"}
	const per = 2000
	for i := 0; i < n; i += per {
		recs := make([]*workflow.AuditRecord, 0, per)
		for j := i; j < min(i+per, n); j++ {
			k := j / 4
			if j%4 == 0 {
				requests = append(requests, uuid.Must(uuid.NewV7()).String())
			}
			subject := people[k%len(people)]
			actor := subject
			switch j % 4 {
			case 1, 2:
				actor = people[(k*7+j%4)%len(people)]
			case 3:
				actor = "system"
			}
			at = at.Add(3 * time.Second)
			recs = append(recs, &workflow.AuditRecord{At: at, Actor: actor, Action: actions[j%4], RequestID: requests[len(requests)-1],
				Resource: fmt.Sprintf("resource-%02d", k%40), Subject: subject, Reason: "ticket INC-" + strconv.Itoa(k)})
		}
		if err := db.InTx(ctx, func(tx workflow.Tx) error { return tx.AppendAudit(ctx, recs...) }); err != nil {
			b.Fatal(err)
		}
	}
	if db.Kind() == store.Postgres {
		if err := db.Gorm().Exec("VACUUM ANALYZE audit_records").Error; err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("loaded %d records in %s", n, time.Since(start).Round(time.Millisecond))
	return requests, people
}

// BenchmarkAudit1M measures audit verify over the whole log and the audit
// queries the API serves (by request, by person; one page of 50, newest
// first) on a log of 1,000,000 records in PostgreSQL.
//
//	go test ./audit -run '^$' -bench Audit1M -benchtime 20x -timeout 30m
func BenchmarkAudit1M(b *testing.B) {
	db := storetest.Open(b, store.Postgres)
	n := benchRecords(b)
	requests, people := loadLog(b, db, n)
	ctx := context.Background()
	pol, err := workflow.ParsePolicy("bench.yaml", []byte("admins: [root@example.com]\ngroups:\n  g: [a@example.com]\nresources:\n  - {id: r, tier: low, max_duration: 1h, requesters: [g], auto_approve: true}\n"))
	if err != nil {
		b.Fatal(err)
	}
	svc := workflow.NewService(db, pol, workflow.Options{})
	root := workflow.User("root@example.com")

	b.Run("verify", func(b *testing.B) {
		for b.Loop() {
			res, err := audit.Verify(ctx, db)
			if err != nil || !res.OK || res.Records != int64(n) {
				b.Fatalf("%+v %v", res, err)
			}
		}
		b.ReportMetric(float64(n)/(b.Elapsed().Seconds()/float64(b.N)), "records/s")
	})
	// The witness's minute: the last 1,000 records, from a witnessed head.
	b.Run("witness_check_1000", func(b *testing.B) {
		recs, err := db.AuditChain(ctx, int64(n-1001), 1)
		if err != nil || len(recs) != 1 {
			b.Fatal(err)
		}
		from := audit.Checkpoint{ID: recs[0].ID, Hash: recs[0].Hash}
		for b.Loop() {
			res, err := audit.VerifyFrom(ctx, db, from)
			if err != nil || !res.OK || res.Records != 1001 {
				b.Fatalf("%+v %v", res, err)
			}
		}
	})
	b.Run("query_by_request", func(b *testing.B) {
		i := 0
		for b.Loop() {
			recs, _, err := svc.Audit(ctx, root, workflow.AuditQuery{RequestID: requests[(i*7919)%len(requests)]})
			if err != nil || len(recs) == 0 {
				b.Fatalf("%d records, %v", len(recs), err)
			}
			i++
		}
	})
	b.Run("query_by_person", func(b *testing.B) {
		i := 0
		for b.Loop() {
			recs, _, err := svc.Audit(ctx, root, workflow.AuditQuery{Person: people[(i*31)%len(people)]})
			if err != nil || len(recs) != 50 {
				b.Fatalf("%d records, %v", len(recs), err)
			}
			i++
		}
	})
	b.Run("query_by_person_page_2", func(b *testing.B) {
		i := 0
		for b.Loop() {
			p := people[(i*31)%len(people)]
			_, next, err := svc.Audit(ctx, root, workflow.AuditQuery{Person: p})
			if err != nil || next == "" {
				b.Fatal(err)
			}
			recs, _, err := svc.Audit(ctx, root, workflow.AuditQuery{Person: p, Cursor: next})
			if err != nil || len(recs) == 0 {
				b.Fatalf("%d records, %v", len(recs), err)
			}
			i++
		}
	})
}

// BenchmarkSweep100k measures the core's sweeper target with the hash
// chain in place: 100,000 approved requests past their expiry, ended in
// one Sweep on PostgreSQL, with an audit record chained for each (the
// sweeper appends up to 500 per transaction). Expiry times are spread
// over the last 17 minutes, as a busy installation's would be.
//
//	go test ./audit -run '^$' -bench Sweep100k -benchtime 3x -timeout 30m
func BenchmarkSweep100k(b *testing.B) {
	db := storetest.Open(b, store.Postgres)
	ctx := context.Background()
	pol, err := workflow.ParsePolicy("bench.yaml", []byte("admins: [root@example.com]\ngroups:\n  g: [a@example.com]\nresources:\n  - {id: r, tier: low, max_duration: 1h, requesters: [g], auto_approve: true}\n"))
	if err != nil {
		b.Fatal(err)
	}
	svc := workflow.NewService(db, pol, workflow.Options{})
	const n = 100_000
	for b.Loop() {
		b.StopTimer()
		err := db.Gorm().Exec(`INSERT INTO requests (id, requester, resource, tier, reason, duration_seconds, state, required_approvals, version,
			created_at, updated_at, review_deadline, approved_at, expires_at)
			SELECT gen_random_uuid(), 'user' || i || '@example.com', 'resource-' || (i % 50), 'medium', 'bench', 3600, 'approved', 1, 1,
			       now() - interval '2 hours', now() - interval '2 hours', now() + interval '22 hours', now() - interval '2 hours',
			       now() - interval '1 hour' - i * interval '10 milliseconds'
			FROM generate_series(1, ?) AS i`, n).Error
		if err != nil {
			b.Fatal(err)
		}
		db.Gorm().Exec("ANALYZE requests")
		b.StartTimer()
		res, err := svc.Sweep(ctx)
		if err != nil || res.Expired != n {
			b.Fatalf("%+v %v", res, err)
		}
		b.StopTimer()
		if err := db.Gorm().Exec("DELETE FROM requests").Error; err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	vr, err := audit.Verify(ctx, db)
	if err != nil || !vr.OK || vr.Records != int64(n*b.N) {
		b.Fatalf("chain after the sweeps: %+v %v", vr, err)
	}
}

// BenchmarkConcurrentWrites shows what the chain lock costs writers that
// run at once: 16 goroutines, each transaction one small insert, with the
// audit chain (AppendAudit: lock, last hash, insert) and, as the baseline
// measured in the same run, without it (an outbox job, the same kind of
// single-row insert and commit).
//
//	go test ./audit -run '^$' -bench ConcurrentWrites -benchtime 3000x
func BenchmarkConcurrentWrites(b *testing.B) {
	db := storetest.Open(b, store.Postgres)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		write func(tx workflow.Tx) error
	}{
		{"chained_audit", func(tx workflow.Tx) error {
			return tx.AppendAudit(ctx, &workflow.AuditRecord{At: workflow.Now(), Actor: "bench", Action: "bench", Reason: "x"})
		}},
		{"baseline_insert", func(tx workflow.Tx) error {
			return tx.Enqueue(ctx, workflow.Job{Queue: "bench", Payload: []byte("x")})
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetParallelism(8) // 16 goroutines on 2 cores
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := db.InTx(ctx, tc.write); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tx/s")
		})
	}
}
