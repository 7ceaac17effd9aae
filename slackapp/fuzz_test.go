package slackapp

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/jitaccess/jitaccess/workflow"
)

const fuzzSecret = "8f742231b10e8888abcd99yyyzzz85a5"

func fuzzSign(ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(fuzzSecret))
	m.Write([]byte("v0:" + ts + ":"))
	m.Write(body)
	return "v0=" + hex.EncodeToString(m.Sum(nil))
}

// FuzzVerify: the signature check never panics and accepts a body only
// with the right signature for that very body and a fresh timestamp; a
// signature that is not the HMAC of the body is always refused.
func FuzzVerify(f *testing.F) {
	now := strconv.FormatInt(time.Now().Unix(), 10)
	f.Add([]byte("command=%2Faccess&text=list"), now, "")
	f.Add([]byte("payload=%7B%7D"), now, "v0=00")
	f.Add([]byte(""), "", "")
	f.Add([]byte("x"), "not-a-number", "v0=zz")
	f.Add([]byte("x"), "1", "")
	f.Fuzz(func(t *testing.T, body []byte, ts, sig string) {
		h := http.Header{}
		h.Set("X-Slack-Request-Timestamp", ts)
		good := fuzzSign(ts, body)
		if sig == "" {
			sig = good
		}
		h.Set("X-Slack-Signature", sig)
		reason := verify(h, body, fuzzSecret)
		if reason == "" && !hmac.Equal([]byte(sig), []byte(good)) {
			t.Fatalf("accepted a wrong signature %q for %q", sig, body)
		}
		if reason == "" {
			n, err := strconv.ParseInt(ts, 10, 64)
			if err != nil || time.Since(time.Unix(n, 0)).Abs() > 6*time.Minute {
				t.Fatalf("accepted timestamp %q", ts)
			}
		}
	})
}

// FuzzParsePayload: a signed body goes through parseForm and the
// interaction payload decoding (and a slash command's text through
// parseDirect) without a panic; every refusal is a workflow error with a
// client code.
func FuzzParsePayload(f *testing.F) {
	for _, s := range []string{
		"command=%2Faccess&text=crm-notes+2h+case+4711+ticket%3AABC-1&user_id=U1",
		"payload=%7B%22type%22%3A%22block_actions%22%7D",
		"payload=%7B%22type%22%3A%22view_submission%22%2C%22view%22%3A%7B%22private_metadata%22%3A%22%7B%7D%22%7D%7D",
		"payload=not-json", "%zz", "text=%00", "payload=%7B%22type%22%3A1%7D", "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		clientErr := func(err error) {
			var we *workflow.Error
			if err != nil && (!errors.As(err, &we) || we.Code == "" || we.Code == workflow.CodeInternal) {
				t.Fatalf("%q: %v is not a workflow error with a client code", body, err)
			}
		}
		form, err := parseForm(body)
		clientErr(err)
		if err != nil {
			return
		}
		var cb slack.InteractionCallback
		if json.Unmarshal([]byte(form.Get("payload")), &cb) == nil {
			var meta map[string]any
			_ = json.Unmarshal([]byte(cb.View.PrivateMetadata), &meta)
		}
		_, err = parseDirect(form.Get("text"))
		clientErr(err)
	})
}
