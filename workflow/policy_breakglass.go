package workflow

import (
	"fmt"
	"slices"

	"gopkg.in/yaml.v3"
)

// breakGlassNodes remember where a break_glass block's keys are, for the
// checks that need the whole policy.
type breakGlassNodes struct {
	block, maxDuration, reviewers *yaml.Node
}

// breakGlassBlock reads a resource's break_glass: {groups, max_duration,
// reviewers_required, review_within, skip_conditions}. Problems are
// reported at their line and column.
func (d *policyDecoder) breakGlassBlock(v *yaml.Node, r *Resource) (*BreakGlass, []groupRef) {
	bg := &BreakGlass{ReviewersRequired: DefaultBreakGlassReviewers, ReviewWithin: DefaultBreakGlassReviewWithin}
	nodes := &breakGlassNodes{block: v}
	var refs []groupRef
	// The generic readers report the line; break_glass adds the column.
	d.columns = true
	defer func() { d.columns = false }()
	seen := d.fields(v, "break_glass", map[string]func(*yaml.Node){
		"groups": func(n *yaml.Node) {
			bg.Groups = d.strList(n, "break_glass.groups")
			for i, name := range bg.Groups {
				refs = append(refs, groupRef{name, n.Content[min(i, len(n.Content)-1)]})
			}
			if n.Kind == yaml.SequenceNode && len(bg.Groups) == 0 {
				d.errorAt(n, "break_glass.groups is empty, so nobody could use emergency access; name at least one group")
			}
		},
		"max_duration": func(n *yaml.Node) {
			nodes.maxDuration = n
			bg.MaxDuration = d.duration(n, "break_glass.max_duration")
		},
		"reviewers_required": func(n *yaml.Node) {
			nodes.reviewers = n
			bg.ReviewersRequired = d.integer(n, "break_glass.reviewers_required")
			switch {
			case bg.ReviewersRequired < 1:
				d.errorAt(n, "break_glass.reviewers_required must be at least 1: every emergency use is reviewed, not %d", bg.ReviewersRequired)
			case bg.ReviewersRequired > 10:
				d.errorAt(n, "break_glass.reviewers_required %d is more than 10", bg.ReviewersRequired)
			}
		},
		"review_within":   func(n *yaml.Node) { bg.ReviewWithin = d.duration(n, "break_glass.review_within") },
		"skip_conditions": func(n *yaml.Node) { bg.SkipConditions = d.boolean(n, "break_glass.skip_conditions") },
	})
	if v.Kind != yaml.MappingNode {
		return nil, nil
	}
	if seen["groups"] == nil {
		d.errorAt(v, "break_glass has no groups (the groups whose members may use emergency access)")
	}
	if d.breakGlass == nil {
		d.breakGlass = map[*Resource]*breakGlassNodes{}
	}
	d.breakGlass[r] = nodes
	return bg, refs
}

// checkBreakGlass judges the break_glass blocks against the whole policy:
// max_duration defaults to, and may not exceed, the resource's own; there
// must be enough reviewers (the resource's approvers and the admins).
func (d *policyDecoder) checkBreakGlass(p *Policy) {
	for _, r := range p.Resources {
		bg, nodes := r.BreakGlass, d.breakGlass[r]
		if bg == nil || nodes == nil {
			continue
		}
		label := fmt.Sprintf("resource %q", r.ID)
		switch {
		case bg.MaxDuration == 0:
			bg.MaxDuration = r.MaxDuration
		case r.MaxDuration > 0 && bg.MaxDuration > r.MaxDuration:
			d.errorAt(nodes.maxDuration, "break_glass.max_duration %s of %s is longer than its max_duration %s; emergency access may be shorter, never longer",
				FormatDuration(bg.MaxDuration), label, FormatDuration(r.MaxDuration))
		}
		if bg.ReviewersRequired < 1 || !allDefined(p.Groups, r.Approvers) {
			continue
		}
		reviewers := slices.Clone(p.ApproverEmails(r))
		for _, a := range p.Admins {
			if !slices.Contains(reviewers, a) {
				reviewers = append(reviewers, a)
			}
		}
		// The requester never reviews their own emergency access: a
		// break-glass member who is also a reviewer leaves one fewer.
		need := bg.ReviewersRequired
		for _, g := range bg.Groups {
			for _, m := range p.Groups[g] {
				if slices.Contains(reviewers, m) {
					need = bg.ReviewersRequired + 1
				}
			}
		}
		if len(reviewers) < need {
			at := nodes.reviewers
			if at == nil {
				at = nodes.block
			}
			d.errorAt(at, "%s needs %s for each emergency use but its approvers and the admins are only %s (the requester never reviews their own)",
				label, Plural(bg.ReviewersRequired, "reviewer", "reviewers"), Plural(len(reviewers), "person", "people"))
		}
	}
}

// breakGlassWarnings: break_glass.skip_conditions.
func (p *Policy) breakGlassWarnings() []string {
	var out []string
	for _, r := range p.Resources {
		if bg := r.BreakGlass; bg != nil && bg.SkipConditions {
			out = append(out, fmt.Sprintf("%s:%d: resource %q: break_glass.skip_conditions is true: emergency access skips the resource's conditions%s",
				p.Source, r.Line, r.ID, condSuffix(len(r.Conditions))))
		}
	}
	return out
}

func condSuffix(n int) string {
	if n == 0 {
		return " (it has none today)"
	}
	return fmt.Sprintf(" (%s)", Plural(n, "condition", "conditions"))
}
