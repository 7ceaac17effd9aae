package app_test

import (
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jitaccess/jitaccess/app"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
)

func TestServeRefusesBadWebConfig(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "x.db")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--oidc-issuer", "https://idp.example.com"}, "--oidc-client-id is not"},
		{[]string{"--oidc-issuer", "https://idp.example.com", "--oidc-client-id", "jit"}, "set --public-url"},
		{[]string{"--oidc-issuer", "http://idp.example.com", "--oidc-client-id", "jit", "--public-url", "https://jit.example.com"}, "use an https:// URL"},
		{[]string{"--oidc-client-id", "jit"}, "--oidc-issuer is not"},
		{[]string{"--public-url", "jit.example.com"}, "--public-url"},
		{[]string{"--public-url", "https://jit.example.com/app"}, "--public-url"},
		{[]string{"--trusted-proxies", "10.0.0.0/8,proxy"}, `trusted proxy "proxy"`},
		{[]string{"--session-idle", "9h", "--session-max", "8h"}, "longer than --session-max"},
		{[]string{"--api-rate-limit", "-1"}, "rate limits"},
	} {
		code, _, errOut := run(t, append([]string{"serve", "--demo", "--database", db, "--listen", "127.0.0.1:0"}, tc.args...)...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, %q; want %q", tc.args, code, errOut, tc.want)
		}
	}
	t.Setenv("JITACCESS_SESSION_MAX", "a day")
	if code, _, errOut := run(t, "serve", "--demo", "--database", db); code != 2 || !strings.Contains(errOut, `JITACCESS_SESSION_MAX="a day"`) {
		t.Errorf("bad env: %d %q", code, errOut)
	}
}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestDemoSignInOnlyInDemoMode: the page that lets anyone be anyone exists
// with --demo and nowhere else.
func TestDemoSignInOnlyInDemoMode(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		policy := writeFile(t, "policy.yaml", goodPolicy)
		_, base := boot(t, app.Config{DatabaseURL: storetest.NewURL(t, kind), PolicyFile: policy})
		code, body := get(t, base+"/sign-in")
		if code != 200 || strings.Contains(body, "/sign-in/demo") || !strings.Contains(body, "No sign-in method is configured") {
			t.Fatalf("sign-in page without --demo: %d", code)
		}
		resp, err := http.PostForm(base+"/sign-in/demo", url.Values{"email": {"root@example.com"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("demo sign-in without --demo: %d", resp.StatusCode)
		}

		_, base = boot(t, app.Config{Demo: true, DatabaseURL: storetest.NewURL(t, kind)})
		code, body = get(t, base+"/sign-in")
		if code != 200 || !strings.Contains(body, `action="/sign-in/demo"`) || !strings.Contains(body, "carol@example.com") {
			t.Fatalf("sign-in page with --demo: %d", code)
		}
	})
}

func TestDisableUI(t *testing.T) {
	policy := writeFile(t, "policy.yaml", goodPolicy)
	_, base := boot(t, app.Config{DatabaseURL: "sqlite:" + filepath.Join(t.TempDir(), "x.db"), PolicyFile: policy,
		Web: app.WebConfig{DisableUI: true}})
	if code, body := get(t, base+"/sign-in"); code != 404 || !strings.Contains(body, `"not_found"`) {
		t.Fatalf("sign-in with the UI off: %d %s", code, body)
	}
	if code, _ := get(t, base+"/healthz"); code != 200 {
		t.Fatalf("healthz: %d", code)
	}
}
