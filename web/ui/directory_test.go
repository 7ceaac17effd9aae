package ui_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

func TestDirectoryPersonPage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newUIEnv(t, db)
		ctx := context.Background()
		okta := workflow.ServiceAccount("okta", workflow.ScopeSCIM)
		p, _, err := e.svc.CreateDirectoryUser(ctx, okta, workflow.PersonInput{UserName: "alice@example.com", Active: true,
			Attributes: map[string]string{workflow.AttrDepartment: "Support"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.svc.CreateDirectoryGroup(ctx, okta, workflow.GroupInput{DisplayName: "agents", Members: []string{p.ID}}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.svc.PatchDirectoryUser(ctx, okta, p.ID, func(cur *workflow.Person) (workflow.PersonInput, error) {
			return workflow.PersonInput{UserName: cur.UserName, Attributes: cur.Attributes, Active: false}, nil
		}); err != nil {
			t.Fatal(err)
		}
		admin := e.signIn(t, "root@example.com")
		pg := admin.get(t, "/admin/people/Alice@Example.com")
		if pg.status != http.StatusOK {
			t.Fatalf("admin: %d %s", pg.status, pg.body)
		}
		for _, want := range []string{"deactivated", "agents", "Support", "directory.user.deactivate", "service:okta", ">SCIM<"} {
			if !strings.Contains(pg.body, want) {
				t.Fatalf("page lacks %q:\n%s", want, pg.body)
			}
		}
		pg = admin.get(t, "/admin/people/nobody@example.com")
		if pg.status != http.StatusOK || !strings.Contains(pg.body, "Not in the directory") {
			t.Fatalf("unknown person: %d", pg.status)
		}
		for _, who := range []string{"bob@example.com", "carol@example.com"} {
			if pg := e.signIn(t, who).get(t, "/admin/people/alice@example.com"); pg.status != http.StatusForbidden {
				t.Fatalf("%s: %d", who, pg.status)
			}
		}
		if pg := e.anonymous().get(t, "/admin/people/alice@example.com"); pg.status == http.StatusOK {
			t.Fatalf("signed out: %d", pg.status)
		}
	})
}
