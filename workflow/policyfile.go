package workflow

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/jitaccess/jitaccess/masking"
)

// PolicyError is one problem in a policy file, located by file and line,
// and by column where it is known (a condition's expression).
type PolicyError struct {
	File string
	Line int
	Col  int
	Msg  string
}

func (e PolicyError) Error() string {
	if e.Line > 0 && e.Col > 0 {
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
	}
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// PolicyErrors is every problem found in one policy file, in line order.
type PolicyErrors []PolicyError

func (es PolicyErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// LoadPolicyFile reads and validates the policy file at path.
func LoadPolicyFile(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, PolicyErrors{{File: path, Msg: fmt.Sprintf("cannot read policy: %v", errors.Unwrap(err))}}
	}
	return ParsePolicy(path, data)
}

// ParsePolicy parses and validates a policy. file names the source in
// error messages. The policy's SHA256 is the hash of data. It reports every problem it finds, each with its line,
// as PolicyErrors.
//
// The file is walked node by node rather than decoded into structs so that
// every message, including an unknown key or a wrong type, carries the
// line and speaks in the file's own terms.
func ParsePolicy(file string, data []byte) (*Policy, error) {
	d := &policyDecoder{file: file}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, PolicyErrors{yamlSyntaxError(file, err)}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, PolicyErrors{{File: file, Line: 1, Msg: "policy is empty; it needs at least one resource"}}
	}
	p := d.policy(doc.Content[0])
	if len(d.errs) > 0 {
		slices.SortStableFunc(d.errs, func(a, b PolicyError) int {
			if a.Line != b.Line {
				return a.Line - b.Line
			}
			return a.Col - b.Col
		})
		return nil, d.errs
	}
	sum := sha256.Sum256(data)
	p.SHA256 = hex.EncodeToString(sum[:])
	return p, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func yamlSyntaxError(file string, err error) PolicyError {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return PolicyError{File: file, Line: line, Msg: "invalid YAML: " + m[2]}
	}
	return PolicyError{File: file, Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

type policyDecoder struct {
	file  string
	errs  PolicyErrors
	conds []conditionSource // compiled once the whole policy is read
	// extras hold what is judged once the whole policy is read (see
	// applyLevelsAndTiers).
	extras map[*Resource]*resourceExtras
	// breakGlass holds each break_glass block's nodes, judged once the
	// whole policy is read (policy_breakglass.go).
	breakGlass map[*Resource]*breakGlassNodes
	// columns makes errorf give the column too (inside break_glass).
	columns bool
}

func (d *policyDecoder) errorf(n *yaml.Node, format string, args ...any) {
	e := PolicyError{File: d.file, Line: n.Line, Msg: fmt.Sprintf(format, args...)}
	if d.columns {
		e.Col = n.Column
	}
	d.errs = append(d.errs, e)
}

// fields walks a mapping node, calling the handler for each known key and
// reporting unknown and repeated keys. where names the mapping in messages.
func (d *policyDecoder) fields(n *yaml.Node, where string, handlers map[string]func(v *yaml.Node)) map[string]*yaml.Node {
	seen := map[string]*yaml.Node{}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s must be a mapping of keys to values, not %s", where, kindName(n))
		return seen
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		h, ok := handlers[k.Value]
		switch {
		case !ok:
			d.errorf(k, "unknown key %q in %s (known keys: %s)", k.Value, where, strings.Join(sortedKeys(handlers), ", "))
		case seen[k.Value] != nil:
			d.errorf(k, "key %q repeated in %s (first at line %d)", k.Value, where, seen[k.Value].Line)
		default:
			seen[k.Value] = k
			h(v)
		}
	}
	return seen
}

func (d *policyDecoder) str(n *yaml.Node, what string) string {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.errorf(n, "%s must be a string, not %s", what, kindName(n))
		return ""
	}
	return strings.TrimSpace(n.Value)
}

func (d *policyDecoder) strList(n *yaml.Node, what string) []string {
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, "%s must be a list, like [a, b], not %s", what, kindName(n))
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for _, c := range n.Content {
		if s := d.str(c, "each entry of "+what); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (d *policyDecoder) boolean(n *yaml.Node, what string) bool {
	var b bool
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&b) != nil {
		d.errorf(n, "%s must be true or false, not %q", what, n.Value)
	}
	return b
}

func (d *policyDecoder) integer(n *yaml.Node, what string) int {
	var i int
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&i) != nil {
		d.errorf(n, "%s must be a whole number, not %q", what, n.Value)
	}
	return i
}

func (d *policyDecoder) duration(n *yaml.Node, what string) time.Duration {
	s := d.str(n, what)
	if s == "" {
		return 0
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		d.errorf(n, "%s %q is not a duration; use Go durations like 30s, 90m, 2h", what, s)
		return 0
	}
	if v <= 0 {
		d.errorf(n, "%s must be positive, not %q", what, s)
	}
	return v
}

var (
	resourceIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)
	groupNamePattern  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$`)
	// A Slack channel is named by its ID (C0123ABCD, or G... for old
	// private channels) or by #name (lower case, up to 80 characters).
	slackChannelPattern = regexp.MustCompile(`^(#[a-z0-9][a-z0-9._-]{0,79}|[CG][A-Z0-9]{6,20})$`)
)

// ValidSlackChannel reports whether s names a Slack channel the way the
// policy and the configuration accept: an ID like C0123ABCD or #name.
func ValidSlackChannel(s string) bool { return slackChannelPattern.MatchString(s) }

func (d *policyDecoder) slackChannel(n *yaml.Node, what string) string {
	s := d.str(n, what)
	if s != "" && !ValidSlackChannel(s) {
		d.errorf(n, "%s %q must be a Slack channel ID like C0123ABCD or a channel name like #access-requests", what, s)
		return ""
	}
	return s
}

// slackChannels reads the policy's default approval channels: a mapping
// of "default" and tier names to channels.
func (d *policyDecoder) slackChannels(v *yaml.Node) SlackChannels {
	out := SlackChannels{Tiers: map[Tier]string{}}
	handlers := map[string]func(*yaml.Node){
		"default": func(v *yaml.Node) { out.Default = d.slackChannel(v, "slack_channels.default") },
	}
	for _, t := range Tiers {
		handlers[string(t)] = func(v *yaml.Node) { out.Tiers[t] = d.slackChannel(v, "slack_channels."+string(t)) }
	}
	d.fields(v, "slack_channels", handlers)
	return out
}

func (d *policyDecoder) email(n *yaml.Node, s, what string) string {
	e := NormalizeEmail(s)
	if at := strings.IndexByte(e, '@'); at <= 0 || at == len(e)-1 || strings.ContainsAny(e, " \t,<>") {
		d.errorf(n, "%s %q is not an email address", what, s)
	}
	return e
}

type groupRef struct {
	name string
	node *yaml.Node
}

func (d *policyDecoder) policy(root *yaml.Node) *Policy {
	var (
		admins       []string
		groups       = map[string][]string{}
		resources    []*Resource
		refs         []groupRef
		reviewers    []string
		hours        []WorkingHours
		channels     SlackChannels
		patterns     []masking.Pattern
		levels       map[string]LevelDefaults
		tiers        map[Tier]TierSettings
		testsNode    *yaml.Node // read once the resources are known (policy_tests.go)
		campaigns    []ReviewCampaign
		remindBefore time.Duration
	)
	seen := d.fields(root, "the policy", map[string]func(*yaml.Node){
		"reviewers": func(v *yaml.Node) {
			var r []groupRef
			reviewers, r = d.groupRefs(v, "reviewers")
			refs = append(refs, r...)
		},
		"working_hours": func(v *yaml.Node) {
			var r []groupRef
			hours, r = d.workingHours(v)
			refs = append(refs, r...)
		},
		"admins": func(v *yaml.Node) {
			if v.Kind != yaml.SequenceNode {
				d.errorf(v, "admins must be a list of email addresses, not %s", kindName(v))
				return
			}
			for _, c := range v.Content {
				if s := d.str(c, "each admin"); s != "" {
					admins = append(admins, d.email(c, s, "admin"))
				}
			}
		},
		"groups": func(v *yaml.Node) {
			if v.Kind != yaml.MappingNode {
				d.errorf(v, "groups must map group names to lists of email addresses, not %s", kindName(v))
				return
			}
			for i := 0; i+1 < len(v.Content); i += 2 {
				k, m := v.Content[i], v.Content[i+1]
				name := k.Value
				if !groupNamePattern.MatchString(name) {
					d.errorf(k, "group name %q must be letters, digits and . _ : / -", name)
				}
				if _, dup := groups[name]; dup {
					d.errorf(k, "group %q defined twice", name)
				}
				var members []string
				if m.Kind == yaml.SequenceNode {
					for _, c := range m.Content {
						if s := d.str(c, "each member of group "+name); s != "" {
							members = append(members, d.email(c, s, "member of group "+name))
						}
					}
				} else if m.Tag != "!!null" {
					d.errorf(m, "group %q must be a list of email addresses, not %s", name, kindName(m))
				}
				groups[name] = members
			}
		},
		"slack_channels":        func(v *yaml.Node) { channels = d.slackChannels(v) },
		"sensitive_patterns":    func(v *yaml.Node) { patterns = d.sensitivePatterns(v) },
		"classification_levels": func(v *yaml.Node) { levels = d.classificationLevels(v) },
		"tiers":                 func(v *yaml.Node) { tiers = d.tierSettings(v) },
		"tests":                 func(v *yaml.Node) { testsNode = v },
		"review_campaigns": func(v *yaml.Node) {
			var r []groupRef
			campaigns, r = d.reviewCampaigns(v)
			refs = append(refs, r...)
		},
		"remind_approvers_before": func(v *yaml.Node) { remindBefore = d.duration(v, "remind_approvers_before") },
		"resources": func(v *yaml.Node) {
			if v.Kind != yaml.SequenceNode {
				d.errorf(v, "resources must be a list, not %s", kindName(v))
				return
			}
			ids := map[string]int{}
			for _, c := range v.Content {
				r, rrefs := d.resource(c)
				if r == nil {
					continue
				}
				if first, dup := ids[r.ID]; dup && r.ID != "" {
					d.errorf(c, "duplicate resource id %q (first defined at line %d)", r.ID, first)
					continue
				}
				ids[r.ID] = c.Line
				resources = append(resources, r)
				refs = append(refs, rrefs...)
			}
		},
	})
	if seen["resources"] == nil {
		d.errorf(root, "the policy has no resources; add a resources: list")
	} else if len(resources) == 0 && len(d.errs) == 0 {
		d.errorf(seen["resources"], "resources is empty; add at least one resource")
	}
	for _, ref := range refs {
		if _, ok := groups[ref.name]; !ok {
			d.errorf(ref.node, "group %q is not defined under groups", ref.name)
		}
	}
	d.checkProvisioners(resources)
	p := NewPolicy(d.file, admins, groups, resources)
	p.Reviewers, p.WorkingHours = reviewers, hours
	p.SlackChannels = channels
	p.SensitivePatterns = patterns
	p.ClassificationLevels, p.TierSettings = levels, tiers
	p.ReviewCampaigns, p.RemindApproversBefore = campaigns, remindBefore
	d.checkCampaigns(p)
	d.applyLevelsAndTiers(p)
	d.checkBreakGlass(p)
	d.compileConditions(p)
	// Rules that need the whole file: approver headcount.
	for _, r := range resources {
		if r.AutoApprove || r.ApprovalsRequired == 0 {
			continue
		}
		if n := len(p.ApproverEmails(r)); n < r.ApprovalsRequired && allDefined(groups, r.Approvers) {
			d.errs = append(d.errs, PolicyError{File: d.file, Line: r.Line, Msg: fmt.Sprintf(
				"resource %q needs %s but its approver groups list only %s", r.ID,
				Plural(r.ApprovalsRequired, "distinct approval", "distinct approvals"), Plural(n, "person", "people"))})
		}
	}
	if testsNode != nil {
		p.Tests = d.policyTests(testsNode, p)
		if len(d.errs) == 0 {
			d.runPolicyTests(p, p.Tests, Now())
		}
	}
	return p
}

// sensitivePatterns reads sensitive_patterns: a list of {name, regex,
// mask}. A regex that does not compile or can match the empty string is
// an error at its line.
func (d *policyDecoder) sensitivePatterns(v *yaml.Node) []masking.Pattern {
	if v.Kind != yaml.SequenceNode {
		d.errorf(v, "sensitive_patterns must be a list of {name, regex, mask}, not %s", kindName(v))
		return nil
	}
	var out []masking.Pattern
	names := map[string]int{}
	for _, c := range v.Content {
		var name, expr, mask string
		var regexNode *yaml.Node
		seen := d.fields(c, "a sensitive pattern", map[string]func(*yaml.Node){
			"name":  func(n *yaml.Node) { name = d.str(n, "name") },
			"regex": func(n *yaml.Node) { regexNode, expr = n, d.str(n, "regex") },
			"mask":  func(n *yaml.Node) { mask = d.str(n, "mask") },
		})
		if c.Kind != yaml.MappingNode {
			continue
		}
		switch {
		case name == "":
			d.errorf(c, "a sensitive pattern needs a name")
		case names[name] != 0:
			d.errorf(seen["name"], "sensitive pattern %q defined twice (first at line %d)", name, names[name])
		default:
			names[name] = c.Line
		}
		if regexNode == nil || expr == "" {
			d.errorf(c, "sensitive pattern %q needs a regex", name)
			continue
		}
		pat, err := masking.CompilePattern(name, expr, mask)
		if err != nil {
			d.errorf(regexNode, "sensitive pattern %q: %v", name, err)
			continue
		}
		out = append(out, pat)
	}
	return out
}

func allDefined(groups map[string][]string, names []string) bool {
	for _, n := range names {
		if _, ok := groups[n]; !ok {
			return false
		}
	}
	return true
}

func (d *policyDecoder) resource(n *yaml.Node) (*Resource, []groupRef) {
	r := &Resource{Line: n.Line}
	x := &resourceExtras{node: n}
	var refs []groupRef
	groupList := func(v *yaml.Node, what string) []string {
		names := d.strList(v, what)
		for i, name := range names {
			refs = append(refs, groupRef{name, v.Content[min(i, len(v.Content)-1)]})
		}
		return names
	}
	requiredSet := false
	var requiredNode, tierNode *yaml.Node
	seen := d.fields(n, "a resource", map[string]func(*yaml.Node){
		"id":          func(v *yaml.Node) { r.ID = d.str(v, "id") },
		"name":        func(v *yaml.Node) { r.Name = d.str(v, "name") },
		"description": func(v *yaml.Node) { r.Description = d.str(v, "description") },
		"tier": func(v *yaml.Node) {
			tierNode, x.tier = v, v
			r.Tier = Tier(d.str(v, "tier"))
		},
		"max_duration": func(v *yaml.Node) {
			x.maxDuration, x.ownMaxDuration = v, true
			r.MaxDuration = d.duration(v, "max_duration")
		},
		"max_total_duration": func(v *yaml.Node) {
			x.maxTotalDuration = v
			r.MaxTotalDuration = d.duration(v, "max_total_duration")
		},
		"max_start_delay": func(v *yaml.Node) { r.MaxStartDelay = d.duration(v, "max_start_delay") },
		"classification":  func(v *yaml.Node) { d.classification(v, r, x) },
		"purposes":        func(v *yaml.Node) { r.Purposes = d.purposes(v) },
		"ticket_required": func(v *yaml.Node) { r.TicketRequired = d.boolean(v, "ticket_required") },
		"ticket_pattern":  func(v *yaml.Node) { r.TicketPattern = d.ticketPattern(v) },
		"review_timeout": func(v *yaml.Node) {
			x.ownReviewTimeout = true
			r.ReviewTimeout = d.duration(v, "review_timeout")
		},
		"approver_comment_required": func(v *yaml.Node) {
			b := d.boolean(v, "approver_comment_required")
			x.commentRequired = &b
		},
		"require_mfa": func(v *yaml.Node) {
			list := d.requireMFA(v, "require_mfa")
			x.requireMFA = &list
		},
		"requesters":   func(v *yaml.Node) { r.Requesters = groupList(v, "requesters") },
		"approvers":    func(v *yaml.Node) { r.Approvers = groupList(v, "approvers") },
		"auto_approve": func(v *yaml.Node) { r.AutoApprove = d.boolean(v, "auto_approve") },
		"approvals_required": func(v *yaml.Node) {
			requiredSet, requiredNode = true, v
			r.ApprovalsRequired = d.integer(v, "approvals_required")
		},
		"slack_channel":       func(v *yaml.Node) { r.SlackChannel = d.slackChannel(v, "slack_channel") },
		"provisioner":         func(v *yaml.Node) { r.Provisioner = d.provisioner(v) },
		"tags":                func(v *yaml.Node) { r.Tags = d.tags(v) },
		"conditions":          func(v *yaml.Node) { d.conditionList(v, r, "conditions") },
		"approver_conditions": func(v *yaml.Node) { d.conditionList(v, r, "approver_conditions") },
		"break_glass": func(v *yaml.Node) {
			var bgRefs []groupRef
			r.BreakGlass, bgRefs = d.breakGlassBlock(v, r)
			refs = append(refs, bgRefs...)
		},
		"fields": func(v *yaml.Node) {
			var frefs []groupRef
			r.Fields, frefs = d.maskFields(v)
			refs = append(refs, frefs...)
		},
	})
	if n.Kind != yaml.MappingNode {
		return nil, nil
	}
	label := "resource"
	if r.ID != "" {
		label = fmt.Sprintf("resource %q", r.ID)
	}
	switch {
	case seen["id"] == nil:
		d.errorf(n, "resource has no id")
	case !resourceIDPattern.MatchString(r.ID):
		d.errorf(seen["id"], "resource id %q must be 1-63 lower-case letters, digits and . _ - (starting with a letter or digit)", r.ID)
	}
	if r.Name == "" {
		r.Name = r.ID
	}
	switch {
	case tierNode == nil:
		d.errorf(n, "%s has no tier (one of low, medium, high, critical)", label)
	case !r.Tier.Valid():
		d.errorf(tierNode, "unknown tier %q for %s; use low, medium, high or critical", r.Tier, label)
	}
	if d.extras == nil {
		d.extras = map[*Resource]*resourceExtras{}
	}
	d.extras[r] = x // a missing max_duration is judged there: a level may set it
	if seen["requesters"] != nil && len(r.Requesters) == 0 {
		d.errorf(seen["requesters"], "%s: requesters is empty, so nobody could request it", label)
	} else if seen["requesters"] == nil {
		d.errorf(n, "%s has no requesters (the groups that may ask for it)", label)
	}
	if !r.Tier.Valid() {
		return r, refs
	}
	if r.AutoApprove {
		if r.Tier != TierLow {
			d.errorf(seen["auto_approve"], "%s is tier %s; only low-tier resources may be auto-approved", label, r.Tier)
		}
		if requiredSet {
			d.errorf(requiredNode, "%s is auto-approved, so approvals_required does not apply", label)
		}
		r.ApprovalsRequired = 0
		return r, refs
	}
	if len(r.Approvers) == 0 {
		d.errorf(n, "%s is not auto-approved but has no approvers, so nobody could approve it", label)
	}
	switch {
	case !requiredSet:
		r.ApprovalsRequired = r.Tier.MinApprovals()
	case r.ApprovalsRequired < r.Tier.MinApprovals():
		d.errorf(requiredNode, "approvals_required %d is below the minimum of %d for tier %s (%s)",
			r.ApprovalsRequired, r.Tier.MinApprovals(), r.Tier, label)
	case r.ApprovalsRequired > 10:
		d.errorf(requiredNode, "approvals_required %d is more than 10 (%s)", r.ApprovalsRequired, label)
	}
	return r, refs
}

// tags reads a resource's tags: a mapping of names to strings, which
// conditions read as resource.tags.
func (d *policyDecoder) tags(v *yaml.Node) map[string]string {
	if v.Kind != yaml.MappingNode {
		d.errorf(v, "tags must map names to values, like {team: payments}, not %s", kindName(v))
		return nil
	}
	out := map[string]string{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		if _, dup := out[k.Value]; dup {
			d.errorf(k, "tag %q repeated", k.Value)
		}
		out[k.Value] = d.str(val, "tag "+k.Value)
	}
	return out
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	if n.Tag == "!!null" {
		return "empty"
	}
	return fmt.Sprintf("%q", n.Value)
}

func sortedKeys(m map[string]func(*yaml.Node)) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
