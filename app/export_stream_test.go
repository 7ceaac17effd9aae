package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/app"
	"github.com/jitaccess/jitaccess/audit"
	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// slowClient reads through a small receive buffer, so that a large
// response stays blocked in the server's writes until the client reads it.
func slowClient() *http.Client {
	d := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 8<<10) })
		if err != nil {
			return err
		}
		return serr
	}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableCompression: true}}
}

// slowGet waits, then reads the body in small pieces with pauses, as a
// slow client would; it returns what it read and how reading ended.
func slowGet(t *testing.T, url, token string, wait time.Duration) (int, []byte, error) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := slowClient().Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	time.Sleep(wait)
	var body bytes.Buffer
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		body.Write(buf[:n])
		if err == io.EOF {
			return resp.StatusCode, body.Bytes(), nil
		}
		if err != nil {
			return resp.StatusCode, body.Bytes(), err
		}
		time.Sleep(time.Millisecond)
	}
}

// TestExportOutlivesWriteTimeout: an audit export read slowly for longer
// than the server's WriteTimeout arrives whole, with an intact chain,
// while an ordinary response read as slowly is still cut at the deadline.
func TestExportOutlivesWriteTimeout(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		a, base := boot(t, app.Config{DatabaseURL: storetest.NewURL(t, kind), PolicyFile: writeFile(t, "policy.yaml", goodPolicy),
			WriteTimeout: time.Second})
		ctx := context.Background()
		now := workflow.Now()
		root, _, err := a.DB.CreateToken(ctx, identity.NewToken{Kind: identity.TokenUser, Subject: "root@example.com", Actor: "test"}, now)
		if err != nil {
			t.Fatal(err)
		}
		// 3000 records of 1 KiB, then 500 of 16 KiB (the newest, the API's
		// first page): an 11 MiB export and an 8 MiB page, far more than
		// the socket buffers hold.
		const n = 3500
		recs := make([]*workflow.AuditRecord, n)
		for i := range recs {
			size := 1 << 10
			if i >= 3000 {
				size = 16 << 10
			}
			recs[i] = &workflow.AuditRecord{At: now, Actor: "system", Action: workflow.ActionCheck, Resource: "crm-notes",
				Subject: "alice@example.com", Reason: strings.Repeat("x", size)}
		}
		if err := a.DB.InTx(ctx, func(tx workflow.Tx) error { return tx.AppendAudit(ctx, recs...) }); err != nil {
			t.Fatal(err)
		}
		t.Logf("seeded in %s", time.Since(now))
		var before int64
		{
			code, body, err := slowGet(t, base+"/api/v1/audit/export?format=jsonl", root, 0)
			if err != nil || code != 200 {
				t.Fatalf("fast export: %d %v", code, err)
			}
			res, err := audit.VerifyExport(bytes.NewReader(body), false, nil)
			if err != nil || !res.OK {
				t.Fatalf("fast export verify: %+v %v", res, err)
			}
			before = res.Records
		}
		if before < n {
			t.Fatalf("export holds %d records, want at least %d", before, n)
		}

		start := time.Now()
		code, body, err := slowGet(t, base+"/api/v1/audit/export?format=jsonl", root, 1500*time.Millisecond)
		took := time.Since(start)
		if err != nil || code != 200 {
			t.Fatalf("slow export: %d, %d bytes in %s, %v", code, len(body), took, err)
		}
		if took < 2*time.Second {
			t.Fatalf("the slow export took %s: not slower than the write timeout, the test proves nothing", took)
		}
		t.Logf("slow export: %d bytes in %s", len(body), took)
		res, err := audit.VerifyExport(bytes.NewReader(body), false, nil)
		if err != nil || !res.OK {
			t.Fatalf("slow export verify: %+v %v", res, err)
		}
		// The export is recorded in the log before it is sent, so each
		// export holds one more record than the one before it.
		if res.Records != before+1 {
			t.Fatalf("slow export: %d records, want %d", res.Records, before+1)
		}

		// An ordinary endpoint keeps the server's deadline: 500 records
		// of 16 KiB read as slowly are cut short.
		code, body, err = slowGet(t, base+"/api/v1/audit?limit=500", root, 1500*time.Millisecond)
		var page map[string]any
		if err == nil && json.Unmarshal(body, &page) == nil {
			t.Fatalf("audit page read slowly: %d, %d bytes complete; want it cut at the write timeout", code, len(body))
		}
	})
}
