package alert_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/alert"
)

func TestSlack(t *testing.T) {
	var got map[string]any
	status, answer, retry := 200, `{"ok":true}`, ""
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer xoxb-test" || r.Method != http.MethodPost {
			t.Errorf("request %s %s", r.Method, r.Header.Get("Authorization"))
		}
		got = nil
		json.NewDecoder(r.Body).Decode(&got)
		if retry != "" {
			w.Header().Set("Retry-After", retry)
		}
		w.WriteHeader(status)
		w.Write([]byte(answer))
	}))
	defer srv.Close()
	s := &alert.Slack{Token: "xoxb-test", Channel: "C123", URL: srv.URL, Link: func(id string) string { return "https://jit.example.com/requests/" + id }}
	a := alert.Alert{Kind: "rubber_stamp", Severity: alert.Warning, Summary: "carol approved <fast>", Details: "4s", Links: []string{"r1"}, At: time.Now()}
	if err := s.Send(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	text, _ := got["text"].(string)
	if got["channel"] != "C123" || !strings.Contains(text, "carol approved &lt;fast&gt;") || !strings.Contains(text, "<https://jit.example.com/requests/r1|r1>") {
		t.Fatalf("posted %v", got)
	}
	for _, tc := range []struct {
		status       int
		answer, want string
		retry        string
	}{
		{200, `{"ok":false,"error":"channel_not_found"}`, "permanent", ""},
		{200, `{"ok":false,"error":"fatal_error"}`, "retry", ""},
		{429, `{"ok":false,"error":"ratelimited"}`, "retry-after", "7"},
		{502, `bad gateway`, "retry", ""},
	} {
		status, answer, retry = tc.status, tc.answer, tc.retry
		err := s.Send(context.Background(), a)
		if err == nil {
			t.Fatalf("%d %s: no error", tc.status, tc.answer)
		}
		kind := typeName(err)
		switch tc.want {
		case "permanent":
			if kind != "queue.permanentError" {
				t.Errorf("%d %s: %v is %s, want permanent", tc.status, tc.answer, err, kind)
			}
		case "retry-after":
			if kind != "queue.retryAfterError" {
				t.Errorf("%d %s: %v is %s, want retry after", tc.status, tc.answer, err, kind)
			}
		default:
			if kind == "queue.permanentError" {
				t.Errorf("%d %s: %v is permanent, want a retry", tc.status, tc.answer, err)
			}
		}
	}
}

// kind names the queue's error type: queue.permanentError,
// queue.retryAfterError or another.
func typeName(err error) string { return fmt.Sprintf("%T", err) }

func TestLogAndMulti(t *testing.T) {
	var buf bytes.Buffer
	l := alert.Log{Logger: slog.New(slog.NewTextHandler(&buf, nil))}
	failing := senderFunc(func(context.Context, alert.Alert) error { return errors.New("down") })
	err := alert.Multi{l, failing}.Send(context.Background(), alert.Alert{Kind: "audit_chain", Severity: alert.Critical, Summary: "audit chain broken at record 7"})
	if err == nil || !strings.Contains(err.Error(), "down") {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(buf.String(), "level=ERROR") || !strings.Contains(buf.String(), "audit chain broken at record 7") {
		t.Fatalf("log: %s", buf.String())
	}
}

type senderFunc func(context.Context, alert.Alert) error

func (f senderFunc) Send(ctx context.Context, a alert.Alert) error { return f(ctx, a) }
