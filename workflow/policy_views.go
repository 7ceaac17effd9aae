package workflow

import (
	"fmt"
	"slices"
	"strings"

	"github.com/jitaccess/jitaccess/masking"
)

// Views by role: a field's mask is what a reader gets by default; a view
// gives the members of a group a more revealing style without a grant
// (views: {escalation: last4}); a live grant gives Clear, or the field's
// granted: style. Each reader gets the most revealing style among those
// that apply to them.

// Clear is the view of a value shown as it is. It is not a mask style: a
// field whose view is Clear is left alone. Only granted: may name it; a
// standing view cannot be clear (that is what a grant is for).
const Clear masking.Style = "clear"

// Revealing order, most revealing first:
//
//	clear > last4 > token = encrypt > redact
//
// last4 shows part of the value; token and encrypt show none of it but let
// equal values be matched (encrypt can also be opened under a grant, by
// detokenize, never by reading the record); redact shows nothing. A style
// that masking lists and this table does not ranks with redact, so that a
// new style is never preferred until it is placed here.
var revealRank = map[masking.Style]int{
	Clear:          0,
	masking.Last4:  1,
	masking.Token:  2,
	"encrypt":      2,
	masking.Redact: 3,
}

func rankOf(st masking.Style) int {
	if r, ok := revealRank[st]; ok {
		return r
	}
	return revealRank[masking.Redact]
}

// MoreRevealing reports whether style a shows strictly more of a value
// than style b.
func MoreRevealing(a, b masking.Style) bool { return rankOf(a) < rankOf(b) }

// styleList names the mask styles masking knows, for messages.
func styleList() string {
	names := make([]string, len(masking.Styles))
	for i, st := range masking.Styles {
		names[i] = string(st)
	}
	return strings.Join(names, ", ")
}

// parseViewStyle parses the style of a view (allowClear false) or of
// granted: (allowClear true): one of masking's styles, or clear.
func parseViewStyle(s string, allowClear bool) (masking.Style, error) {
	if masking.Style(s) == Clear {
		if allowClear {
			return Clear, nil
		}
		return "", fmt.Errorf("a standing view cannot be clear; only a live grant shows a field in clear")
	}
	st, err := masking.ParseStyle(s)
	if err != nil {
		if allowClear {
			return "", fmt.Errorf("unknown style %q; use clear or one of %s", s, styleList())
		}
		return "", fmt.Errorf("unknown style %q; use one of %s", s, styleList())
	}
	return st, nil
}

// GrantedView is the style a live grant gives for f: its granted: style,
// Clear by default.
func (f FieldRule) GrantedView() masking.Style {
	if f.Granted == "" {
		return Clear
	}
	return f.Granted
}

// FieldView is the style who gets for field f: with a live grant (granted,
// as workflow.JudgeCheck allows it), the field's granted view; without
// one, the most revealing view among who's groups (policy file, identity
// provider and directory groups alike, as pol.InAnyGroup counts them),
// else the field's mask. A disabled person gets the mask. It is pure.
func FieldView(pol *Policy, who Principal, f FieldRule, granted bool) masking.Style {
	st, _ := fieldView(pol, who, f, granted)
	return st
}

// fieldView is FieldView, also naming the group whose view applied ("" for
// the mask or a grant).
func fieldView(pol *Policy, who Principal, f FieldRule, granted bool) (masking.Style, string) {
	if granted {
		return f.GrantedView(), ""
	}
	st, by := f.Style, ""
	for _, g := range sortedGroups(f.Views) {
		if v := f.Views[g]; MoreRevealing(v, st) && pol.InAnyGroup(who, []string{g}) {
			st, by = v, g
		}
	}
	return st, by
}

// ViewRules returns the masking rules of res for who: one per field that
// is not Clear for them, with the style FieldView gives. views names the
// groups whose views applied, sorted.
func ViewRules(pol *Policy, who Principal, res *Resource, granted bool) (rules []masking.Rule, views []string) {
	rules = make([]masking.Rule, 0, len(res.Fields))
	for _, f := range res.Fields {
		st, by := fieldView(pol, who, f, granted)
		if by != "" && !slices.Contains(views, by) {
			views = append(views, by)
		}
		if st != Clear {
			rules = append(rules, masking.Rule{Field: f.Name, Style: st})
		}
	}
	slices.Sort(views)
	return rules, views
}

// HasViews reports whether any field of r gives a group a view, so that
// masking for a reader depends on their groups.
func (r *Resource) HasViews() bool {
	for _, f := range r.Fields {
		if len(f.Views) > 0 {
			return true
		}
	}
	return false
}

func sortedGroups(m map[string]masking.Style) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// ViewMatrix is "who sees what" for one resource: for each declared field,
// the style the members of each group get without a grant, and what a live
// grant gives.
type ViewMatrix struct {
	Resource string    `json:"resource"`
	Groups   []string  `json:"groups"`
	Fields   []ViewRow `json:"fields"`
}

// ViewRow is one field of a ViewMatrix.
type ViewRow struct {
	Field string `json:"field"`
	// Mask is what someone in none of the groups with a view gets.
	Mask masking.Style `json:"mask"`
	// Views maps every group of the policy to what its members get from
	// that group alone.
	Views map[string]masking.Style `json:"views"`
	// Cells are Views in the order of the matrix's Groups.
	Cells []masking.Style `json:"-"`
	// Granted is what a live grant gives.
	Granted masking.Style `json:"granted"`
}

// Matrix returns the view matrix of res under p, over every group p
// defines (sorted). A person in several groups gets the most revealing of
// their groups' cells.
func (p *Policy) Matrix(res *Resource) ViewMatrix {
	groups := make([]string, 0, len(p.Groups))
	for g := range p.Groups {
		groups = append(groups, g)
	}
	slices.Sort(groups)
	m := ViewMatrix{Resource: res.ID, Groups: groups, Fields: []ViewRow{}}
	for _, f := range res.Fields {
		row := ViewRow{Field: f.Name, Mask: f.Style, Views: map[string]masking.Style{}, Granted: f.GrantedView()}
		for _, g := range groups {
			st := f.Style
			if v, ok := f.Views[g]; ok && MoreRevealing(v, st) {
				st = v
			}
			row.Views[g] = st
			row.Cells = append(row.Cells, st)
		}
		m.Fields = append(m.Fields, row)
	}
	return m
}
