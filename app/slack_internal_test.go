package app

import (
	"bytes"
	"strings"
	"testing"
)

// TestSlackFlagsHideSecrets: secrets taken from the environment are not
// flag defaults, so -h never prints them; the flag still wins over the
// environment.
func TestSlackFlagsHideSecrets(t *testing.T) {
	t.Setenv("SLACK_BOT_TOKEN", "xoxb-very-secret-token")
	t.Setenv("SLACK_SIGNING_SECRET", "very-secret-signing")
	f := newFlagSet("serve")
	var c SlackConfig
	f.slack(&c)
	var help bytes.Buffer
	f.SetOutput(&help)
	f.PrintDefaults()
	if !strings.Contains(help.String(), "-slack-signing-secret") || strings.Contains(help.String(), "very-secret") {
		t.Fatalf("help:\n%s", help.String())
	}
	if c.BotToken != "xoxb-very-secret-token" || c.SigningSecret != "very-secret-signing" {
		t.Fatalf("environment not read: %+v", c)
	}
	if err := f.parse([]string{"--slack-signing-secret", "from-flag"}); err != nil || c.SigningSecret != "from-flag" {
		t.Fatalf("flag: %v %q", err, c.SigningSecret)
	}
}
