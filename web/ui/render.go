package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/review"
	"github.com/jitaccess/jitaccess/web/httpkit"
	"github.com/jitaccess/jitaccess/workflow"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pages holds one template set per page: the layout, the partials, and
// the page's own file defining "content".
type pages struct {
	sets   map[string]*template.Template
	assets map[string]string // file name → versioned URL
	// masters are unexecuted copies of sets: html/template clones only
	// templates that have not run, and each time zone a viewer has gets
	// its own clones, whose local* functions format in that zone.
	masters map[string]*template.Template
	zoned   sync.Map // zone name + "/" + page → *template.Template
}

// set is the template set of page name with times shown in loc (nil or
// UTC: the shared sets).
func (p *pages) set(name string, loc *time.Location) (*template.Template, error) {
	if loc == nil || loc == time.UTC {
		t, ok := p.sets[name]
		if !ok {
			return nil, fmt.Errorf("no template %q", name)
		}
		return t, nil
	}
	key := loc.String() + "/" + name
	if t, ok := p.zoned.Load(key); ok {
		return t.(*template.Template), nil
	}
	m, ok := p.masters[name]
	if !ok {
		return nil, fmt.Errorf("no template %q", name)
	}
	t, err := m.Clone()
	if err != nil {
		return nil, err
	}
	t.Funcs(zoneFuncs(loc))
	actual, _ := p.zoned.LoadOrStore(key, t)
	return actual.(*template.Template), nil
}

func mustLoadPages() *pages {
	p, err := loadPages()
	if err != nil {
		panic("web UI templates: " + err.Error())
	}
	return p
}

func loadPages() (*pages, error) {
	p := &pages{sets: map[string]*template.Template{}, assets: map[string]string{}, masters: map[string]*template.Template{}}
	err := fs.WalkDir(staticFS, "static", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := staticFS.ReadFile(name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		rel := strings.TrimPrefix(name, "static/")
		p.assets[rel] = "/static/" + rel + "?v=" + hex.EncodeToString(sum[:6])
		return nil
	})
	if err != nil {
		return nil, err
	}
	funcs := templateFuncs(p.assets)
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	var shared []string
	var views []string
	for _, f := range files {
		base := path.Base(f)
		if base == "layout.html" || strings.HasPrefix(base, "_") {
			shared = append(shared, f)
		} else {
			views = append(views, f)
		}
	}
	for _, f := range views {
		name := strings.TrimSuffix(path.Base(f), ".html")
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, append(append([]string(nil), shared...), f)...)
		if err != nil {
			return nil, err
		}
		if t.Lookup("content") == nil {
			return nil, fmt.Errorf("%s does not define \"content\"", f)
		}
		m, err := t.Clone()
		if err != nil {
			return nil, err
		}
		p.sets[name], p.masters[name] = t, m
	}
	return p, nil
}

// viewer is the signed-in person as the pages see them, recomputed from
// the policy in force on every request.
type viewer struct {
	Email     string
	Principal workflow.Principal
	Session   identity.Session
	Admin     bool
	Approver  bool // approves at least one resource
	Requester bool // may request at least one resource
	Known     bool // named by the policy
	Reviewer  bool // in one of the policy's reviewers groups
	// As package review decides: Overseer reads every report, flag and
	// the dashboard (admins and reviewers); Reviews reads some review
	// (overseers, and approvers for their resources).
	Overseer bool
	Reviews  bool
	// Oversight is set when this server has the oversight pages.
	Oversight bool
	// GroupsStale is set when the session's identity provider groups are
	// older than --groups-max-age and no longer count; ReSignIn when
	// signing in again (OIDC) would read them afresh.
	GroupsStale  bool
	ReSignIn     bool
	GroupsMaxAge string // --groups-max-age, for the notice
	ReturnTo     string // where signing in again comes back to
}

// newViewer describes the viewer of session s, judged as p (the session's
// principal as identity.Authenticator resolved it for this request).
func newViewer(pol *workflow.Policy, s identity.Session, p workflow.Principal) *viewer {
	v := &viewer{Email: p.Email, Principal: p, Session: s, Admin: pol.IsAdmin(p), Known: pol.Knows(p), Reviewer: pol.IsReviewer(p),
		Overseer: review.CanOversee(pol, p), Reviews: review.CheckReviews(pol, p) == nil}
	for _, r := range pol.Resources {
		v.Approver = v.Approver || pol.CanApprove(p, r)
		v.Requester = v.Requester || pol.CanRequest(p, r)
	}
	return v
}

// Roles names the viewer's roles for the header.
func (v *viewer) Roles() []string {
	var out []string
	if v.Requester {
		out = append(out, "Requester")
	}
	if v.Approver {
		out = append(out, "Approver")
	}
	if v.Reviewer {
		out = append(out, "Reviewer")
	}
	if v.Admin {
		out = append(out, "Admin")
	}
	return out
}

// flash is a one-time message carried across a redirect.
type flash struct {
	Kind string // success, info, error
	Text string
}

// navLink is a navItem as one viewer sees it.
type navLink struct {
	navItem
	Active bool
	Badge  int
}

// view is what every page template gets.
type view struct {
	Title   string
	Active  string // the navItem key of this page
	Me      *viewer
	CSRF    string
	Flash   *flash
	Error   string // a refused action's message, shown at the top
	Refresh int    // seconds between auto-refreshes; 0 for none
	Demo    bool
	Nav     []navLink
	Now     time.Time
	// Zone is the viewer's time zone as their session remembers it ("" or
	// UTC until the browser has said); times on the page are shown in it.
	Zone string
	loc  *time.Location
	Data any
	// Reminders are the review campaigns waiting for the viewer's
	// sign-off, shown on every page (campaignReminders).
	Reminders []string
	pol       *workflow.Policy
}

// NeedsMFA reports whether action (require_mfa's names: approve, deny,
// revoke, request) on resource needs a second factor, so that its form
// carries data-step-up and static/mfa.js steps up before sending it. The
// service judges the form again.
func (v *view) NeedsMFA(resource, action string) bool {
	return v.pol != nil && v.pol.RequiresMFA(resource, action)
}

// newView prepares a page for the signed-in viewer: navigation (with the
// count of decisions waiting), CSRF token, and any flash message.
func (u *UI) newView(c echo.Context, title, active string) *view {
	v := &view{Title: title, Active: active, Now: u.now(), Demo: len(u.cfg.DemoUsers) > 0, Flash: u.takeFlash(c), pol: u.svc.Policy()}
	me := u.viewerOf(c)
	if me == nil {
		return v
	}
	v.Me, v.CSRF = me, me.Session.CSRFToken
	if loc, err := identity.SessionTimeZone(me.Session.TimeZone); err == nil {
		v.Zone, v.loc = loc.String(), loc
	}
	for _, item := range navItems {
		if !item.Show(me) {
			continue
		}
		link := navLink{navItem: item}
		if item.Count {
			n, err := u.svc.CountDecisions(c.Request().Context(), me.Principal)
			if err != nil {
				u.log.Warn("count decisions", "err", err)
			}
			link.Badge = n
		}
		v.Nav = append(v.Nav, link)
	}
	v.Reminders = u.campaignReminders(c, me)
	return v
}

// campaignReminders says, for a viewer who reviews, which review
// campaigns have reviews left to sign off: "Review campaign quarterly-all:
// 2 reviews to sign off, due 2026-10-15 (in 3d)".
func (u *UI) campaignReminders(c echo.Context, me *viewer) []string {
	if u.over == nil || len(u.svc.Policy().ReviewCampaigns) == 0 {
		return nil
	}
	runs, err := u.over.Reviews.CampaignStatus(c.Request().Context(), me.Principal)
	if err != nil {
		return nil // not a reviewer of anything
	}
	var out []string
	now := u.now()
	for _, r := range runs {
		if r.Open() == 0 {
			continue
		}
		when := "in " + humanDuration(r.DueAt.Sub(now).Round(time.Hour))
		if r.Overdue(now) {
			when = "overdue by " + humanDuration(now.Sub(r.DueAt).Round(time.Hour))
		}
		out = append(out, fmt.Sprintf("Review campaign %s: %s to sign off, due %s (%s).", r.Campaign,
			workflow.Plural(r.Open(), "review", "reviews"), r.DueAt.Format("2006-01-02"), when))
	}
	return out
}

// render writes page name with status.
func (u *UI) render(c echo.Context, status int, name string, v *view) error {
	for i := range v.Nav {
		v.Nav[i].Active = v.Nav[i].Key == v.Active // handlers may set Active late
	}
	t, err := u.pages.set(name, v.loc)
	if err != nil {
		return workflow.Internal(err, "page not found")
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		return workflow.Internal(err, "render %s", name)
	}
	return c.HTMLBlob(status, buf.Bytes())
}

// htmlErrors turns an error from a UI handler into an HTML page with the
// status the API would give and the same message. A GET that needs a
// session goes to the sign-in page instead.
func (u *UI) htmlErrors(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		// Every page's chain starts here: what it writes to the audit log
		// came through the web UI.
		c.SetRequest(c.Request().WithContext(workflow.WithSource(c.Request().Context(), workflow.SourceWeb)))
		err := next(c)
		if err == nil || c.Response().Committed {
			return err
		}
		err = httpkit.AsDomainError(err)
		code := workflow.ErrorCode(err)
		status := httpkit.Status(code)
		if status >= 500 {
			u.log.Error("page failed", "method", c.Request().Method, "path", c.Path(), "code", code, "err", err)
		}
		if code == workflow.CodeUnauthenticated {
			return u.toSignIn(c, workflow.ErrorMessage(err))
		}
		if code == workflow.CodeRateLimited && c.Response().Header().Get("Retry-After") == "" {
			c.Response().Header().Set("Retry-After", "60")
		}
		v := u.newView(c, http.StatusText(status), "")
		v.Data = errorPage{Status: status, Code: code, Message: workflow.ErrorMessage(err)}
		if rerr := u.render(c, status, "error", v); rerr != nil {
			u.log.Error("render error page", "err", rerr)
			return c.String(status, workflow.ErrorMessage(err))
		}
		return nil
	}
}

type errorPage struct {
	Status  int
	Code    workflow.Code
	Message string
}

// toSignIn sends the browser to the sign-in page, back to where it was
// afterwards when that was a page it asked for.
func (u *UI) toSignIn(c echo.Context, msg string) error {
	r := c.Request()
	target := "/sign-in"
	if r.Method == http.MethodGet && r.URL.Path != "/" {
		target += "?next=" + url.QueryEscape(r.URL.RequestURI())
	}
	if msg != "" && r.Method != http.MethodGet {
		u.setFlash(c, "info", msg)
	}
	return c.Redirect(http.StatusSeeOther, target)
}

// pager links to the first and the next page of a listing, keeping its
// filters.
type pager struct {
	First string // "" on the first page
	Next  string // "" on the last page
}

func pagerFor(c echo.Context, next string) pager {
	q := url.Values{}
	for k, v := range c.QueryParams() {
		q[k] = v
	}
	cursor := q.Get("cursor")
	q.Del("cursor")
	base := c.Request().URL.Path
	var p pager
	if cursor != "" {
		p.First = base
		if len(q) > 0 {
			p.First += "?" + q.Encode()
		}
	}
	if next != "" {
		q.Set("cursor", next)
		p.Next = base + "?" + q.Encode()
	}
	return p
}

// localPath returns next if it is a path on this site, or def: redirects
// never leave jitaccess.
func localPath(next, def string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.ContainsAny(next, "\r\n\t") {
		return def
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return def
	}
	return next
}

// static serves the embedded assets. URLs carry a content hash, so they
// may be cached for good.
func (u *UI) static(c echo.Context) error {
	name := strings.TrimPrefix(c.Param("*"), "/")
	if _, ok := u.pages.assets[name]; !ok {
		return echo.ErrNotFound
	}
	data, err := staticFS.ReadFile("static/" + name)
	if err != nil {
		return echo.ErrNotFound
	}
	ctype := "application/octet-stream"
	switch path.Ext(name) {
	case ".css":
		ctype = "text/css; charset=utf-8"
	case ".js":
		ctype = "text/javascript; charset=utf-8"
	case ".svg":
		ctype = "image/svg+xml"
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	return c.Blob(http.StatusOK, ctype, data)
}
