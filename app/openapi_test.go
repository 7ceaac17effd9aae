package app_test

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/jitaccess/jitaccess/app"
	"github.com/jitaccess/jitaccess/slackapp/slacktest"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/web/api"
)

// TestOpenAPICoversEveryRoute boots the whole server (oversight, metrics,
// Slack's admin endpoints) and fails for any route under /api/v1 that the
// served OpenAPI document lacks, or an operation it describes that is not
// served.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	fake := slacktest.NewServer(t)
	fake.AddChannel("#access")
	a, base := boot(t, app.Config{DatabaseURL: storetest.NewURL(t, store.SQLite), PolicyFile: writeFile(t, "policy.yaml", goodPolicy),
		Slack: app.SlackConfig{BotToken: slacktest.Token, SigningSecret: "s", Channel: "#access", APIURL: fake.APIURL(), ExpiryWarning: time.Minute}})
	resp, err := http.Get(base + "/api/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("openapi.json: %d %s", resp.StatusCode, raw)
	}
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("invalid document: %v", err)
	}
	routes := a.Web.Echo().Routes()
	if missing := api.Undescribed(routes, doc); len(missing) > 0 {
		t.Fatalf("routes the OpenAPI document lacks: %v", missing)
	}
	served := map[string]bool{}
	for _, r := range routes {
		served[r.Method+" "+r.Path] = true
	}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			if !served[method+" "+echoPath(path)] {
				t.Errorf("the document describes %s %s, which is not served", method, path)
			}
		}
	}
	if doc.Paths.Find("/api/v1/slack/failures") == nil {
		t.Fatal("Slack's admin endpoints are not described")
	}
}

// echoPath turns OpenAPI's /requests/{id} into echo's /requests/:id.
func echoPath(p string) string {
	out := []byte{}
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '{':
			out = append(out, ':')
		case '}':
		default:
			out = append(out, p[i])
		}
	}
	return string(out)
}
