package slackapp

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/workflow"
)

// TestLargeCatalogFitsTheBodyLimit: Slack sends the whole form back with
// every submission; with the most resources a menu can hold, and the
// longest ids and names, that stays inside the API's 64 KiB body limit.
func TestLargeCatalogFitsTheBodyLimit(t *testing.T) {
	var can []workflow.ResourceView
	for i := range 150 {
		id := fmt.Sprintf("r%03d-%s", i, strings.Repeat("x", 58))
		can = append(can, workflow.ResourceView{Resource: &workflow.Resource{ID: id, Name: strings.Repeat("N", 120),
			Tier: workflow.TierCritical, MaxDuration: 168 * time.Hour}, CanRequest: true})
	}
	view := requestForm(can, "", "/access")
	raw, _ := json.Marshal(view)
	if n := strings.Count(string(raw), `"value":"r`); n != maxOptions {
		t.Fatalf("%d resource options, want %d", n, maxOptions)
	}
	if !strings.Contains(string(raw), "Only the first 100 resources are listed") {
		t.Fatal("the form does not say that resources were left out")
	}
	payload, _ := json.Marshal(map[string]any{"type": "view_submission", "user": map[string]any{"id": "U0123456789"},
		"view": json.RawMessage(raw), "state": map[string]any{"values": map[string]any{"reason": map[string]any{"reason": map[string]any{
			"type": "plain_text_input", "value": strings.Repeat("é", workflow.MaxReasonLen)}}}}})
	body := url.Values{"payload": {string(payload)}}.Encode()
	t.Logf("%d bytes", len(body))
	if len(body) > 60<<10 {
		t.Fatalf("a submission of the largest form is %d bytes", len(body))
	}
}
