package scim

import (
	"fmt"
	"strings"

	lib "github.com/elimity-com/scim"
	filter "github.com/scim2/filter-parser/v2"

	"github.com/jitaccess/jitaccess/workflow"
)

type filterAttrExp = filter.AttributeExpression

// applyOps applies validated PATCH operations, in order, to doc (a
// resource with lower-cased keys). An operation that cannot apply is
// CodeInvalid and nothing is written.
func applyOps(doc map[string]any, ops []lib.PatchOperation) error {
	for i, op := range ops {
		if err := applyOp(doc, op); err != nil {
			return workflow.Errorf(workflow.CodeInvalid, "operation %d (%s): %s", i+1, op.Op, err)
		}
	}
	return nil
}

func applyOp(doc map[string]any, op lib.PatchOperation) error {
	value := lowerAny(op.Value)
	if op.Path == nil {
		if op.Op == lib.PatchOperationRemove {
			return fmt.Errorf("remove needs a path")
		}
		m, ok := value.(map[string]any)
		if !ok {
			return fmt.Errorf("an operation without a path needs an object value")
		}
		for k, v := range m {
			if strings.HasPrefix(k, "urn:") {
				if sub, ok := v.(map[string]any); ok {
					ext, _ := doc[k].(map[string]any)
					if ext == nil {
						ext = map[string]any{}
					}
					for sk, sv := range sub {
						ext[sk] = sv
					}
					doc[k] = ext
					continue
				}
				// "urn:...:User:department": an attribute of an extension.
				if i := strings.LastIndex(k, ":"); i > 0 {
					ext, _ := doc[k[:i]].(map[string]any)
					if ext == nil {
						ext = map[string]any{}
					}
					ext[k[i+1:]] = v
					doc[k[:i]] = ext
					continue
				}
			}
			setAttr(doc, k, v, op.Op == lib.PatchOperationAdd)
		}
		return nil
	}
	ap := op.Path.AttributePath
	target := doc
	if uri := strings.ToLower(ap.URI()); uri != "" && !strings.Contains(uri, ":core:") {
		ext, _ := doc[uri].(map[string]any)
		if ext == nil {
			ext = map[string]any{}
			doc[uri] = ext
		}
		target = ext
	}
	name := strings.ToLower(ap.AttributeName)
	sub := ""
	if ap.SubAttribute != nil {
		sub = strings.ToLower(*ap.SubAttribute)
	}
	if op.Path.SubAttribute != nil {
		sub = strings.ToLower(*op.Path.SubAttribute)
	}
	if op.Path.ValueExpression != nil {
		return applyFiltered(target, name, op.Path.ValueExpression, sub, op.Op, value)
	}
	if sub != "" {
		m, _ := target[name].(map[string]any)
		if m == nil {
			m = map[string]any{}
		}
		if op.Op == lib.PatchOperationRemove {
			delete(m, sub)
		} else {
			m[sub] = value
		}
		target[name] = m
		return nil
	}
	switch op.Op {
	case lib.PatchOperationRemove:
		// Entra removes members by naming them in the value of a path
		// without a filter; with no value the whole attribute goes.
		if vals, ok := value.([]any); ok && len(vals) > 0 {
			cur, _ := target[name].([]any)
			target[name] = without(cur, vals)
			return nil
		}
		delete(target, name)
	default:
		setAttr(target, name, value, op.Op == lib.PatchOperationAdd)
	}
	return nil
}

// setAttr sets doc[k]; add to a multi-valued attribute appends the values
// not already there.
func setAttr(doc map[string]any, k string, v any, add bool) {
	cur, isList := doc[k].([]any)
	vals, valIsList := v.([]any)
	if add && isList && valIsList {
		for _, nv := range vals {
			if !containsValue(cur, nv) {
				cur = append(cur, nv)
			}
		}
		doc[k] = cur
		return
	}
	doc[k] = v
}

func valueOf(e any) any {
	if m, ok := e.(map[string]any); ok {
		return m["value"]
	}
	return e
}

func sameValue(a, b any) bool {
	return fmt.Sprint(valueOf(a)) == fmt.Sprint(valueOf(b))
}

func containsValue(list []any, v any) bool {
	for _, e := range list {
		if sameValue(e, v) {
			return true
		}
	}
	return false
}

func without(list []any, vals []any) []any {
	out := []any{}
	for _, e := range list {
		if !containsValue(vals, e) {
			out = append(out, e)
		}
	}
	return out
}

// applyFiltered applies an operation to the elements of a multi-valued
// attribute that match exp (members[value eq "ID"], emails[type eq "work"]).
func applyFiltered(doc map[string]any, name string, exp filter.Expression, sub, op string, value any) error {
	cur, _ := doc[name].([]any)
	var out []any
	matched := false
	for _, e := range cur {
		m, _ := e.(map[string]any)
		ok, err := matches(m, exp)
		if err != nil {
			return err
		}
		if !ok {
			out = append(out, e)
			continue
		}
		matched = true
		switch {
		case op == lib.PatchOperationRemove && sub == "":
			continue // drop the element
		case op == lib.PatchOperationRemove:
			delete(m, sub)
		case sub != "":
			m[sub] = value
		default:
			if nv, ok := value.(map[string]any); ok {
				for k, v := range nv {
					m[k] = v
				}
			}
		}
		out = append(out, m)
	}
	if !matched && op != lib.PatchOperationRemove {
		// Entra's emails[type eq "work"].value on a person with no work
		// address: create the element the filter describes.
		ae, ok := exp.(*filter.AttributeExpression)
		if !ok || !strings.EqualFold(string(ae.Operator), "eq") {
			return fmt.Errorf("no value of %s matches the filter", name)
		}
		m := map[string]any{strings.ToLower(ae.AttributePath.AttributeName): ae.CompareValue}
		if sub != "" {
			m[sub] = value
		} else if nv, ok := value.(map[string]any); ok {
			for k, v := range nv {
				m[k] = v
			}
		}
		out = append(out, m)
	}
	if out == nil {
		out = []any{}
	}
	doc[name] = out
	return nil
}

// matches evaluates a value filter against one element.
func matches(m map[string]any, exp filter.Expression) (bool, error) {
	switch e := exp.(type) {
	case *filter.AttributeExpression:
		got, present := m[strings.ToLower(e.AttributePath.AttributeName)]
		want := fmt.Sprint(e.CompareValue)
		g := fmt.Sprint(got)
		switch strings.ToLower(string(e.Operator)) {
		case "pr":
			return present && got != nil, nil
		case "eq":
			return present && strings.EqualFold(g, want), nil
		case "ne":
			return !present || !strings.EqualFold(g, want), nil
		case "co":
			return present && strings.Contains(strings.ToLower(g), strings.ToLower(want)), nil
		case "sw":
			return present && strings.HasPrefix(strings.ToLower(g), strings.ToLower(want)), nil
		case "ew":
			return present && strings.HasSuffix(strings.ToLower(g), strings.ToLower(want)), nil
		default:
			return false, fmt.Errorf("operator %s is not supported in a PATCH path", e.Operator)
		}
	case *filter.LogicalExpression:
		l, err := matches(m, e.Left)
		if err != nil {
			return false, err
		}
		r, err := matches(m, e.Right)
		if err != nil {
			return false, err
		}
		if strings.EqualFold(string(e.Operator), "and") {
			return l && r, nil
		}
		return l || r, nil
	case *filter.NotExpression:
		ok, err := matches(m, e.Expression)
		return !ok, err
	default:
		return false, fmt.Errorf("unsupported filter in a PATCH path")
	}
}
