package workflow_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// benchReason is a 1,000-character reason of the kind agents write: words,
// case and order numbers (one failing Luhn, so nothing is masked and the
// stored rows are the same size with and without the scan), a date, a URL.
var benchReason = func() string {
	s := strings.Repeat("Customer 88123 called on 2026-11-23 about order 4111111111111112; "+
		"refund pending, see https://crm.example.com/cases/4471?tab=payments for the history. ", 8)
	return s[:1000]
}()

// BenchmarkFreeTextSubmit measures a whole Submit on SQLite (one
// transaction: insert and audit) with a 1,000-character reason, with the
// free-text scan and without it, in the same run. The request is cancelled
// between iterations, off the timer.
func BenchmarkFreeTextSubmit(b *testing.B) {
	for _, scan := range []bool{false, true} {
		name := "noscan"
		if scan {
			name = "scan"
		}
		b.Run(name, func(b *testing.B) {
			db := storetest.Open(b, store.SQLite)
			c := newClock()
			svc := maskingService(b, db, c)
			workflow.SetFreeTextScan(scan)
			defer workflow.SetFreeTextScan(true)
			ctx := context.Background()
			for b.Loop() {
				req, err := svc.Submit(ctx, alice, workflow.SubmitInput{Resource: "crm-notes", Duration: time.Hour, Reason: benchReason})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if _, err := svc.Cancel(ctx, alice, req.ID, ""); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

// BenchmarkFreeTextCheckSubmission measures the validation alone, with and
// without the scan: the difference is the scan's cost.
func BenchmarkFreeTextCheckSubmission(b *testing.B) {
	p, err := workflow.ParsePolicy("test.yaml", []byte(testPolicy+patternPolicy))
	if err != nil {
		b.Fatal(err)
	}
	builtin := mustPolicy(b)
	in := workflow.SubmitInput{Resource: "crm-notes", Duration: time.Hour, Reason: benchReason}
	for _, v := range []struct {
		name string
		scan bool
		pol  *workflow.Policy
	}{{"noscan", false, p}, {"scan-builtin", true, builtin}, {"scan-builtin+pattern", true, p}} {
		b.Run(v.name, func(b *testing.B) {
			workflow.SetFreeTextScan(v.scan)
			defer workflow.SetFreeTextScan(true)
			b.ReportAllocs()
			for b.Loop() {
				if _, _, _, err := workflow.CheckSubmission(v.pol, alice, in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
