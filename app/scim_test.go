package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jitaccess/jitaccess/app"
	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

type scimClient struct {
	t     *testing.T
	base  string
	token string
}

func (c scimClient) do(method, path, body string) (int, map[string]any) {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.base+"/scim/v2"+path, strings.NewReader(body))
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusNoContent && !strings.HasPrefix(ct, "application/scim+json") {
		c.t.Fatalf("%s %s: content type %q, body %s", method, path, ct, raw)
	}
	var m map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			c.t.Fatalf("%s %s: %d not JSON: %s", method, path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, m
}

// must expects status and returns the body.
func (c scimClient) must(status int, method, path, body string) map[string]any {
	c.t.Helper()
	got, m := c.do(method, path, body)
	if got != status {
		c.t.Fatalf("%s %s: status %d, want %d: %v", method, path, got, status, m)
	}
	return m
}

const scimPolicy = `admins: [root@example.com]
groups:
  agents: [alice@example.com]
  managers: [carol@example.com, dave@example.com]
resources:
  - id: crm-notes
    tier: medium
    max_duration: 1h
    requesters: [agents]
    approvers: [managers]
`

func bootSCIM(t *testing.T, kind store.Kind) (*app.App, scimClient, string) {
	t.Helper()
	policy := writeFile(t, "policy.yaml", scimPolicy)
	a, base := boot(t, app.Config{DatabaseURL: storetest.NewURL(t, kind), PolicyFile: policy})
	tok, _, err := a.DB.CreateToken(context.Background(), identity.NewToken{Kind: identity.TokenService, Subject: "okta", Scopes: []string{workflow.ScopeSCIM}, Actor: "test"}, workflow.Now())
	if err != nil {
		t.Fatal(err)
	}
	return a, scimClient{t: t, base: base, token: tok}, base
}

func userBody(userName string, active bool, extra string) string {
	return fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
		"userName":%q,"active":%t,"displayName":"Alice Example","externalId":"00u1","title":"Agent",
		"emails":[{"value":"alice.alt@example.com","primary":false},{"value":"Alice@Example.com","primary":true,"type":"work"}],
		"addresses":[{"region":"EU-West","primary":true}],
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Support","employeeNumber":"42",
		"organization":"Example","division":"EMEA","manager":{"value":"m-1","displayName":"Carol"}}%s}`, userName, active, extra)
}

func TestSCIMUsersCRUD(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		a, c, _ := bootSCIM(t, kind)
		ctx := context.Background()
		m := c.must(201, "POST", "/Users", userBody("Alice@Example.com", true, ""))
		id, _ := m["id"].(string)
		if id == "" || m["userName"] != "alice@example.com" || m["externalId"] != "00u1" {
			t.Fatalf("create: %v", m)
		}
		ext, _ := m[workflowEnterprise].(map[string]any)
		if ext["department"] != "Support" || ext["employeeNumber"] != "42" {
			t.Fatalf("enterprise: %v", m)
		}
		// The same userName again is a uniqueness conflict.
		got, e := c.do("POST", "/Users", userBody("alice@example.com", true, ""))
		if got != 409 || e["scimType"] != "uniqueness" || e["status"] != "409" {
			t.Fatalf("duplicate: %d %v", got, e)
		}
		p, err := a.DB.PersonByEmail(ctx, "alice.alt@example.com")
		if err != nil || p == nil || p.ID != id || p.Attributes[workflow.AttrRegion] != "EU-West" || p.Attributes[workflow.AttrManager] != "m-1" ||
			p.Attributes["manager_name"] != "Carol" || p.Attributes[workflow.AttrTitle] != "Agent" || p.Attributes[workflow.AttrDivision] != "EMEA" ||
			p.Attributes[workflow.AttrOrganization] != "Example" || p.Emails[0] != "alice@example.com" {
			t.Fatalf("stored person: %+v %v", p, err)
		}
		m = c.must(200, "GET", "/Users/"+id, "")
		if m["displayName"] != "Alice Example" || m["active"] != true {
			t.Fatalf("get: %v", m)
		}
		c.must(404, "GET", "/Users/nope", "")

		// PUT replaces everything: no title any more, inactive.
		m = c.must(200, "PUT", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"alice@example.com","active":false,"emails":[{"value":"alice@example.com","primary":true}]}`)
		if m["active"] != false || m["title"] != nil {
			t.Fatalf("put: %v", m)
		}
		p, _ = a.DB.PersonByEmail(ctx, "alice@example.com")
		if p.Enabled() || p.Attributes[workflow.AttrTitle] != "" {
			t.Fatalf("after put: %+v", p)
		}
		c.must(200, "PUT", "/Users/"+id, userBody("alice@example.com", true, ""))

		// Delete keeps a tombstone: refused, 404 over SCIM, re-creatable.
		c.must(204, "DELETE", "/Users/"+id, "")
		c.must(404, "GET", "/Users/"+id, "")
		c.must(404, "DELETE", "/Users/"+id, "")
		p, _ = a.DB.PersonByEmail(ctx, "alice@example.com")
		if p == nil || p.DeletedAt == nil || p.Enabled() {
			t.Fatalf("tombstone: %+v", p)
		}
		who, err := a.Service.Resolve(ctx, workflow.User("alice@example.com"))
		if err != nil || !who.Disabled || canRequest(a, who) {
			t.Fatalf("deleted alice resolves to %+v %v", who, err)
		}
		m = c.must(201, "POST", "/Users", userBody("alice@example.com", true, ""))
		if m["id"] != id {
			t.Fatalf("re-created with a new id %v, want %s", m["id"], id)
		}
		recs, _, err := a.DB.ListAudit(ctx, workflow.AuditQuery{Subject: "alice@example.com", Ascending: true, Limit: 50})
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, r := range recs {
			if strings.HasPrefix(r.Action, "directory.") {
				actions = append(actions, r.Action)
				if r.Actor != "service:okta" {
					t.Fatalf("actor %q", r.Actor)
				}
			}
		}
		want := []string{"directory.user.create", "directory.user.deactivate", "directory.user.reactivate", "directory.user.delete", "directory.user.create"}
		if !slices.Equal(actions, want) {
			t.Fatalf("audit %v, want %v", actions, want)
		}
	})
}

const workflowEnterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

func TestSCIMFilterAndPaging(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		_, c, _ := bootSCIM(t, kind)
		for i := range 5 {
			c.must(201, "POST", "/Users", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"u%d@example.com","externalId":"x%d","active":true}`, i, i))
		}
		tests := []struct {
			query string
			total float64
			n     int
			first string
		}{
			{`?filter=userName%20eq%20%22U3@example.com%22`, 1, 1, "u3@example.com"},
			{`?filter=externalId%20eq%20%22x1%22`, 1, 1, "u1@example.com"},
			{`?filter=userName%20eq%20%22nobody@example.com%22`, 0, 0, ""},
			{`?startIndex=2&count=2`, 5, 2, "u1@example.com"},
			{`?startIndex=5&count=10`, 5, 1, "u4@example.com"},
			{`?count=0`, 5, 0, ""},
			{`?filter=userName%20sw%20%22u1%22%20or%20userName%20sw%20%22u2%22`, 2, 2, "u1@example.com"},
		}
		for _, tc := range tests {
			m := c.must(200, "GET", "/Users"+tc.query, "")
			res, _ := m["Resources"].([]any)
			if m["totalResults"] != tc.total || len(res) != tc.n {
				t.Fatalf("%s: %v", tc.query, m)
			}
			if tc.n > 0 && res[0].(map[string]any)["userName"] != tc.first {
				t.Fatalf("%s: first %v", tc.query, res[0])
			}
		}
		got, e := c.do("GET", `/Users?filter=userName%20eq`, "")
		if got != 400 || e["scimType"] != "invalidFilter" {
			t.Fatalf("bad filter: %d %v", got, e)
		}
	})
}

func TestSCIMAuth(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		a, c, base := bootSCIM(t, kind)
		ctx := context.Background()
		check, _, _ := a.DB.CreateToken(ctx, identity.NewToken{Kind: identity.TokenService, Subject: "helpdesk", Scopes: []string{workflow.ScopeCheck}, Actor: "test"}, workflow.Now())
		user, _, _ := a.DB.CreateToken(ctx, identity.NewToken{Kind: identity.TokenUser, Subject: "root@example.com", Actor: "test"}, workflow.Now())
		tests := []struct {
			token  string
			status int
		}{
			{"", 401},
			{"jit_nonsense", 401},
			{check, 403},
			{user, 403},
		}
		for _, tc := range tests {
			for _, path := range []string{"/Users", "/ServiceProviderConfig"} {
				other := scimClient{t: t, base: base, token: tc.token}
				got, e := other.do("GET", path, "")
				if got != tc.status || e["status"] != fmt.Sprint(tc.status) || !slices.Contains(e["schemas"].([]any), any("urn:ietf:params:scim:api:messages:2.0:Error")) {
					t.Fatalf("token %q %s: %d %v", tc.token, path, got, e)
				}
			}
			got, _ := (scimClient{t: t, base: base, token: tc.token}).do("POST", "/Users", userBody("mallory@example.com", true, ""))
			if got != tc.status {
				t.Fatalf("post with %q: %d", tc.token, got)
			}
		}
		if p, _ := a.DB.PersonByEmail(ctx, "mallory@example.com"); p != nil {
			t.Fatalf("refused create stored %+v", p)
		}
		for _, path := range []string{"/ServiceProviderConfig", "/Schemas", "/ResourceTypes"} {
			c.must(200, "GET", path, "")
		}
	})
}

func TestSCIMMalformed(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		a, c, _ := bootSCIM(t, kind)
		m := c.must(201, "POST", "/Users", userBody("alice@example.com", true, ""))
		id := m["id"].(string)
		g := c.must(201, "POST", "/Groups", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"agents","members":[{"value":%q}]}`, id))
		gid := g["id"].(string)
		patch := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":%s}`
		tests := []struct {
			name, method, path, body string
			status                   int
			scimType                 string
		}{
			{"not json", "POST", "/Users", `{"userName":`, 400, "invalidSyntax"},
			{"array body", "POST", "/Users", `[1,2]`, 400, "invalidSyntax"},
			{"no userName", "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"active":true}`, 400, "invalidValue"},
			{"active not bool", "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"b@example.com","active":"maybe"}`, 400, "invalidValue"},
			{"unknown attribute", "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"b@example.com","favouriteColour":"red"}`, 400, "invalidSyntax"},
			{"unknown member", "POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"x","members":[{"value":"ghost"}]}`, 400, "invalidValue"},
			{"duplicate group", "POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"agents"}`, 409, "uniqueness"},
			{"patch bad path", "PATCH", "/Users/" + id, fmt.Sprintf(patch, `[{"op":"replace","path":"shoeSize","value":"9"}]`), 400, "invalidPath"},
			{"patch bad op", "PATCH", "/Users/" + id, fmt.Sprintf(patch, `[{"op":"explode","path":"active","value":false}]`), 400, "invalidValue"},
			{"patch no schema", "PATCH", "/Users/" + id, `{"Operations":[{"op":"replace","path":"active","value":false}]}`, 400, "invalidValue"},
			{"patch second op fails", "PATCH", "/Users/" + id, fmt.Sprintf(patch, `[{"op":"replace","path":"active","value":false},{"op":"replace","path":"userName","value":""}]`), 400, "invalidValue"},
			{"group patch ghost member", "PATCH", "/Groups/" + gid, fmt.Sprintf(patch, `[{"op":"remove","path":"members","value":[{"value":%q}]},{"op":"add","path":"members","value":[{"value":"ghost"}]}]`), 400, "invalidValue"},
			{"patch unknown user", "PATCH", "/Users/ghost", fmt.Sprintf(patch, `[{"op":"replace","path":"active","value":false}]`), 404, ""},
			// Over SCIM's 1 MiB (the server's general 64 KiB does not
			// apply here): SCIM's error shape, not the API's.
			{"body too large", "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"big@example.com","displayName":"` + strings.Repeat("x", 2<<20) + `"}`, 413, ""},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				body := tc.body
				if strings.Contains(body, "%q") {
					body = fmt.Sprintf(body, id)
				}
				got, e := c.do(tc.method, tc.path, body)
				if got != tc.status || e["status"] != fmt.Sprint(tc.status) || (tc.scimType != "" && e["scimType"] != tc.scimType) {
					t.Fatalf("%d %v, want %d %s", got, e, tc.status, tc.scimType)
				}
			})
		}
		// Nothing was half-applied: alice is active and still in agents.
		p, _ := a.DB.PersonByEmail(context.Background(), "alice@example.com")
		if !p.Enabled() || !slices.Equal(p.Groups, []string{"agents"}) {
			t.Fatalf("after bad requests: %+v", p)
		}
		if p, _ := a.DB.PersonByEmail(context.Background(), "b@example.com"); p != nil {
			t.Fatalf("stored %+v", p)
		}
	})
}

// Entra ID's shapes: capitalized ops, "False" as a string, member add and
// remove with a value list, enterprise attributes by full path.
func TestSCIMEntraDialect(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		a, c, _ := bootSCIM(t, kind)
		ctx := context.Background()
		alice := c.must(201, "POST", "/Users", userBody("alice@example.com", true, ""))["id"].(string)
		bob := c.must(201, "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bob@example.com","active":true}`)["id"].(string)
		gid := c.must(201, "POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"agents","members":[]}`)["id"].(string)

		c.must(200, "PATCH", "/Groups/"+gid, fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Add","path":"members","value":[{"value":%q},{"value":%q}]}]}`, alice, bob))
		if p, _ := a.DB.PersonByEmail(ctx, "bob@example.com"); !slices.Equal(p.Groups, []string{"agents"}) {
			t.Fatalf("bob's groups %v", p.Groups)
		}
		c.must(200, "PATCH", "/Groups/"+gid, fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Remove","path":"members","value":[{"value":%q}]}]}`, bob))
		g := c.must(200, "GET", "/Groups/"+gid, "")
		if ms := g["members"].([]any); len(ms) != 1 || ms[0].(map[string]any)["value"] != alice {
			t.Fatalf("members %v", g)
		}
		m := c.must(200, "PATCH", "/Users/"+alice, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
			{"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department","value":"Fraud"},
			{"op":"Add","path":"title","value":"Senior agent"},
			{"op":"Replace","path":"emails[type eq \"work\"].value","value":"alice@example.com"}]}`)
		if m[workflowEnterprise].(map[string]any)["department"] != "Fraud" || m["title"] != "Senior agent" {
			t.Fatalf("entra attribute patch: %v", m)
		}
		who, _ := a.Service.Resolve(ctx, workflow.User("alice@example.com"))
		if !canRequest(a, who) {
			t.Fatal("active alice may not request")
		}
		m = c.must(200, "PATCH", "/Users/"+alice, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"False"}]}`)
		if m["active"] != false {
			t.Fatalf("deactivate: %v", m)
		}
		// The policy file lists alice in agents, yet the directory says
		// she is inactive: she may not request.
		who, err := a.Service.Resolve(ctx, workflow.User("alice@example.com"))
		if err != nil || !who.Disabled || len(who.DirectoryGroups) != 0 || canRequest(a, who) {
			t.Fatalf("deactivated alice: %+v %v", who, err)
		}
		p, _ := a.DB.PersonByEmail(ctx, "alice@example.com")
		if p.Attributes[workflow.AttrDepartment] != "Fraud" {
			t.Fatalf("department %v", p.Attributes)
		}
	})
}

// Okta's shapes: replace without a path, PUT for profile updates, member
// add by path and removal by filter.
func TestSCIMOktaDialect(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		a, c, _ := bootSCIM(t, kind)
		ctx := context.Background()
		alice := c.must(201, "POST", "/Users", userBody("alice@example.com", true, ""))["id"].(string)
		gid := c.must(201, "POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"agents","members":[]}`)["id"].(string)
		c.must(200, "PATCH", "/Groups/"+gid, fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":%q,"display":"alice@example.com"}]}]}`, alice))
		// Okta renames a group with its id in the value.
		c.must(200, "PATCH", "/Groups/"+gid, fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"id":%q,"displayName":"agents"}}]}`, gid))
		if p, _ := a.DB.PersonByEmail(ctx, "alice@example.com"); !slices.Equal(p.Groups, []string{"agents"}) {
			t.Fatalf("groups %v", p.Groups)
		}
		c.must(200, "PUT", "/Users/"+alice, strings.Replace(userBody("alice@example.com", true, ""), `"Support"`, `"Sales"`, 1))
		if p, _ := a.DB.PersonByEmail(ctx, "alice@example.com"); p.Attributes[workflow.AttrDepartment] != "Sales" {
			t.Fatalf("put: %v", p.Attributes)
		}
		c.must(200, "PATCH", "/Groups/"+gid, fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members[value eq \"%s\"]"}]}`, alice))
		if p, _ := a.DB.PersonByEmail(ctx, "alice@example.com"); len(p.Groups) != 0 {
			t.Fatalf("after remove: %v", p.Groups)
		}
		m := c.must(200, "PATCH", "/Users/"+alice, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`)
		if m["active"] != false {
			t.Fatalf("okta deactivate: %v", m)
		}
		who, _ := a.Service.Resolve(ctx, workflow.User("alice@example.com"))
		if !who.Disabled || canRequest(a, who) {
			t.Fatalf("deactivated: %+v", who)
		}
		recs, _, _ := a.DB.ListAudit(ctx, workflow.AuditQuery{Action: workflow.ActionDirectoryGroupUpdate, Limit: 10})
		if len(recs) == 0 || recs[0].Subject != "alice@example.com" || recs[0].Reason != "removed from group agents" {
			t.Fatalf("group audit %+v", recs)
		}
	})
}

// Concurrent PATCHes on one group each add a member: every one is kept.
func TestSCIMConcurrentGroupPatches(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		_, c, _ := bootSCIM(t, kind)
		const n = 12
		ids := make([]string, n)
		for i := range n {
			ids[i] = c.must(201, "POST", "/Users", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"p%d@example.com","active":true}`, i))["id"].(string)
		}
		gid := c.must(201, "POST", "/Groups", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"agents","members":[{"value":%q}]}`, ids[0]))["id"].(string)
		var wg sync.WaitGroup
		statuses := make([]int, n)
		for i := 1; i < n; i++ {
			wg.Go(func() {
				statuses[i], _ = c.do("PATCH", "/Groups/"+gid, fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":%q}]}]}`, ids[i]))
			})
		}
		// And one removes the first member meanwhile.
		wg.Go(func() {
			statuses[0], _ = c.do("PATCH", "/Groups/"+gid, fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members[value eq \"%s\"]"}]}`, ids[0]))
		})
		wg.Wait()
		for i, s := range statuses {
			if s != 204 && s != 200 {
				t.Fatalf("patch %d: %d", i, s)
			}
		}
		g := c.must(200, "GET", "/Groups/"+gid, "")
		var got []string
		for _, m := range g["members"].([]any) {
			got = append(got, m.(map[string]any)["value"].(string))
		}
		want := slices.Clone(ids[1:])
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("members %v, want %v", got, want)
		}
	})
}

func canRequest(a *app.App, who workflow.Principal) bool {
	pol := a.Service.Policy()
	r, ok := pol.Resource("crm-notes")
	return ok && pol.CanRequest(who, r)
}

// The token the docs tell an administrator to create works for SCIM.
func TestSCIMTokenFromCLI(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		u := storetest.NewURL(t, kind)
		code, out, errOut := run(t, "token", "create", "--database", u, "--service", "okta", "--scope", "scim")
		secret := tokenLine.FindString(out)
		if code != 0 || secret == "" {
			t.Fatalf("create: %d %q %q", code, out, errOut)
		}
		_, base := boot(t, app.Config{DatabaseURL: u, PolicyFile: writeFile(t, "policy.yaml", scimPolicy)})
		c := scimClient{t: t, base: base, token: secret}
		c.must(201, "POST", "/Users", userBody("alice@example.com", true, ""))
		m := c.must(200, "GET", `/Users?filter=userName%20eq%20%22alice@example.com%22`, "")
		if m["totalResults"] != float64(1) {
			t.Fatalf("list: %v", m)
		}
	})
}
