package ui_test

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/audit"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

func TestNewRequestForm(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newUIEnv(t, db)
		c := e.signIn(t, "alice@example.com")
		// The picker offers what alice may request, and nothing else.
		p := c.get(t, "/requests/new")
		for _, id := range []string{"crm-payments", "crm-notes", "prod-db", "kb-drafts"} {
			if !strings.Contains(p.body, `data-resource="`+id+`"`) {
				t.Errorf("picker lacks %s", id)
			}
		}
		// Durations are capped by the resource: up to 2h for crm-payments.
		p = c.get(t, "/requests/new?resource=crm-payments")
		opts := regexp.MustCompile(`<option value="([^"]+)"`).FindAllStringSubmatch(p.body, -1)
		var got []string
		for _, o := range opts {
			got = append(got, o[1])
		}
		if strings.Join(got, ",") != "15m,30m,1h,2h" {
			t.Errorf("duration choices %v", got)
		}
		// A submission over the cap is refused with the API's message and
		// the form keeps what was typed.
		p = c.post(t, "/requests", url.Values{"resource": {"crm-payments"}, "duration": {"3h"}, "reason": {"case <b>9</b>"}, "ticket": {"SUP-9"}})
		if p.status != 422 || !strings.Contains(p.body, "Duration 3h is longer than the maximum of 2h for crm-payments") ||
			!strings.Contains(p.body, "case &lt;b&gt;9&lt;/b&gt;</textarea>") || !strings.Contains(p.body, `value="SUP-9"`) {
			t.Fatalf("over the cap: %d %s", p.status, excerpt(p.body))
		}
		// A good one goes through, and the resource shows as taken.
		p = c.post(t, "/requests", url.Values{"resource": {"crm-payments"}, "duration": {"2h"}, "reason": {"case 9"}})
		if p.status != 303 || !strings.HasPrefix(p.location, "/requests/") {
			t.Fatalf("submit: %d %s", p.status, excerpt(p.body))
		}
		id := strings.TrimPrefix(p.location, "/requests/")
		d := c.get(t, p.location)
		if !strings.Contains(d.body, "Request sent: it needs 2 approvals.") || !strings.Contains(d.body, "case 9") {
			t.Fatalf("after submit: %s", excerpt(d.body))
		}
		if p := c.get(t, "/requests/new"); strings.Contains(p.body, `data-resource="crm-payments"`) || !strings.Contains(p.body, `href="/requests/`+id+`"`) {
			t.Errorf("the picker still offers crm-payments while a request is open")
		}
		// Auto-approved resources say so.
		p = c.post(t, "/requests", url.Values{"resource": {"kb-drafts"}, "duration": {"1h"}, "reason": {"docs"}})
		if f := c.get(t, p.location); !strings.Contains(f.body, "Approved automatically: your access is live until") {
			t.Fatalf("auto-approve: %s", excerpt(f.body))
		}
		// Someone who may request nothing is told so.
		if p := e.signIn(t, "carol@example.com").get(t, "/requests/new"); !strings.Contains(p.body, "There is nothing you can request") {
			t.Error("carol's picker")
		}
	})
}

func TestDecisionsPagination(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newUIEnv(t, db)
		ctx := context.Background()
		var first string
		for i := 0; i < 60; i++ {
			who := workflow.Principal{Email: fmt.Sprintf("agent%02d@example.com", i), Groups: []string{"agents"}}
			r, err := e.svc.Submit(ctx, who, workflow.SubmitInput{Resource: "crm-notes", Duration: time.Hour, Reason: fmt.Sprintf("case %d", i)})
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				first = r.ID
			}
			e.advance(time.Second)
		}
		c := e.signIn(t, "carol@example.com")
		p := c.get(t, "/decisions")
		rows := regexp.MustCompile(`<tr id="req-`).FindAllStringIndex(p.body, -1)
		if len(rows) != 50 || !strings.Contains(p.body, "60 requests wait for you") || !strings.Contains(p.body, `id="nav-count-decisions" data-live class="count">60<`) {
			t.Fatalf("first page: %d rows", len(rows))
		}
		// Oldest first.
		if strings.Index(p.body, "agent00@example.com") > strings.Index(p.body, "agent01@example.com") || !strings.Contains(p.body, "req-"+first) {
			t.Fatal("not oldest first")
		}
		next := regexp.MustCompile(`href="(/decisions\?cursor=[^"]+)">Next page`).FindStringSubmatch(p.body)
		if next == nil {
			t.Fatal("no next page link")
		}
		p = c.get(t, strings.ReplaceAll(next[1], "&amp;", "&"))
		if rows := regexp.MustCompile(`<tr id="req-`).FindAllStringIndex(p.body, -1); len(rows) != 10 ||
			strings.Contains(p.body, "Next page") || !strings.Contains(p.body, "First page") || !strings.Contains(p.body, "agent59@example.com") {
			t.Fatalf("second page: %d rows", len(rows))
		}
		if p := c.get(t, "/decisions?cursor=garbage"); p.status != 400 {
			t.Fatalf("bad cursor: %d", p.status)
		}
		if p := c.get(t, "/decisions?sort=new"); p.status != 400 {
			t.Fatalf("unknown parameter: %d", p.status)
		}
	})
}

func TestAuditPageAndExport(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newUIEnv(t, db)
		ctx := context.Background()
		// A reason that a spreadsheet would run as a formula.
		r, err := e.svc.Submit(ctx, alice, workflow.SubmitInput{Resource: "crm-notes", Duration: time.Hour, Reason: `=HYPERLINK("http://evil.example")`})
		if err != nil {
			t.Fatal(err)
		}
		e.advance(time.Minute)
		e.approve(t, carol, r.ID)
		e.advance(time.Minute)
		other := e.submit(t, bob, "crm-payments", time.Hour)
		root := e.signIn(t, "root@example.com")

		// Filters: request, action, person, resource, time.
		for _, tc := range []struct {
			query string
			want  []string // actions listed
		}{
			{"request=" + r.ID, []string{"approve", "submit"}},
			{"action=approve", []string{"approve"}},
			{"person=carol@example.com&action=approve", []string{"approve"}},
			{"resource=crm-payments", []string{"submit"}},
			{"since=2026-11-23T09:01&until=2026-11-23T09:02&resource=crm-notes", []string{"approve"}},
			{"request=" + r.ID + "&until=2026-11-23", nil},
		} {
			p := root.get(t, "/audit?"+tc.query)
			got := regexp.MustCompile(`<span class="chip">([a-z_.]+)</span>`).FindAllStringSubmatch(p.body, -1)
			var actions []string
			for _, g := range got {
				actions = append(actions, g[1])
			}
			if strings.Join(actions, ",") != strings.Join(tc.want, ",") {
				t.Errorf("audit?%s: %v, want %v", tc.query, actions, tc.want)
			}
		}
		if p := root.get(t, "/audit?since=yesterday"); p.status != 400 || !strings.Contains(p.body, "is not a time") {
			t.Errorf("bad time: %d", p.status)
		}
		if p := root.get(t, "/audit?since=2026-11-24&until=2026-11-23"); p.status != 400 || !strings.Contains(p.body, "Until must be after since") {
			t.Errorf("until before since: %d", p.status)
		}

		// CSV export of the filtered view: all of it, oldest first, in the
		// audit package's format (with the hashes), formulas defused, and
		// verifiable without the database.
		p := root.get(t, "/audit/export?format=csv&request="+r.ID)
		if p.status != 200 || !strings.HasPrefix(p.header.Get("Content-Type"), "text/csv") ||
			!strings.Contains(p.header.Get("Content-Disposition"), `attachment; filename="jitaccess-audit-`) {
			t.Fatalf("csv: %d %v", p.status, p.header)
		}
		recs, err := csv.NewReader(strings.NewReader(p.body)).ReadAll()
		if err != nil || len(recs) != 3 || strings.Join(recs[0], ",") != "id,at,actor,action,request_id,resource,subject,from_state,to_state,reason,prev_hash,hash,purpose,auth,mfa,source" {
			t.Fatalf("csv rows: %v %v", recs, err)
		}
		if recs[1][3] != "submit" || recs[1][9] != `'=HYPERLINK("http://evil.example")` || recs[2][2] != "carol@example.com" || recs[2][10] != recs[1][11] {
			t.Fatalf("csv content: %v", recs)
		}
		if res, err := audit.VerifyExport(strings.NewReader(p.body), true, nil); err != nil || !res.OK || res.Records != 2 {
			t.Fatalf("the CSV export does not verify: %+v %v", res, err)
		}
		// Every export is itself in the audit log, with who and what.
		exports, _, err := e.svc.Audit(ctx, workflow.User("root@example.com"), workflow.AuditQuery{Action: workflow.ActionAuditExport})
		if err != nil || len(exports) != 1 || exports[0].Actor != "root@example.com" || exports[0].Reason != "export csv (request "+r.ID+")" {
			t.Fatalf("export not audited: %+v %v", exports, err)
		}
		// The page's export links carry its filter: followed from a
		// filtered page, they export that view.
		page := root.get(t, "/audit?request="+r.ID+"&action=approve")
		for _, link := range []struct{ id, format string }{{"export-csv", "csv"}, {"export-jsonl", "jsonl"}} {
			m := regexp.MustCompile(`id="` + link.id + `" href="([^"]+)"`).FindStringSubmatch(page.body)
			if m == nil {
				t.Fatalf("no %s link on the filtered page", link.id)
			}
			href := html.UnescapeString(m[1])
			u, err := url.Parse(href)
			if err != nil || u.Path != "/audit/export" || u.Query().Get("format") != link.format || u.Query().Get("request") != r.ID || u.Query().Get("action") != "approve" {
				t.Fatalf("%s link: %s", link.id, href)
			}
			p := root.get(t, href)
			if p.status != 200 {
				t.Fatalf("%s link %s: %d %s", link.id, href, p.status, p.body)
			}
			if res, err := audit.VerifyExport(strings.NewReader(p.body), true, nil); err != nil || !res.OK || res.Records != 1 ||
				!strings.Contains(p.body, r.ID) || !strings.Contains(p.body, "approve") || strings.Contains(p.body, "submit") {
				t.Fatalf("%s link exports: %+v %v\n%s", link.id, res, err, p.body)
			}
		}
		// The action filter holds in the export too.
		p = root.get(t, "/audit/export?format=csv&action=approve")
		if recs, _ := csv.NewReader(strings.NewReader(p.body)).ReadAll(); len(recs) != 2 || recs[1][3] != "approve" {
			t.Fatalf("export of approvals: %v", recs)
		}
		// JSON lines, every record, more than one page's worth.
		var checks []*workflow.AuditRecord
		for i := 0; i < workflow.MaxPageSize+100; i++ {
			checks = append(checks, &workflow.AuditRecord{At: e.clock(), Actor: "service:helpdesk", Action: workflow.ActionCheck,
				Resource: "crm-notes", Subject: "dave@example.com", Reason: "denied: no live grant"})
		}
		if err := db.InTx(ctx, func(tx workflow.Tx) error { return tx.AppendAudit(ctx, checks...) }); err != nil {
			t.Fatal(err)
		}
		var n64 int64
		if err := db.Gorm().Table("audit_records").Count(&n64).Error; err != nil {
			t.Fatal(err)
		}
		total := int(n64) + 1 // and the record of this export
		p = root.get(t, "/audit/export?format=jsonl")
		sc := bufio.NewScanner(strings.NewReader(p.body))
		lines := 0
		for sc.Scan() {
			var rec map[string]any
			if err := json.Unmarshal(sc.Bytes(), &rec); err != nil || rec["action"] == nil {
				t.Fatalf("line %d: %v %s", lines, err, sc.Text())
			}
			lines++
		}
		if lines != total || total <= workflow.MaxPageSize {
			t.Fatalf("jsonl: %d lines, %d records", lines, total)
		}
		// An unfiltered export is the whole chain.
		if res, err := audit.VerifyExport(strings.NewReader(p.body), false, nil); err != nil || !res.OK || int(res.Records) != total {
			t.Fatalf("the JSON-lines export does not verify as a chain: %+v %v", res, err)
		}
		// Everyone else exports only the records about themselves.
		p = e.signIn(t, "bob@example.com").get(t, "/audit/export?format=csv")
		if strings.Contains(p.body, "alice@example.com") || !strings.Contains(p.body, other.ID) {
			t.Fatalf("bob's export: %s", p.body)
		}
		if p := root.get(t, "/audit/export?format=xml"); p.status != 400 {
			t.Fatalf("unknown format: %d", p.status)
		}
		if p := e.signIn(t, "bob@example.com").get(t, "/audit?person=alice@example.com&action=submit"); strings.Contains(p.body, r.ID) {
			t.Fatal("bob sees alice's records by filtering for her")
		}
	})
}

func TestRequestDetailShowsState(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newUIEnv(t, db)
		r := e.submit(t, alice, "crm-payments", time.Hour)
		e.approve(t, carol, r.ID)
		dave := e.signIn(t, "dave@example.com")
		p := dave.get(t, "/requests/"+r.ID)
		for _, want := range []string{"1 of 2", "needs someone other than carol@example.com", "Can still approve: dave@example.com.",
			`data-refresh="20"`, "Pending", "high", "case 1234"} {
			if !strings.Contains(p.body, want) {
				t.Errorf("detail lacks %q", want)
			}
		}
		// The approval that completes the quorum says so, and the page
		// then shows live access with its end.
		p = dave.post(t, "/requests/"+r.ID+"/approve", url.Values{"comment": {"ok"}})
		p = dave.get(t, p.location)
		if !strings.Contains(p.body, "Approved. alice@example.com has access to crm-payments until Nov 23, 10:00 UTC.") ||
			!strings.Contains(p.body, "Live") || !strings.Contains(p.body, "Access until") {
			t.Fatalf("after the second approval: %s", excerpt(p.body))
		}
		// The flash shows once.
		if p := dave.get(t, "/requests/"+r.ID); strings.Contains(p.body, "Approved. alice") {
			t.Fatal("the flash message showed twice")
		}
		// A final request does not refresh itself.
		if _, err := e.svc.Revoke(context.Background(), root, r.ID, "done"); err != nil {
			t.Fatal(err)
		}
		if p := dave.get(t, "/requests/"+r.ID); strings.Contains(p.body, "data-refresh") || !strings.Contains(p.body, "nothing more can happen to it") {
			t.Fatal("a revoked request still refreshes itself")
		}
	})
}

// A vote that stopped counting stays on the request page, struck out and
// marked withdrawn with its reason, and the progress counts only the rest.
func TestRequestDetailShowsWithdrawnApprovals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newUIEnv(t, db)
		r := e.submit(t, alice, "crm-payments", time.Hour)
		e.approve(t, carol, r.ID)
		storetest.SeedPerson(t, db, "carol@example.com", false)
		res, err := e.svc.ReconcilePeople(context.Background(), []workflow.PersonChange{{Email: "carol@example.com", Source: "SCIM", Deactivated: true}})
		if err != nil || res.Withdrawn != 1 {
			t.Fatalf("reconcile = %+v, %v", res, err)
		}
		p := e.signIn(t, "dave@example.com").get(t, "/requests/"+r.ID)
		for _, want := range []string{"0 of 2", "<s>carol@example.com</s>", "withdrawn", "carol@example.com was deactivated by SCIM"} {
			if !strings.Contains(p.body, want) {
				t.Errorf("detail lacks %q: %s", want, excerpt(p.body))
			}
		}
	})
}

// The policy page names the version in force and links each group member
// to their directory record.
func TestPolicyPageShowsVersionAndPeople(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newUIEnv(t, db)
		pol := *e.svc.Policy()
		pol.Version, pol.SHA256 = 7, "ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12"
		e.svc.SetPolicy(&pol)
		p := e.signIn(t, "root@example.com").get(t, "/policy")
		for _, want := range []string{`<strong id="policy-version">version 7</strong>`, "ab12cd34ef56…", `<a href="/admin/people/carol@example.com"`} {
			if !strings.Contains(p.body, want) {
				t.Errorf("policy page lacks %q", want)
			}
		}
	})
}

// TestSessionsPage: the admins' session list pages (?limit=, ?cursor=)
// through every live session, and refuses a limit out of 1..500.
func TestSessionsPage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newUIEnv(t, db)
		for _, who := range []string{"alice", "bob", "carol", "dave"} {
			e.signIn(t, who+"@example.com")
		}
		root := e.signIn(t, "root@example.com")
		want := e.sessionCount(t)
		if want != 5 {
			t.Fatalf("%d sessions", want)
		}
		row := regexp.MustCompile(`<input type="hidden" name="email" value="([^"]+)">`)
		next := regexp.MustCompile(`<a class="btn btn-sm" href="([^"]+)">Next page</a>`)
		seen := map[string]bool{}
		pages := 0
		for path := "/sessions?limit=2"; path != ""; pages++ {
			p := root.get(t, path)
			if p.status != 200 {
				t.Fatalf("%s: %d %s", path, p.status, p.body)
			}
			rows := row.FindAllStringSubmatch(p.body, -1)
			if len(rows) == 0 || len(rows) > 2 {
				t.Fatalf("%s: %d rows", path, len(rows))
			}
			for _, r := range rows {
				if seen[r[1]] {
					t.Fatalf("%s shown twice", r[1])
				}
				seen[r[1]] = true
			}
			path = ""
			if m := next.FindStringSubmatch(p.body); m != nil {
				path = html.UnescapeString(m[1])
			}
			if pages > 5 {
				t.Fatal("the pages do not end")
			}
		}
		if len(seen) != want || pages != 3 {
			t.Fatalf("%d sessions in %d pages, want %d in 3: %v", len(seen), pages, want, seen)
		}
		for _, q := range []string{"limit=0", "limit=501", "limit=x", "cursor=garbage", "page=2"} {
			if p := root.get(t, "/sessions?"+q); p.status != 400 {
				t.Errorf("/sessions?%s: %d", q, p.status)
			}
		}
	})
}
