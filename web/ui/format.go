package ui

import (
	"fmt"
	"html/template"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jitaccess/jitaccess/audit"
	"github.com/jitaccess/jitaccess/review"
	"github.com/jitaccess/jitaccess/workflow"
)

// templateFuncs are the helpers templates may call. They format; they
// decide nothing.
func templateFuncs(assets map[string]string) template.FuncMap {
	return template.FuncMap{
		"asset":    func(name string) string { return assets[name] },
		"utc":      formatUTC,
		"utcShort": formatUTCShort,
		// local, localShort and localDay show a time to the viewer in
		// their own time zone. Until their session knows it, the page
		// carries the time in UTC (the text, and the title, which stays
		// UTC) and app.js rewrites the text with the browser's zone and
		// tells the session; from then on the server writes the zone's
		// time itself (zoneFuncs). Attributes and exports use utc.
		"local":      func(t time.Time) template.HTML { return localTime(t, "full", formatUTC(t)) },
		"localShort": func(t time.Time) template.HTML { return localTime(t, "short", formatUTCShort(t)) },
		"localDay":   func(t time.Time) template.HTML { return localTime(t, "day", t.UTC().Format("Jan 2, 15:04")) },
		"iso":        func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"ago":        func(t, now time.Time) string { return humanDuration(now.Sub(t)) + " ago" },
		"since":      func(t, now time.Time) string { return humanDuration(now.Sub(t)) },
		"until":      func(t, now time.Time) string { return humanDuration(t.Sub(now)) },
		"dur":        workflow.FormatDuration,
		"human":      humanDuration,
		"stateLabel": stateLabel,
		"stateClass": stateClass,
		"provClass":  provisioningClass,
		"effective":  func(r *workflow.Request, now time.Time) workflow.State { return r.EffectiveState(now) },
		"progress":   progressText,
		"countdown":  func(rv *workflow.EmergencyReview, now time.Time) string { return rv.Countdown(now) },
		"needs":      needsText,
		"join":       func(list []string) string { return strings.Join(list, ", ") },
		"seconds":    func(d time.Duration) int64 { return int64(d / time.Second) },
		"left":       timeLeft,
		"deref":      func(t *time.Time) time.Time { return derefTime(t) },
		// at pairs a request with the time of the page, for templates
		// that need both (the "starts" badge).
		"at":        func(r *workflow.Request, now time.Time) requestAt { return requestAt{r, now} },
		"soon":      func(t, now time.Time, hours int) bool { return t.Sub(now) < time.Duration(hours)*time.Hour },
		"plural":    plural,
		"thousands": thousands,
		"percent":   func(f float64) string { return fmt.Sprintf("%.0f%%", f*100) },
		"refusalLabel": func(kind string) string {
			switch kind {
			case workflow.RefusedSelfApproval:
				return "approving or denying their own request"
			case workflow.RefusedNotRequester:
				return "not a requester of the resource"
			case workflow.RefusedNotApprover:
				return "not an approver of the resource"
			case workflow.RefusedMaxDuration:
				return "over the maximum duration"
			case workflow.RefusedConditions:
				return "a condition did not hold"
			case workflow.RefusedMFA:
				return "no fresh second factor"
			}
			return kind
		},
		"lower":    strings.ToLower,
		"sentence": workflow.Sentence, // a refusal shown alone starts as a sentence
		"short": func(id string) string {
			if len(id) > 8 {
				return id[:8] + "…"
			}
			return id
		},
		"pips": func(n int) []struct{} { return make([]struct{}, n) },
		"i64":  func(n int64) int { return int(n) },
		// The oversight pages (ui_oversight.go).
		"isDate":    isDate,
		"reqShort":  reqShort,
		"dayTime":   func(t time.Time) string { return t.UTC().Format("Jan 2, 15:04") },
		"first":     func(n int, list []string) []string { return list[:min(n, len(list))] },
		"sub":       func(a, b int) int { return a - b },
		"flagLabel": flagLabel,
		"headShort": shortHead,
		"took":      func(d audit.Duration) string { return time.Duration(d).Round(time.Millisecond).String() },
		"scopeKind": func(s review.Scope) string {
			switch s.Kind {
			case review.ScopeResource:
				return "one resource"
			case review.ScopePerson:
				return "one person"
			}
			return "everything"
		},
		"followUp": followUpOf,
		// lineOf is a line of a report with the follow-up control of its
		// person or resource (kind).
		"lineOf": func(rv reportView, l review.Line, kind string) lineView {
			ref := l.Person
			if kind == review.ItemResource {
				ref = l.Resource
			}
			return lineView{Line: l, Follow: followUpOf(rv, kind, ref)}
		},
		"query": func(v url.Values) template.URL { return template.URL(v.Encode()) },
		"initial": func(email string) string {
			if email == "" {
				return "?"
			}
			r, _ := utf8.DecodeRuneInString(email) // a whole character, never half of one
			return strings.ToUpper(string(r))
		},
	}
}

func derefTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

func formatUTC(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func formatUTCShort(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("Jan 2, 15:04 UTC")
}

// humanDuration says how long, the way a person would: "under a minute",
// "12 min", "2 h 5 min", "3 d 4 h".
func humanDuration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d < time.Minute:
		return "under a minute"
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d/time.Minute))
	case d < 24*time.Hour:
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return fmt.Sprintf("%d h", h)
		}
		return fmt.Sprintf("%d h %d min", h, m)
	}
	days, h := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
	if h == 0 {
		return fmt.Sprintf("%d d", days)
	}
	return fmt.Sprintf("%d d %d h", days, h)
}

// timeLeft is how long a live grant has left at now (0 when lapsed).
func timeLeft(r *workflow.Request, now time.Time) time.Duration {
	if r.ExpiresAt == nil || !r.ExpiresAt.After(now) {
		return 0
	}
	return r.ExpiresAt.Sub(now)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return thousands(n) + " " + many
}

// thousands writes n with thousands separators: 10,000.
func thousands(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// requestAt is a request and the time of the page.
type requestAt struct {
	R   *workflow.Request
	Now time.Time
}

// stateLabel names a state for people: "approved" while access is live
// reads "Live".
func stateLabel(s workflow.State) string {
	switch s {
	case workflow.StatePending:
		return "Pending"
	case workflow.StateApproved:
		return "Live"
	case workflow.StateDenied:
		return "Denied"
	case workflow.StateCancelled:
		return "Cancelled"
	case workflow.StateTimedOut:
		return "Timed out"
	case workflow.StateExpired:
		return "Expired"
	case workflow.StateRevoked:
		return "Revoked"
	case workflow.StateScheduled:
		return "Scheduled"
	case workflow.StateExtended:
		return "Extended"
	}
	return string(s)
}

func stateClass(s workflow.State) string {
	switch s {
	case workflow.StatePending, workflow.StateScheduled:
		return "pending"
	case workflow.StateApproved:
		return "live"
	case workflow.StateDenied, workflow.StateRevoked:
		return "stopped"
	}
	return "ended"
}

// provisioningClass colours a provisioning status like the request
// states: applied is live access, failed is the one to look at.
func provisioningClass(status string) string {
	switch status {
	case "pending":
		return "pending"
	case "applied":
		return "live"
	case "failed":
		return "stopped"
	}
	return "ended"
}

// progressText is "1 of 2" (approvals so far of approvals needed).
func progressText(r *workflow.Request) string {
	p := workflow.ApprovalStatus(r)
	return fmt.Sprintf("%d of %d", p.Have, p.Need)
}

// needsText says what a pending request still needs: "needs someone other
// than carol@example.com", or "needs 2 approvers".
func needsText(r *workflow.Request) string {
	p := workflow.ApprovalStatus(r)
	switch {
	case p.Missing == 0:
		return "quorum met"
	case p.Have == 0:
		return "needs " + plural(p.Missing, "approver", "approvers")
	case p.Missing == 1:
		return "needs someone other than " + strings.Join(p.Approvers, " and ")
	}
	return fmt.Sprintf("needs %d more, other than %s", p.Missing, strings.Join(p.Approvers, " and "))
}

// formatShortIn is formatUTCShort in loc.
func formatShortIn(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return ""
	}
	return t.In(loc).Format("Jan 2, 15:04 MST")
}

// zoneFuncs are local, localShort and localDay for a viewer whose session
// knows their time zone: the text is the time there, the title UTC.
func zoneFuncs(loc *time.Location) template.FuncMap {
	in := func(t time.Time, layout string) string { return t.In(loc).Format(layout) }
	return template.FuncMap{
		"local":      func(t time.Time) template.HTML { return localTime(t, "full", in(t, "2006-01-02 15:04:05 MST")) },
		"localShort": func(t time.Time) template.HTML { return localTime(t, "short", in(t, "Jan 2, 15:04 MST")) },
		"localDay":   func(t time.Time) template.HTML { return localTime(t, "day", in(t, "Jan 2, 15:04")) },
	}
}

// localTime is a <time> element holding t in UTC, with text (t in UTC
// or in the viewer's zone) shown in style full, short or day, and UTC in
// its title. app.js rewrites the text when the page's zone is not the
// browser's.
func localTime(t time.Time, style, text string) template.HTML {
	if t.IsZero() {
		return ""
	}
	iso := t.UTC().Format(time.RFC3339)
	esc := template.HTMLEscapeString
	return template.HTML(`<time datetime="` + iso + `" data-local="` + style + `" title="` + esc(formatUTC(t)) + `">` + esc(text) + `</time>`) // #nosec: escaped
}
