package app_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
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
