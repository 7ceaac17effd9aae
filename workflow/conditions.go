package workflow

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/ext"
	"gopkg.in/yaml.v3"
)

// Conditions are CEL expressions a resource sets on who may have it
// (policy key conditions) and on who may approve it (approver_conditions).
// They are compiled and type-checked once, when the policy is loaded; a
// request is judged by running the compiled programs.
//
// Every condition fails closed: one that does not hold refuses with its
// message, and one that cannot be evaluated (a missing map key, a type
// mismatch at run time) refuses too, with the evaluation error, never a
// 500. has() is the way to test whether an attribute is present.

// Condition is one compiled condition.
type Condition struct {
	Expr    string
	Message string
	Line    int
	prg     cel.Program
}

// The variables a condition reads. Each is a map so that a policy reads
// them as requester.email, requester.attributes.region and so on.
var conditionObject = cel.MapType(cel.StringType, cel.DynType)

// workingHoursFunction is what within_working_hours(p) expands to: the
// helper also needs now, which a function binding cannot read from the
// activation, so a macro passes it along.
const workingHoursFunction = "within_working_hours_at"

func conditionEnvOptions(approver bool) []cel.EnvOption {
	opts := []cel.EnvOption{
		cel.Variable("requester", conditionObject),
		cel.Variable("request", conditionObject),
		cel.Variable("resource", conditionObject),
		cel.Variable("now", cel.TimestampType),
		ext.Strings(),
		cel.Macros(cel.GlobalMacro("within_working_hours", 1, func(eh cel.MacroExprFactory, _ ast.Expr, args []ast.Expr) (ast.Expr, *cel.Error) {
			return eh.NewCall(workingHoursFunction, args[0], eh.NewIdent("now")), nil
		})),
	}
	if approver {
		opts = append(opts, cel.Variable("approver", conditionObject))
	}
	return opts
}

// The base environments are built once per process; each policy extends
// them with the working-hours helper bound to its own working_hours.
var conditionEnvs = sync.OnceValues(func() (*cel.Env, *cel.Env) {
	req, err := cel.NewEnv(conditionEnvOptions(false)...)
	if err != nil {
		panic(fmt.Sprintf("condition environment: %v", err))
	}
	appr, err := cel.NewEnv(conditionEnvOptions(true)...)
	if err != nil {
		panic(fmt.Sprintf("condition environment: %v", err))
	}
	return req, appr
})

// conditionEnv returns the environment conditions of pol compile in:
// approver says whether the approver variable exists (approver_conditions).
func conditionEnv(pol *Policy, approver bool) (*cel.Env, error) {
	req, appr := conditionEnvs()
	base := req
	if approver {
		base = appr
	}
	return base.Extend(cel.Function(workingHoursFunction,
		cel.Overload("within_working_hours_at_map_timestamp", []*cel.Type{conditionObject, cel.TimestampType}, cel.BoolType,
			cel.BinaryBinding(func(who, at ref.Val) ref.Val { return withinWorkingHours(pol, who, at) }))))
}

// withinWorkingHours reports whether at falls within the working hours the
// policy gives the person (the same hours as the out-of-hours flag); a
// person without working hours is always within them.
func withinWorkingHours(pol *Policy, who, at ref.Val) ref.Val {
	m, ok := who.(traits.Mapper)
	if !ok {
		return types.NewErr("within_working_hours needs a person, like requester or approver")
	}
	email, ok := m.Get(types.String("email")).Value().(string)
	if !ok {
		return types.NewErr("within_working_hours needs a person with an email")
	}
	t, ok := at.Value().(time.Time)
	if !ok {
		return types.NewErr("within_working_hours needs a timestamp")
	}
	w := pol.WorkingHoursOf(email)
	return types.Bool(w == nil || w.Contains(t))
}

// conditionSource is one condition as written, before compiling.
type conditionSource struct {
	res      *Resource
	approver bool
	expr     string
	message  string
	node     *yaml.Node // the expr value, for error positions
}

// conditionList reads a conditions or approver_conditions list of
// {expr, message}; they are compiled once the whole policy is read.
func (d *policyDecoder) conditionList(v *yaml.Node, r *Resource, key string) {
	if v.Kind != yaml.SequenceNode {
		d.errorf(v, "%s must be a list of {expr, message}, not %s", key, kindName(v))
		return
	}
	for _, c := range v.Content {
		src := conditionSource{res: r, approver: key == "approver_conditions"}
		d.fields(c, "a condition", map[string]func(*yaml.Node){
			"expr":    func(n *yaml.Node) { src.node, src.expr = n, d.str(n, "expr") },
			"message": func(n *yaml.Node) { src.message = d.str(n, "message") },
		})
		if c.Kind != yaml.MappingNode {
			continue
		}
		if src.node == nil || src.expr == "" {
			d.errorf(c, "a condition needs an expr (a CEL expression that must be true)")
			continue
		}
		d.conds = append(d.conds, src)
	}
}

// compileConditions compiles and type-checks every condition read, into
// its resource. An error is reported at its line and column in the file.
func (d *policyDecoder) compileConditions(pol *Policy) {
	if len(d.conds) == 0 {
		return
	}
	envs := map[bool]*cel.Env{}
	for _, approver := range []bool{false, true} {
		env, err := conditionEnv(pol, approver)
		if err != nil {
			d.errorf(d.conds[0].node, "cannot build the condition environment: %v", err)
			return
		}
		envs[approver] = env
	}
	for _, src := range d.conds {
		c, ok := d.compileCondition(envs[src.approver], src)
		if !ok {
			continue
		}
		if src.approver {
			src.res.ApproverConditions = append(src.res.ApproverConditions, c)
		} else {
			src.res.Conditions = append(src.res.Conditions, c)
		}
	}
}

func (d *policyDecoder) compileCondition(env *cel.Env, src conditionSource) (c Condition, ok bool) {
	defer func() {
		// The CEL library does not panic on bad input that we know of; if
		// it ever does, the policy is refused rather than the server.
		if r := recover(); r != nil {
			d.errorf(src.node, "condition %q cannot be compiled: %v", src.expr, r)
			ok = false
		}
	}()
	checked, iss := env.Compile(src.expr)
	if iss != nil && iss.Err() != nil {
		for _, e := range iss.Errors() {
			line, col := d.exprPosition(src.node, e.Location.Line(), e.Location.Column())
			d.errs = append(d.errs, PolicyError{File: d.file, Line: line, Col: col, Msg: "condition: " + e.Message})
		}
		return Condition{}, false
	}
	if !checked.OutputType().IsExactType(cel.BoolType) {
		line, col := d.exprPosition(src.node, 1, 0)
		d.errs = append(d.errs, PolicyError{File: d.file, Line: line, Col: col,
			Msg: fmt.Sprintf("condition %q must be true or false, but it is of type %s", src.expr, checked.OutputType())})
		return Condition{}, false
	}
	prg, err := env.Program(checked, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		d.errorf(src.node, "condition %q cannot be compiled: %v", src.expr, err)
		return Condition{}, false
	}
	msg := src.message
	if msg == "" {
		msg = fmt.Sprintf("condition %q does not hold", src.expr)
	}
	return Condition{Expr: src.expr, Message: msg, Line: src.node.Line, prg: prg}, true
}

// exprPosition turns a position in an expression (line from 1, column from
// 0, as CEL counts) into a line and column (from 1) in the policy file.
func (d *policyDecoder) exprPosition(n *yaml.Node, line, col int) (int, int) {
	if line < 1 {
		line = 1
	}
	switch n.Style {
	case yaml.LiteralStyle, yaml.FoldedStyle:
		// The text starts on the line after the | or >, indented; the
		// indentation is not kept in the node, so the column is a guess
		// at the usual two spaces past the key.
		return n.Line + line, n.Column + col + 2
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		if line == 1 {
			return n.Line, n.Column + 1 + col
		}
	default:
		if line == 1 {
			return n.Line, n.Column + col
		}
	}
	return n.Line + line - 1, col + 1
}

// conditionPerson is the requester or approver as conditions see them.
func conditionPerson(pol *Policy, who Principal) map[string]any {
	attrs := who.Attributes
	if attrs == nil {
		attrs = map[string]string{}
	}
	return map[string]any{
		"email":      who.Email,
		"groups":     pol.groupsOf(who),
		"attributes": attrs,
	}
}

// groupsOf lists the groups who belongs to, sorted: the policy file's, the
// directory's and the session's.
func (p *Policy) groupsOf(who Principal) []string {
	set := map[string]bool{}
	if who.IsUser() && who.Active() {
		for g, members := range p.members {
			if members[who.Email] {
				set[g] = true
			}
		}
		for _, g := range slices.Concat(who.Groups, who.DirectoryGroups) {
			set[g] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// conditionInput is what one judgement of a resource's conditions reads.
type conditionInput struct {
	pol       *Policy
	requester Principal
	approver  *Principal // set for approver_conditions
	req       *Request   // the request, or the one being filed
	res       *Resource
	start     time.Time // when access starts (or would)
	now       time.Time
	purpose   string // supposed by a policy test or an explain (no request yet); a request's own wins
}

func (in conditionInput) activation() map[string]any {
	tags := in.res.Tags
	if tags == nil {
		tags = map[string]string{}
	}
	purpose := in.req.Purpose
	if purpose == "" {
		purpose = in.purpose // what a policy test or an explain supposes
	}
	categories := in.res.Categories
	if categories == nil {
		categories = []string{}
	}
	act := map[string]any{
		"requester": conditionPerson(in.pol, in.requester),
		"request": map[string]any{
			"duration": in.req.Duration,
			"purpose":  purpose,
			"ticket":   in.req.Ticket,
			"reason":   in.req.Reason,
			"start":    in.start,
		},
		"resource": map[string]any{
			"id":             in.res.ID,
			"tier":           string(in.res.Tier),
			"tags":           tags,
			"classification": in.res.Classification,
			"categories":     categories,
		},
		"now": in.now,
	}
	if in.approver != nil {
		act["approver"] = conditionPerson(in.pol, *in.approver)
	}
	return act
}

// conditionsRefusal evaluates conds in order and returns the first
// refusal as its message, or "" when all hold. One that cannot be
// evaluated refuses (fail closed) and is logged.
func conditionsRefusal(conds []Condition, in conditionInput) string {
	if len(conds) == 0 {
		return ""
	}
	act := in.activation()
	for _, c := range conds {
		if why := c.refusal(act, in); why != "" {
			return why
		}
	}
	return ""
}

func (c Condition) refusal(act map[string]any, in conditionInput) string {
	holds, err := c.evaluate(act)
	switch {
	case err != nil:
		return c.unevaluable(in, err)
	case !holds:
		return c.Message
	}
	return ""
}

// evaluate runs the condition on act: whether it holds, or why it could
// not be evaluated.
func (c Condition) evaluate(act map[string]any) (holds bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			holds, err = false, fmt.Errorf("%v", r)
		}
	}()
	out, _, err := c.prg.Eval(act)
	if err != nil {
		return false, err
	}
	holds, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("it gave %s, not true or false", out.Type())
	}
	return holds, nil
}

func (c Condition) unevaluable(in conditionInput, err error) string {
	slog.Warn("policy condition could not be evaluated; refusing", "resource", in.res.ID, "condition", c.Expr,
		"line", c.Line, "requester", in.requester.Email, "error", err)
	return fmt.Sprintf("condition %q could not be evaluated: %v", c.Expr, err)
}

// conditionsError is conditionsRefusal as an error (CodeForbidden).
func conditionsError(conds []Condition, in conditionInput) error {
	if why := conditionsRefusal(conds, in); why != "" {
		return refusal(RefusedConditions, Errorf(CodeForbidden, "%s", why))
	}
	return nil
}
