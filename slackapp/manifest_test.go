package slackapp_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/jitaccess/jitaccess/slackapp"
)

// TestManifestMatchesCode: the app manifest points Slack at the paths the
// server serves and asks for the scopes the code uses.
func TestManifestMatchesCode(t *testing.T) {
	raw, err := os.ReadFile("../slack/manifest.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Features struct {
			SlashCommands []struct {
				Command string `yaml:"command"`
				URL     string `yaml:"url"`
			} `yaml:"slash_commands"`
		} `yaml:"features"`
		OAuth struct {
			Scopes struct {
				Bot []string `yaml:"bot"`
			} `yaml:"scopes"`
		} `yaml:"oauth_config"`
		Settings struct {
			Interactivity struct {
				Enabled    bool   `yaml:"is_enabled"`
				RequestURL string `yaml:"request_url"`
			} `yaml:"interactivity"`
		} `yaml:"settings"`
	}
	if err := yaml.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Features.SlashCommands) != 1 || m.Features.SlashCommands[0].Command != "/access" ||
		!strings.HasSuffix(m.Features.SlashCommands[0].URL, slackapp.CommandsPath) {
		t.Fatalf("slash command: %+v", m.Features.SlashCommands)
	}
	if !m.Settings.Interactivity.Enabled || !strings.HasSuffix(m.Settings.Interactivity.RequestURL, slackapp.InteractionsPath) {
		t.Fatalf("interactivity: %+v", m.Settings.Interactivity)
	}
	for _, scope := range []string{"commands", "chat:write", "im:write", "users:read", "users:read.email"} {
		if !slices.Contains(m.OAuth.Scopes.Bot, scope) {
			t.Errorf("scope %s missing", scope)
		}
	}
}
