package workflow_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

func TestExplain(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock() // 09:00 UTC, 10:00 in Berlin
		pol, err := workflow.ParsePolicy("conditions.yaml", []byte(conditionsPolicy))
		if err != nil {
			t.Fatal(err)
		}
		svc := workflow.NewService(db, pol, workflow.Options{Now: c.Now, ReviewTimeout: 8 * time.Hour})
		seedRegion(t, svc, "alice@example.com", "eu")
		seedRegion(t, svc, "bob@example.com", "us")
		seedRegion(t, svc, "carol@example.com", "eu")
		seedRegion(t, svc, "dave@example.com", "us")
		// erin is a manager by the file, but deactivated in the directory.
		if _, _, err := svc.CreateDirectoryUser(ctx, idp, workflow.PersonInput{UserName: "erin@example.com", Active: false}); err != nil {
			t.Fatal(err)
		}
		// frank is a manager by the directory only.
		frank := seedRegion(t, svc, "frank@example.com", "eu")
		if _, _, err := svc.CreateDirectoryGroup(ctx, idp, workflow.GroupInput{DisplayName: "managers", Members: []string{frank}}); err != nil {
			t.Fatal(err)
		}
		root := workflow.User("root@example.com")

		type approver struct {
			email  string
			passes bool
		}
		for _, tc := range []struct {
			name, user, resource string
			canRequest           bool
			reason               string   // in Reasons, when !canRequest
			conditions           []string // each condition's Result()
			approvers            []approver
			approvals            int
		}{
			{name: "condition true", user: "alice@example.com", resource: "eu-db", canRequest: true, conditions: []string{"true"},
				approvers: []approver{{"carol@example.com", true}, {"dave@example.com", true}, {"frank@example.com", true}}, approvals: 1},
			{name: "condition false", user: "bob@example.com", resource: "eu-db", reason: "only staff in the EU region may use eu-db",
				conditions: []string{"false"}, approvers: []approver{{"carol@example.com", true}, {"dave@example.com", true}, {"frank@example.com", true}}, approvals: 1},
			{name: "condition error", user: "mallory@example.com", resource: "eu-db", reason: "is not in the access policy",
				conditions: []string{"error: no such key: region"}, approvers: []approver{{"carol@example.com", true}, {"dave@example.com", true}, {"frank@example.com", true}}, approvals: 1},
			{name: "approver conditions", user: "alice@example.com", resource: "regional", canRequest: true, conditions: []string{},
				approvers: []approver{{"carol@example.com", true}, {"dave@example.com", false}, {"frank@example.com", true}}, approvals: 1},
			{name: "requester is not their own approver", user: "carol@example.com", resource: "regional", reason: "is not in any requester group of regional",
				conditions: []string{}, approvers: []approver{{"dave@example.com", false}, {"frank@example.com", true}}, approvals: 1},
			{name: "two approvals", user: "bob@example.com", resource: "daytime", canRequest: true, conditions: []string{"true"},
				approvers: []approver{{"carol@example.com", true}, {"dave@example.com", true}, {"frank@example.com", true}}, approvals: 2},
		} {
			t.Run(tc.name, func(t *testing.T) {
				x, err := svc.Explain(ctx, root, tc.user, tc.resource)
				if err != nil {
					t.Fatal(err)
				}
				if x.CanRequest != tc.canRequest {
					t.Fatalf("can_request = %v (%v), want %v", x.CanRequest, x.Reasons, tc.canRequest)
				}
				if tc.reason != "" && !slices.ContainsFunc(x.Reasons, func(r string) bool { return strings.Contains(r, tc.reason) }) {
					t.Errorf("reasons %q, want one with %q", x.Reasons, tc.reason)
				}
				var conds []string
				for _, c := range x.Conditions {
					conds = append(conds, c.Result())
				}
				if strings.Join(conds, ",") != strings.Join(tc.conditions, ",") {
					t.Errorf("conditions %q, want %q", conds, tc.conditions)
				}
				var got []approver
				for _, a := range x.Approvers {
					got = append(got, approver{a.Email, a.Passes})
					if !a.Passes && a.Reason != "an approver must be in the requester's region" {
						t.Errorf("approver %s fails with %q", a.Email, a.Reason)
					}
				}
				if !slices.Equal(got, tc.approvers) {
					t.Errorf("approvers %v, want %v", got, tc.approvers)
				}
				if x.ApprovalsRequired != tc.approvals || x.Tier != workflow.TierMedium || x.ReviewTimeout != "8h" {
					t.Errorf("approvals %d, tier %s, timeout %q", x.ApprovalsRequired, x.Tier, x.ReviewTimeout)
				}
			})
		}

		t.Run("refusals", func(t *testing.T) {
			_, err := svc.Explain(ctx, alice, "bob@example.com", "eu-db")
			wantCode(t, err, workflow.CodeForbidden)
			_, err = svc.Explain(ctx, root, "alice@example.com", "nope")
			wantCode(t, err, workflow.CodeNotFound)
			if !strings.Contains(workflow.ErrorMessage(err), `"nope"`) {
				t.Errorf("message %q does not name the resource", workflow.ErrorMessage(err))
			}
			_, err = svc.Explain(ctx, root, "", "eu-db")
			wantCode(t, err, workflow.CodeInvalid)
			x, err := svc.Explain(ctx, root, "zed@example.com", "eu-db")
			if err != nil || x.CanRequest || !slices.ContainsFunc(x.Reasons, func(r string) bool { return strings.Contains(r, "not in the access policy") }) {
				t.Fatalf("unknown user: %+v, %v", x, err)
			}
		})
	})
}
