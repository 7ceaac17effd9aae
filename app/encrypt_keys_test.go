package app_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// TestServeRefusesBadEncryptKeys: a bad key of the encrypt mask style,
// from the environment or from the keys file, stops serve with a message
// that says which key and why.
func TestServeRefusesBadEncryptKeys(t *testing.T) {
	policy := writeFile(t, "policy.yaml", fmt.Sprintf(restartPolicy, "https://crm.example.com"))
	db := "sqlite:" + t.TempDir() + "/x.db"
	t.Setenv("CRM_SECRET", crmSecret)
	good := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 64))
	short := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32))
	for _, tc := range []struct {
		name, env, file, want string
	}{
		{"short", "k1:" + short, "", "JITACCESS_MASK_ENCRYPT_KEYS: entry 1: key \"k1\" is 32 bytes; it must be 64"},
		{"bad base64", "k1:" + good + ",k2:@@@", "", "entry 2: key \"k2\" is not valid base64"},
		{"duplicate", "k1:" + good + ",k1:" + good, "", `encrypt key id "k1" is given twice`},
		{"bad id", "k/1:" + good, "", `key id "k/1"`},
		{"file duplicate", "", "# keys\nold:" + good + "\n\nold:" + good + "\n", `keys.txt:4: key id "old" is already given on line 2`},
		{"file short", "", "a:" + short + "\n", `keys.txt:1: key "a" is 32 bytes`},
		{"both", "k1:" + good, "k1:" + good + "\n", "not both"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("JITACCESS_MASK_ENCRYPT_KEYS", tc.env)
			args := []string{"serve", "--policy", policy, "--database", db, "--listen", "127.0.0.1:0"}
			if tc.file != "" {
				args = append(args, "--mask-encrypt-keys-file", writeFile(t, "keys.txt", tc.file))
			}
			code, _, errOut := run(t, args...)
			if code != 1 || !strings.Contains(errOut, tc.want) {
				t.Fatalf("%d %q, want %q", code, errOut, tc.want)
			}
		})
	}
}

// TestTokenCreateDetokenizeScope: the CLI issues service tokens with the
// detokenize scope.
func TestTokenCreateDetokenizeScope(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		u := storetest.NewURL(t, kind)
		code, out, errOut := run(t, "token", "create", "--database", u, "--service", "crm", "--scope", "detokenize")
		if code != 0 || !tokenLine.MatchString(out) {
			t.Fatalf("create: %d %q %q", code, out, errOut)
		}
		code, out, _ = run(t, "token", "list", "--database", u)
		if code != 0 || !strings.Contains(out, "detokenize") {
			t.Fatalf("list: %d %q", code, out)
		}
	})
}

const encryptPolicy = `admins: [root@example.com]
groups:
  agents: [alice@example.com, bob@example.com]
resources:
  - id: crm-payments
    tier: low
    max_duration: 2h
    requesters: [agents]
    auto_approve: true
    fields:
      - {name: payment_card, mask: encrypt}
`

// TestServeDetokenize: serve with a keys file masks with tok2_ tokens of
// the newest key and opens them through the detokenize API for a user who
// holds a live grant.
func TestServeDetokenize(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		ctx := context.Background()
		u := storetest.NewURL(t, kind)
		db := storetest.OpenURL(t, u)
		now := workflow.Now()
		tok := map[string]string{}
		tok["alice"], _, _ = db.CreateToken(ctx, identity.NewToken{Kind: identity.TokenUser, Subject: "alice@example.com", Actor: "test"}, now)
		tok["helpdesk"], _, _ = db.CreateToken(ctx, identity.NewToken{Kind: identity.TokenService, Subject: "helpdesk", Scopes: []string{"check"}, Actor: "test"}, now)
		tok["crm"], _, _ = db.CreateToken(ctx, identity.NewToken{Kind: identity.TokenService, Subject: "crm", Scopes: []string{"detokenize"}, Actor: "test"}, now)
		k := func(b byte) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 64)) }
		keys := writeFile(t, "keys.txt", "# old\nk2026a:"+k(1)+"\n# newest\nk2026b:"+k(2)+"\n")
		c := startChild(t, "--database", u, "--policy", writeFile(t, "policy.yaml", encryptPolicy), "--mask-encrypt-keys-file", keys)

		code, body := httpJSON(t, "POST", c.base+"/api/v1/mask", tok["helpdesk"],
			`{"user":"bob@example.com","resource":"crm-payments","record":{"payment_card":"4111 1111 1111 1234"}}`)
		card, _ := body["record"].(map[string]any)["payment_card"].(string)
		if code != 200 || !strings.HasPrefix(card, "tok2_k2026b_") {
			t.Fatalf("mask: %d %v", code, body)
		}
		detok := `{"user":"alice@example.com","resource":"crm-payments","tokens":["` + card + `"]}`
		if code, body := httpJSON(t, "POST", c.base+"/api/v1/detokenize", tok["crm"], detok); code != 403 {
			t.Fatalf("without a grant: %d %v", code, body)
		}
		if code, body := httpJSON(t, "POST", c.base+"/api/v1/requests", tok["alice"], `{"resource":"crm-payments","duration":"1h","reason":"case 9"}`); code != 201 {
			t.Fatalf("submit: %d %v", code, body)
		}
		code, body = httpJSON(t, "POST", c.base+"/api/v1/detokenize", tok["crm"], detok)
		res, _ := body["results"].([]any)
		if code != 200 || len(res) != 1 || res[0].(map[string]any)["value"] != "4111 1111 1111 1234" {
			t.Fatalf("with a grant: %d %v", code, body)
		}
	})
}
