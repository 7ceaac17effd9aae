package workflow_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

var okta = workflow.ServiceAccount("okta", workflow.ScopeSCIM)

func personIn(userName string, active bool) workflow.PersonInput {
	return workflow.PersonInput{UserName: userName, Active: active, Emails: []string{" " + userName + " "},
		Attributes: map[string]string{workflow.AttrDepartment: "Support"}}
}

func TestDirectoryForbidden(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		svc := newService(t, db, newClock())
		ctx := context.Background()
		for _, who := range []workflow.Principal{root, checker, workflow.System, workflow.ServiceAccount("okta")} {
			_, _, err := svc.CreateDirectoryUser(ctx, who, personIn("alice@example.com", true))
			wantCode(t, err, workflow.CodeForbidden)
			_, _, err = svc.ListDirectoryUsers(ctx, who, workflow.DirectoryQuery{Limit: 10})
			wantCode(t, err, workflow.CodeForbidden)
			_, _, err = svc.CreateDirectoryGroup(ctx, who, workflow.GroupInput{DisplayName: "agents"})
			wantCode(t, err, workflow.CodeForbidden)
		}
		if p, _ := db.PersonByEmail(ctx, "alice@example.com"); p != nil {
			t.Fatalf("stored %+v", p)
		}
	})
}

func TestDirectoryUserLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		svc := newService(t, db, newClock())
		ctx := context.Background()
		var hooked [][]string
		svc.OnDirectoryChange(func(emails []string) { hooked = append(hooked, emails) })

		p, out, err := svc.CreateDirectoryUser(ctx, okta, personIn(" Alice@Example.COM", true))
		if err != nil || p.UserName != "alice@example.com" || out.ReconcileErr != nil {
			t.Fatalf("create: %+v %v", p, err)
		}
		_, _, err = svc.CreateDirectoryUser(ctx, okta, personIn("alice@example.com", true))
		wantCode(t, err, workflow.CodeInvalidState)
		_, _, err = svc.CreateDirectoryUser(ctx, okta, personIn("", true))
		wantCode(t, err, workflow.CodeInvalid)

		g, _, err := svc.CreateDirectoryGroup(ctx, okta, workflow.GroupInput{DisplayName: "agents", Members: []string{p.ID}})
		if err != nil {
			t.Fatal(err)
		}
		who, _ := svc.Resolve(ctx, alice)
		if !who.InDirectory || who.Disabled || !slices.Contains(who.DirectoryGroups, "agents") {
			t.Fatalf("resolved %+v", who)
		}

		// Deactivate through a patch.
		p2, out, err := svc.PatchDirectoryUser(ctx, okta, p.ID, func(cur *workflow.Person) (workflow.PersonInput, error) {
			return workflow.PersonInput{UserName: cur.UserName, Emails: cur.Emails, Attributes: cur.Attributes, Active: false}, nil
		})
		if err != nil || p2.Active || p2.Version != 2 {
			t.Fatalf("deactivate: %+v %v", p2, err)
		}
		if len(out.Changes) != 1 || !out.Changes[0].Deactivated || out.Changes[0].Email != "alice@example.com" || out.Changes[0].Source != "SCIM" {
			t.Fatalf("changes %+v", out.Changes)
		}
		who, _ = svc.Resolve(ctx, alice)
		res, _ := svc.Policy().Resource("crm-notes")
		if !who.Disabled || len(who.DirectoryGroups) != 0 || svc.Policy().CanRequest(who, res) {
			t.Fatalf("deactivated alice: %+v", who)
		}

		// Removal from the group names it.
		_, out, err = svc.PatchDirectoryGroup(ctx, okta, g.ID, func(cur *workflow.DirectoryGroup) (workflow.GroupInput, error) {
			return workflow.GroupInput{DisplayName: cur.DisplayName}, nil
		})
		if err != nil || len(out.Changes) != 1 || !slices.Equal(out.Changes[0].RemovedGroups, []string{"agents"}) {
			t.Fatalf("group patch: %+v %v", out, err)
		}

		// Delete keeps a tombstone; create revives the same row.
		out, err = svc.DeleteDirectoryUser(ctx, okta, p.ID)
		if err != nil || !out.Changes[0].Deleted {
			t.Fatalf("delete: %+v %v", out, err)
		}
		_, err = svc.GetDirectoryUser(ctx, okta, p.ID)
		wantCode(t, err, workflow.CodeNotFound)
		if list, total, _ := svc.ListDirectoryUsers(ctx, okta, workflow.DirectoryQuery{Limit: 10}); total != 0 || len(list) != 0 {
			t.Fatalf("deleted person listed: %d", total)
		}
		tomb, _ := db.PersonByEmail(ctx, "alice@example.com")
		if tomb == nil || tomb.DeletedAt == nil || tomb.Enabled() {
			t.Fatalf("tombstone %+v", tomb)
		}
		again, _, err := svc.CreateDirectoryUser(ctx, okta, personIn("alice@example.com", true))
		if err != nil || again.ID != p.ID || again.DeletedAt != nil {
			t.Fatalf("revive: %+v %v", again, err)
		}
		if len(hooked) != 6 || !slices.Equal(hooked[0], []string{"alice@example.com"}) {
			t.Fatalf("hooks %v", hooked)
		}
		recs, _, _ := db.ListAudit(ctx, workflow.AuditQuery{Person: "alice@example.com", Ascending: true, Limit: 20})
		var got []string
		for _, r := range recs {
			got = append(got, r.Action)
		}
		want := []string{"directory.user.create", "directory.group.create", "directory.user.deactivate", "directory.group.update", "directory.user.delete", "directory.user.create"}
		if !slices.Equal(got, want) {
			t.Fatalf("audit %v, want %v", got, want)
		}
	})
}

// A losing writer is retried on the fresh row: concurrent group patches
// each keep their member, and one write never lands half.
func TestDirectoryConcurrentGroupPatches(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		svc := newService(t, db, newClock())
		ctx := context.Background()
		var ids []string
		for _, u := range []string{"a@example.com", "b@example.com", "c@example.com", "d@example.com", "e@example.com", "f@example.com"} {
			p, _, err := svc.CreateDirectoryUser(ctx, okta, personIn(u, true))
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, p.ID)
		}
		g, _, err := svc.CreateDirectoryGroup(ctx, okta, workflow.GroupInput{DisplayName: "agents"})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, len(ids))
		for i, id := range ids {
			wg.Go(func() {
				_, _, errs[i] = svc.PatchDirectoryGroup(ctx, okta, g.ID, func(cur *workflow.DirectoryGroup) (workflow.GroupInput, error) {
					return workflow.GroupInput{DisplayName: cur.DisplayName, Members: append(slices.Clone(cur.Members), id)}, nil
				})
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		got, _ := svc.GetDirectoryGroup(ctx, okta, g.ID)
		want := slices.Clone(ids)
		slices.Sort(want)
		if !slices.Equal(got.Members, want) || got.Version != int64(len(ids)+1) {
			t.Fatalf("members %v version %d, want %v", got.Members, got.Version, want)
		}
		_, _, err = svc.PatchDirectoryGroup(ctx, okta, g.ID, func(cur *workflow.DirectoryGroup) (workflow.GroupInput, error) {
			return workflow.GroupInput{DisplayName: cur.DisplayName, Members: append(cur.Members, "ghost")}, nil
		})
		wantCode(t, err, workflow.CodeInvalid)
		if after, _ := svc.GetDirectoryGroup(ctx, okta, g.ID); after.Version != got.Version {
			t.Fatalf("a refused patch wrote: %d", after.Version)
		}
		out, err := svc.DeleteDirectoryGroup(ctx, okta, g.ID)
		if err != nil || len(out.Changes) != len(ids) {
			t.Fatalf("delete group: %+v %v", out, err)
		}
		p, _ := db.PersonByEmail(ctx, "a@example.com")
		if len(p.Groups) != 0 {
			t.Fatalf("groups after delete %v", p.Groups)
		}
	})
}
