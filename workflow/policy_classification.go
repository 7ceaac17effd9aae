package workflow

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Classification levels, least sensitive first.
var ClassificationLevels = []string{"public", "internal", "confidential", "restricted"}

// LevelDefaults are what a classification level sets for its resources
// (policy key classification_levels): a floor on the tier and a cap on the
// duration. A resource may set a higher tier or a shorter max_duration,
// never a lower or a longer one.
type LevelDefaults struct {
	MinTier     Tier          // "" for none
	MaxDuration time.Duration // 0 for none
}

// TierSettings are the review settings of one tier (policy key tiers),
// which its resources take unless they set their own.
type TierSettings struct {
	ReviewTimeout time.Duration // 0: the service's --review-timeout
	// ApproverCommentRequired is nil when the tier does not say (then
	// critical requires a comment and the others do not).
	ApproverCommentRequired *bool
	// RequireMFA is nil when the tier does not say (then critical
	// requires MFA to approve and the others need none).
	RequireMFA *[]string
}

// tierRank orders tiers, least sensitive first.
func tierRank(t Tier) int { return slices.Index(Tiers, t) }

// resourceExtras are the nodes of a resource's keys that are judged once
// the whole file is read (classification levels and tiers may come after
// the resources).
type resourceExtras struct {
	node              *yaml.Node // the resource's mapping
	tier, maxDuration *yaml.Node
	classification    *yaml.Node // the level's node
	commentRequired   *bool
	requireMFA        *[]string
	ownReviewTimeout  bool
	ownMaxDuration    bool
	maxTotalDuration  *yaml.Node
}

// errorAt reports a problem at n's line and column.
func (d *policyDecoder) errorAt(n *yaml.Node, format string, args ...any) {
	d.errs = append(d.errs, PolicyError{File: d.file, Line: n.Line, Col: n.Column, Msg: fmt.Sprintf(format, args...)})
}

// classification reads a resource's classification: {level, categories}.
func (d *policyDecoder) classification(v *yaml.Node, r *Resource, x *resourceExtras) {
	d.fields(v, "classification", map[string]func(*yaml.Node){
		"level": func(n *yaml.Node) {
			r.Classification = d.str(n, "classification.level")
			x.classification = n
			if r.Classification != "" && !slices.Contains(ClassificationLevels, r.Classification) {
				d.errorAt(n, "unknown classification level %q; use %s", r.Classification, strings.Join(ClassificationLevels, ", "))
			}
		},
		"categories": func(n *yaml.Node) { r.Categories = d.strList(n, "classification.categories") },
	})
	if v.Kind == yaml.MappingNode && x.classification == nil {
		d.errorf(v, "classification needs a level (%s)", strings.Join(ClassificationLevels, ", "))
	}
}

// purposes reads a resource's purposes: a list of distinct names.
func (d *policyDecoder) purposes(v *yaml.Node) []string {
	list := d.strList(v, "purposes")
	seen := map[string]bool{}
	for i, p := range list {
		if seen[p] {
			d.errorf(v.Content[min(i, len(v.Content)-1)], "purpose %q listed twice", p)
		}
		seen[p] = true
	}
	if v.Kind == yaml.SequenceNode && len(list) == 0 {
		d.errorf(v, "purposes is empty; list the purposes a request may name, or remove the key")
	}
	return list
}

// ticketPattern compiles a resource's ticket_pattern (a Go regular
// expression); one that does not compile is an error at its line and
// column.
func (d *policyDecoder) ticketPattern(v *yaml.Node) *regexp.Regexp {
	s := d.str(v, "ticket_pattern")
	if s == "" {
		return nil
	}
	re, err := regexp.Compile(s)
	if err != nil {
		d.errorAt(v, "ticket_pattern %q is not a Go regular expression: %v", s, err)
		return nil
	}
	return re
}

// classificationLevels reads classification_levels: a mapping of level
// names to {min_tier, max_duration}.
func (d *policyDecoder) classificationLevels(v *yaml.Node) map[string]LevelDefaults {
	out := map[string]LevelDefaults{}
	handlers := map[string]func(*yaml.Node){}
	for _, level := range ClassificationLevels {
		handlers[level] = func(n *yaml.Node) {
			var ld LevelDefaults
			d.fields(n, "classification_levels."+level, map[string]func(*yaml.Node){
				"min_tier": func(t *yaml.Node) {
					ld.MinTier = Tier(d.str(t, "min_tier"))
					if !ld.MinTier.Valid() {
						d.errorAt(t, "unknown tier %q for classification_levels.%s.min_tier; use low, medium, high or critical", ld.MinTier, level)
						ld.MinTier = ""
					}
				},
				"max_duration": func(t *yaml.Node) { ld.MaxDuration = d.duration(t, "classification_levels."+level+".max_duration") },
			})
			out[level] = ld
		}
	}
	d.fields(v, "classification_levels", handlers)
	return out
}

// tierSettings reads tiers: a mapping of tier names to {review_timeout,
// approver_comment_required, require_mfa}.
func (d *policyDecoder) tierSettings(v *yaml.Node) map[Tier]TierSettings {
	out := map[Tier]TierSettings{}
	handlers := map[string]func(*yaml.Node){}
	for _, t := range Tiers {
		handlers[string(t)] = func(n *yaml.Node) {
			var ts TierSettings
			d.fields(n, "tiers."+string(t), map[string]func(*yaml.Node){
				"review_timeout": func(x *yaml.Node) { ts.ReviewTimeout = d.duration(x, "tiers."+string(t)+".review_timeout") },
				"approver_comment_required": func(x *yaml.Node) {
					b := d.boolean(x, "tiers."+string(t)+".approver_comment_required")
					ts.ApproverCommentRequired = &b
				},
				"require_mfa": func(x *yaml.Node) {
					list := d.requireMFA(x, "tiers."+string(t)+".require_mfa")
					ts.RequireMFA = &list
				},
			})
			out[t] = ts
		}
	}
	d.fields(v, "tiers", handlers)
	return out
}

// applyLevelsAndTiers gives each resource its classification level's
// defaults and its tier's review settings, refusing a resource that
// loosens its level's defaults.
func (d *policyDecoder) applyLevelsAndTiers(p *Policy) {
	for _, r := range p.Resources {
		x := d.extras[r]
		if x == nil {
			continue
		}
		label := fmt.Sprintf("resource %q", r.ID)
		ld, hasLevel := p.ClassificationLevels[r.Classification]
		if hasLevel && ld.MinTier != "" && r.Tier.Valid() && tierRank(r.Tier) < tierRank(ld.MinTier) {
			d.errorAt(x.tier, "%s is tier %s, below the minimum tier %s of classification level %s; a resource may tighten its level's defaults, never loosen them",
				label, r.Tier, ld.MinTier, r.Classification)
		}
		switch {
		case hasLevel && ld.MaxDuration > 0 && !x.ownMaxDuration:
			r.MaxDuration = ld.MaxDuration
		case hasLevel && ld.MaxDuration > 0 && r.MaxDuration > ld.MaxDuration:
			d.errorAt(x.maxDuration, "%s has max_duration %s, longer than the cap of %s of classification level %s; a resource may tighten its level's defaults, never loosen them",
				label, FormatDuration(r.MaxDuration), FormatDuration(ld.MaxDuration), r.Classification)
		case !x.ownMaxDuration:
			d.errorf(x.node, "%s has no max_duration (a Go duration like 2h)", label)
		}
		if x.maxTotalDuration != nil && r.MaxTotalDuration > 0 && r.MaxTotalDuration < r.MaxDuration {
			d.errorAt(x.maxTotalDuration, "%s has max_total_duration %s, shorter than its max_duration %s; it caps a grant with its extensions, so it must be at least max_duration",
				label, FormatDuration(r.MaxTotalDuration), FormatDuration(r.MaxDuration))
		}
		ts := p.TierSettings[r.Tier]
		if !x.ownReviewTimeout {
			r.ReviewTimeout = ts.ReviewTimeout
		}
		switch {
		case x.commentRequired != nil:
			r.ApproverCommentRequired = *x.commentRequired
		case ts.ApproverCommentRequired != nil:
			r.ApproverCommentRequired = *ts.ApproverCommentRequired
		default:
			r.ApproverCommentRequired = r.Tier == TierCritical
		}
		switch {
		case x.requireMFA != nil:
			r.RequireMFA = *x.requireMFA
		case ts.RequireMFA != nil:
			r.RequireMFA = slices.Clone(*ts.RequireMFA)
		case r.Tier == TierCritical:
			r.RequireMFA = []string{MFAApprove}
		}
	}
}

// ApprovalNeedsComment reports whether an approval of a request for the
// resource must carry a comment (approver_comment_required), so that a
// client can ask for one before it calls Approve, which refuses an
// approval without one.
func (p *Policy) ApprovalNeedsComment(resourceID string) bool {
	r, ok := p.Resource(resourceID)
	return ok && r.ApproverCommentRequired
}
