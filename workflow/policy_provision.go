package workflow

import (
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/jitaccess/jitaccess/masking"
)

// Provisioner types.
const (
	ProvisionerNone     = "none"     // jitaccess's own record only
	ProvisionerWebhook  = "webhook"  // a signed HTTP POST per grant and revoke
	ProvisionerPostgres = "postgres" // GRANT role TO user / REVOKE on a target database
)

// ProvisionerTypes lists every provisioner type.
var ProvisionerTypes = []string{ProvisionerWebhook, ProvisionerPostgres, ProvisionerNone}

// Postgres user name mappings: how a requester's email becomes a database
// login name.
const (
	UsernameLocalPart = "local_part" // alice@example.com → alice
	UsernameEmail     = "email"      // alice@example.com → alice@example.com
)

// DefaultWebhookTimeout bounds one webhook call.
const DefaultWebhookTimeout = 10 * time.Second

// ProvisionerSpec says how a resource's grants are applied and removed
// where the data lives. Secrets and DSNs are never in the policy: the spec
// names the environment variables that hold them. A copy of the spec is
// kept with each grant, so that a grant is removed the way it was applied
// even if the policy changes meanwhile.
type ProvisionerSpec struct {
	Type string `json:"type"`
	// webhook
	URL       string        `json:"url,omitempty"`
	SecretEnv string        `json:"secret_env,omitempty"`
	Timeout   time.Duration `json:"timeout,omitempty"`
	// postgres
	DSNEnv            string `json:"dsn_env,omitempty"`
	Role              string `json:"role,omitempty"`
	Username          string `json:"username,omitempty"`
	TerminateSessions bool   `json:"terminate_sessions,omitempty"`
	// Line is where the provisioner is defined in the policy file, and
	// TimeoutLine where its timeout is (0: not given, the default).
	Line        int `json:"-"`
	TimeoutLine int `json:"-"`
}

// ProvisionerOf returns r's provisioner: none unless the policy names one.
func (r *Resource) ProvisionerOf() ProvisionerSpec {
	if r == nil || r.Provisioner == nil {
		return ProvisionerSpec{Type: ProvisionerNone}
	}
	return *r.Provisioner
}

// FieldRule is a field of a resource's records that a support tool must
// mask unless the user holds a live grant for the resource. Style is the
// default mask; Views give some groups a more revealing style without a
// grant, and Granted is what a live grant gives (empty: Clear). See
// FieldView.
type FieldRule struct {
	Name    string
	Style   masking.Style
	Views   map[string]masking.Style
	Granted masking.Style
	Line    int
}

// MaskRules returns r's fields as masking rules.
func (r *Resource) MaskRules() []masking.Rule {
	out := make([]masking.Rule, len(r.Fields))
	for i, f := range r.Fields {
		out[i] = masking.Rule{Field: f.Name, Style: f.Style}
	}
	return out
}

// CanCheck reports whether who may ask the check and mask APIs whether a
// user holds a grant: admins, and service tokens with the check scope.
func (p *Policy) CanCheck(who Principal) bool {
	return p.IsAdmin(who) || who.Service != "" && who.HasScope(ScopeCheck)
}

var (
	envNamePattern   = regexp.MustCompile(`^[A-Z_][A-Z0-9_]{0,127}$`)
	pgRolePattern    = regexp.MustCompile(`^[a-z_][a-z0-9_$.-]{0,62}$`)
	fieldNamePattern = regexp.MustCompile(`^[A-Za-z0-9_$-]{1,64}(\.[A-Za-z0-9_$-]{1,64}){0,7}$`)
)

// maxFields bounds a resource's field list.
const maxFields = 100

func (d *policyDecoder) envName(n *yaml.Node, what string) string {
	s := d.str(n, what)
	if s != "" && !envNamePattern.MatchString(s) {
		d.errorf(n, "%s %q must be the name of an environment variable (upper-case letters, digits and _), not its value", what, s)
	}
	return s
}

// provisioner decodes a resource's provisioner: mapping.
func (d *policyDecoder) provisioner(n *yaml.Node) *ProvisionerSpec {
	p := &ProvisionerSpec{Line: n.Line, TerminateSessions: true}
	var timeoutNode *yaml.Node
	seen := d.fields(n, "a provisioner", map[string]func(*yaml.Node){
		"type":       func(v *yaml.Node) { p.Type = d.str(v, "provisioner type") },
		"url":        func(v *yaml.Node) { p.URL = d.str(v, "url") },
		"secret_env": func(v *yaml.Node) { p.SecretEnv = d.envName(v, "secret_env") },
		"timeout": func(v *yaml.Node) {
			timeoutNode = v
			p.Timeout = d.duration(v, "timeout")
			p.TimeoutLine = v.Line
		},
		"dsn_env":            func(v *yaml.Node) { p.DSNEnv = d.envName(v, "dsn_env") },
		"role":               func(v *yaml.Node) { p.Role = d.str(v, "role") },
		"username":           func(v *yaml.Node) { p.Username = d.str(v, "username") },
		"terminate_sessions": func(v *yaml.Node) { p.TerminateSessions = d.boolean(v, "terminate_sessions") },
	})
	if n.Kind != yaml.MappingNode {
		return nil
	}
	// Keys that belong to another type are errors, so that a typo in the
	// type is not silently a provisioner that does nothing.
	own := map[string][]string{
		ProvisionerWebhook:  {"url", "secret_env", "timeout"},
		ProvisionerPostgres: {"dsn_env", "role", "username", "terminate_sessions"},
		ProvisionerNone:     {},
	}
	switch {
	case seen["type"] == nil:
		d.errorf(n, "provisioner has no type (one of %s)", strings.Join(ProvisionerTypes, ", "))
		return nil
	case own[p.Type] == nil:
		d.errorf(seen["type"], "unknown provisioner type %q; use %s", p.Type, strings.Join(ProvisionerTypes, ", "))
		return nil
	}
	for _, key := range slices.Sorted(maps.Keys(seen)) {
		if key != "type" && !slices.Contains(own[p.Type], key) {
			d.errorf(seen[key], "%s does not apply to a %s provisioner", key, p.Type)
		}
	}
	switch p.Type {
	case ProvisionerWebhook:
		if seen["url"] == nil {
			d.errorf(n, "webhook provisioner has no url")
		} else if u, err := url.Parse(p.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
			d.errorf(seen["url"], "webhook url %q must be an http:// or https:// URL with a host and no credentials", p.URL)
		}
		if seen["secret_env"] == nil {
			d.errorf(n, "webhook provisioner has no secret_env (the environment variable that holds the signing secret)")
		}
		switch {
		case timeoutNode == nil:
			p.Timeout = DefaultWebhookTimeout
		case p.Timeout > 5*time.Minute:
			d.errorf(timeoutNode, "webhook timeout %s is longer than 5m", p.Timeout)
		}
	case ProvisionerPostgres:
		if seen["dsn_env"] == nil {
			d.errorf(n, "postgres provisioner has no dsn_env (the environment variable that holds the target database's DSN; never the DSN itself)")
		}
		if seen["role"] == nil {
			d.errorf(n, "postgres provisioner has no role (the role granted to the user)")
		} else if !pgRolePattern.MatchString(p.Role) {
			d.errorf(seen["role"], "role %q must be 1-63 lower-case letters, digits and _ $ . - (starting with a letter or _)", p.Role)
		}
		switch p.Username {
		case "":
			p.Username = UsernameLocalPart
		case UsernameLocalPart, UsernameEmail:
		default:
			d.errorf(seen["username"], "username %q: use local_part (alice@example.com logs in as alice) or email", p.Username)
		}
	}
	return p
}

// maskFields decodes a resource's fields: list, and returns the groups
// its views name (checked against groups: by the caller).
func (d *policyDecoder) maskFields(n *yaml.Node) ([]FieldRule, []groupRef) {
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, "fields must be a list of {name, mask}, not %s", kindName(n))
		return nil, nil
	}
	if len(n.Content) > maxFields {
		d.errorf(n, "fields lists %d fields; at most %d", len(n.Content), maxFields)
	}
	var out []FieldRule
	var refs []groupRef
	first := map[string]int{}
	for _, c := range n.Content {
		f := FieldRule{Line: c.Line}
		var mask, granted string
		var viewsNode *yaml.Node
		seen := d.fields(c, "a field", map[string]func(*yaml.Node){
			"name":    func(v *yaml.Node) { f.Name = d.str(v, "field name") },
			"mask":    func(v *yaml.Node) { mask = d.str(v, "mask") },
			"views":   func(v *yaml.Node) { viewsNode = v },
			"granted": func(v *yaml.Node) { granted = d.str(v, "granted") },
		})
		if c.Kind != yaml.MappingNode {
			continue
		}
		switch {
		case seen["name"] == nil:
			d.errorf(c, "field has no name")
		case !fieldNamePattern.MatchString(f.Name):
			d.errorf(seen["name"], "field name %q must be a JSON key (letters, digits, _ $ -), or a dotted path of them like customer.iban", f.Name)
		case first[f.Name] != 0:
			d.errorf(seen["name"], "field %q listed twice (first at line %d)", f.Name, first[f.Name])
		default:
			first[f.Name] = c.Line
		}
		if seen["mask"] == nil {
			d.errorf(c, "field %q has no mask (%s)", f.Name, styleList())
		} else if st, err := masking.ParseStyle(mask); err != nil {
			d.errorf(seen["mask"], "field %q: %v", f.Name, err)
		} else {
			f.Style = st
		}
		if gn := seen["granted"]; gn != nil && granted != "" {
			if st, err := parseViewStyle(granted, true); err != nil {
				d.errorf(gn, "field %q: granted: %v", f.Name, err)
			} else if f.Style != "" && !MoreRevealing(st, f.Style) {
				d.errorf(gn, "field %q: granted: %s reveals no more than its mask %s, so a live grant would change nothing", f.Name, st, f.Style)
			} else {
				f.Granted = st
			}
		}
		if viewsNode != nil {
			f.Views, refs = d.fieldViews(viewsNode, f, refs)
		}
		out = append(out, f)
	}
	return out, refs
}

// fieldViews decodes a field's views: {GROUP: STYLE}.
func (d *policyDecoder) fieldViews(n *yaml.Node, f FieldRule, refs []groupRef) (map[string]masking.Style, []groupRef) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "field %q: views must map group names to mask styles, like {escalation: last4}, not %s", f.Name, kindName(n))
		return nil, refs
	}
	views := map[string]masking.Style{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		group := k.Value
		if _, dup := views[group]; dup {
			d.errorf(k, "field %q: group %q has two views", f.Name, group)
			continue
		}
		refs = append(refs, groupRef{group, k})
		st, err := parseViewStyle(d.str(v, "the view of group "+group), false)
		switch {
		case err != nil:
			d.errorf(v, "field %q: view of group %q: %v", f.Name, group, err)
			continue
		case f.Style != "" && !MoreRevealing(st, f.Style):
			d.errorf(v, "field %q: the view %s of group %q reveals no more than the mask %s, so it would change nothing", f.Name, st, group, f.Style)
			continue
		case MoreRevealing(st, f.GrantedView()):
			d.errorf(v, "field %q: the view %s of group %q reveals more than a live grant gives (granted: %s)", f.Name, st, group, f.GrantedView())
			continue
		}
		views[group] = st
	}
	return views, refs
}

// checkProvisioners applies the rules that need every resource: two
// resources must not grant the same role on the same database, or ending
// one grant would take away the other.
func (d *policyDecoder) checkProvisioners(resources []*Resource) {
	type target struct{ dsn, role string }
	first := map[target]*Resource{}
	for _, r := range resources {
		p := r.Provisioner
		if p == nil || p.Type != ProvisionerPostgres || p.DSNEnv == "" || p.Role == "" {
			continue
		}
		t := target{p.DSNEnv, p.Role}
		if o, dup := first[t]; dup {
			d.errs = append(d.errs, PolicyError{File: d.file, Line: p.Line, Msg: fmt.Sprintf(
				"resource %q grants role %q on %s like resource %q (line %d); removing one grant would remove the other",
				r.ID, p.Role, p.DSNEnv, o.ID, o.Line)})
			continue
		}
		first[t] = r
	}
}

// NeedsMaskKey reports whether any resource masks a field with the token
// style (as its mask, a group's view or its granted: view), which needs a
// key.
func (p *Policy) NeedsMaskKey() (*Resource, *FieldRule) {
	for _, r := range p.Resources {
		for i := range r.Fields {
			f := &r.Fields[i]
			if f.Style == masking.Token || f.Granted == masking.Token || slices.Contains(slices.Collect(maps.Values(f.Views)), masking.Token) {
				return r, f
			}
		}
	}
	return nil, nil
}
