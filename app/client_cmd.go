package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jitaccess/jitaccess/client"
	"github.com/jitaccess/jitaccess/web/httpkit"
	"github.com/jitaccess/jitaccess/workflow"
)

// The client commands talk to a running server over its API, as the
// token's holder: request, requests, approve, deny, cancel, grants and
// relinquish (docs/cli.md). Every rule is the server's; these only ask
// and print.

// Exit codes of the client commands, beside 0 (done; with --wait: live or
// scheduled), 1 (an error) and 2 (called wrongly).
const (
	exitDenied    = 3 // the request was denied
	exitTimedOut  = 4 // nobody decided before the review deadline
	exitCancelled = 5 // cancelled, or ended before it was seen live
)

// clientFlags are the flags every client command takes.
type clientFlags struct {
	server, token string
	asJSON        bool
}

func (f *flagSet) client(c *clientFlags) {
	f.str(&c.server, "server", "JITACCESS_URL", "http://localhost:8080", "the jitaccess server's URL")
	f.str(&c.token, "token", "JITACCESS_TOKEN", "", "an API token (jitaccess token create --user EMAIL)")
	f.BoolVar(&c.asJSON, "json", false, "print JSON instead of a table")
}

// parseMixed parses flags that may come before, between or after the
// positional arguments ("request crm-notes --for 1h") and returns the
// positional ones.
func parseMixed(f *flagSet, args []string) ([]string, error) {
	var pos []string
	for rest := args; ; {
		if err := f.parse(rest); err != nil {
			return nil, err
		}
		if rest = f.Args(); len(rest) == 0 {
			return pos, nil
		}
		pos, rest = append(pos, rest[0]), rest[1:]
	}
}

// clientCmd runs one client command; name is the verb.
func clientCmd(ctx context.Context, name string, args []string, stdout, stderr io.Writer) int {
	cmd, ok := clientCommands[name]
	if !ok {
		return 2
	}
	var cf clientFlags
	f := newFlagSet(name)
	f.client(&cf)
	run := cmd(f)
	pos, err := parseMixed(f, args)
	if err != nil {
		return usageError(stderr, name, err)
	}
	c, err := client.New(cf.server, cf.token, nil)
	if err != nil {
		fmt.Fprintf(stderr, "jitaccess %s: %v\n", name, err)
		return 2
	}
	c.SetUserAgent(httpkit.CLIUserAgent + Version)
	code, err := run(ctx, clientRun{c: c, pos: pos, json: cf.asJSON, stdout: stdout, stderr: stderr})
	if err != nil {
		var usage usageErr
		if errors.As(err, &usage) {
			fmt.Fprintf(stderr, "jitaccess %s: %v\nusage: jitaccess %s\n", name, usage.msg, usage.usage)
			return 2
		}
		fmt.Fprintf(stderr, "jitaccess %s: %v\n", name, err)
		return 1
	}
	return code
}

// usageErr is a client command called wrongly.
type usageErr struct{ msg, usage string }

func (e usageErr) Error() string { return e.msg }

// clientRun is what a client command runs with.
type clientRun struct {
	c              *client.Client
	pos            []string
	json           bool
	stdout, stderr io.Writer
}

type clientFunc func(ctx context.Context, r clientRun) (int, error)

// clientCommands declare their own flags on f and return what runs them.
var clientCommands = map[string]func(f *flagSet) clientFunc{
	"request":    requestCmd,
	"requests":   requestsCmd,
	"approve":    decideCmd("approve", "approve ID [--comment TEXT]", "comment", false),
	"deny":       decideCmd("deny", "deny ID --reason TEXT", "reason", true),
	"cancel":     decideCmd("cancel", "cancel ID [--reason TEXT]", "reason", false),
	"relinquish": decideCmd("revoke", "relinquish ID [--reason TEXT]", "reason", false),
	"grants":     grantsCmd,
	"extend":     extendCmd,
}

// requestCmd is `jitaccess request RESOURCE --for DURATION --reason TEXT
// [--ticket T] [--purpose P] [--wait]`.
func requestCmd(f *flagSet) clientFunc {
	const use = `request RESOURCE --for DURATION --reason TEXT [--ticket T] [--purpose P] [--start TIME] [--emergency] [--wait]`
	var in client.NewRequest
	var wait bool
	var poll time.Duration
	f.StringVar(&in.Duration, "for", "", "how long the access is for, like 30m or 2h")
	f.StringVar(&in.Reason, "reason", "", "why you need it")
	f.StringVar(&in.Ticket, "ticket", "", "the ticket or case the access is for")
	f.StringVar(&in.Purpose, "purpose", "", "the purpose, where the resource lists purposes")
	f.StringVar(&in.StartAt, "start", "", "start the access later, at this RFC 3339 time (2026-12-03T09:00:00Z)")
	f.BoolVar(&in.Emergency, "emergency", false, "break-glass: access at once with no approver, for the resource's break_glass groups; alerted and reviewed after")
	f.BoolVar(&wait, "wait", false, "wait until the request is decided; the exit code says how it ended")
	f.DurationVar(&poll, "poll-interval", 2*time.Second, "how often --wait asks the server")
	return func(ctx context.Context, r clientRun) (int, error) {
		if len(r.pos) != 1 {
			return 0, usageErr{"name one resource", use}
		}
		if in.Duration == "" {
			return 0, usageErr{"--for is required", use}
		}
		if poll <= 0 {
			return 0, usageErr{"--poll-interval must be positive", use}
		}
		in.Resource = r.pos[0]
		req, err := createOnce(ctx, r.c, in)
		if err != nil {
			return 0, err
		}
		return answer(ctx, r, req, wait, poll)
	}
}

// answer shows a request the command just wrote: what the server masked
// in its text, then the request; with wait, it follows the request until
// it is decided and returns the exit code of how it ended.
func answer(ctx context.Context, r clientRun, req *client.Request, wait bool, poll time.Duration) (int, error) {
	for _, n := range req.Notices {
		fmt.Fprintln(r.stderr, "note:", n)
	}
	if !wait {
		return 0, printRequest(r, req)
	}
	return waitFor(ctx, r, req, poll)
}

// extendCmd is `jitaccess extend ID --for DURATION --reason TEXT
// [--wait]`: more time on your live grant ID, decided like a request.
func extendCmd(f *flagSet) clientFunc {
	const use = `extend ID --for DURATION --reason TEXT [--wait]`
	var dur, reason string
	var wait bool
	var poll time.Duration
	f.StringVar(&dur, "for", "", "how much longer, like 30m")
	f.StringVar(&reason, "reason", "", "why you need longer")
	f.BoolVar(&wait, "wait", false, "wait until the extension is decided; the exit code says how it ended")
	f.DurationVar(&poll, "poll-interval", 2*time.Second, "how often --wait asks the server")
	return func(ctx context.Context, r clientRun) (int, error) {
		if len(r.pos) != 1 {
			return 0, usageErr{"name the live grant's request id", use}
		}
		if dur == "" {
			return 0, usageErr{"--for is required", use}
		}
		if poll <= 0 {
			return 0, usageErr{"--poll-interval must be positive", use}
		}
		ext, err := r.c.Extend(ctx, r.pos[0], dur, reason)
		if err != nil {
			return 0, err
		}
		return answer(ctx, r, ext, wait, poll)
	}
}

// createOnce files a request, retrying once with the same Idempotency-Key
// when the answer was lost on the way, so that a retry never files twice.
func createOnce(ctx context.Context, c *client.Client, in client.NewRequest) (*client.Request, error) {
	key := make([]byte, 16)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	req, err := c.Create(ctx, in, hex.EncodeToString(key))
	var apiErr *client.Error
	if err != nil && !errors.As(err, &apiErr) && ctx.Err() == nil {
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		req, err = c.Create(ctx, in, hex.EncodeToString(key))
	}
	return req, err
}

// waitFor polls req until it leaves pending, printing each new approval,
// and returns the exit code its end state maps to.
func waitFor(ctx context.Context, r clientRun, req *client.Request, poll time.Duration) (int, error) {
	seen := -1
	for {
		if n := counting(req); n != seen && req.State == "pending" {
			seen = n
			fmt.Fprintf(r.stderr, "%s: %s, waiting for approval (%d of %d), times out %s\n",
				req.ID, req.Resource, n, req.RequiredApprovals, relative(req.ReviewDeadline, time.Now()))
		}
		if req.State != "pending" {
			return endCode(req), printRequest(r, req)
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("stopped waiting; %s is still pending", req.ID)
		case <-time.After(poll):
		}
		next, err := r.c.Get(ctx, req.ID)
		if err != nil {
			return 0, err
		}
		req = next
	}
}

func counting(req *client.Request) int {
	n := 0
	for _, a := range req.Approvals {
		if !a.Withdrawn {
			n++
		}
	}
	return n
}

// endCode maps the state a waited-for request left pending for to the
// command's exit code.
func endCode(req *client.Request) int {
	switch req.State {
	case "approved", "scheduled", "extended":
		return 0
	case "denied":
		return exitDenied
	case "timed_out":
		return exitTimedOut
	}
	return exitCancelled
}

// requestsCmd is `jitaccess requests [--mine|--pending] [--state S]
// [--limit N]`.
func requestsCmd(f *flagSet) clientFunc {
	const use = `requests [--mine | --pending] [--state STATE] [--limit N]`
	var mine, pending bool
	var state string
	var limit int
	f.BoolVar(&mine, "mine", false, "only requests you filed")
	f.BoolVar(&pending, "pending", false, "only requests waiting for your decision")
	f.StringVar(&state, "state", "", "only requests in this state (pending, approved, denied, ...)")
	f.IntVar(&limit, "limit", 50, "show at most this many (0: all)")
	return func(ctx context.Context, r clientRun) (int, error) {
		if len(r.pos) != 0 {
			return 0, usageErr{fmt.Sprintf("unexpected argument %q", r.pos[0]), use}
		}
		if mine && pending {
			return 0, usageErr{"--mine and --pending exclude each other", use}
		}
		if pending && state != "" {
			return 0, usageErr{"--pending lists pending requests; --state does not apply", use}
		}
		if limit < 0 {
			return 0, usageErr{"--limit must be 0 or more", use}
		}
		path, q := "/api/v1/requests", url.Values{}
		if state != "" {
			q.Set("state", state)
		}
		switch {
		case pending:
			path = "/api/v1/decisions"
		case mine:
			me, err := r.c.Me(ctx)
			if err != nil {
				return 0, err
			}
			if me.Email == "" {
				return 0, fmt.Errorf("--mine needs a person's token; this one is %s", me.Name)
			}
			q.Set("requester", me.Email)
		}
		reqs, err := r.c.ListAll(ctx, path, q, limit)
		if err != nil {
			return 0, err
		}
		return 0, printRequests(r, reqs)
	}
}

// grantsCmd is `jitaccess grants [--mine] [--limit N]`: the access live now.
func grantsCmd(f *flagSet) clientFunc {
	const use = `grants [--mine] [--limit N]`
	var mine bool
	var limit int
	f.BoolVar(&mine, "mine", false, "only your own grants")
	f.IntVar(&limit, "limit", 50, "show at most this many (0: all)")
	return func(ctx context.Context, r clientRun) (int, error) {
		if len(r.pos) != 0 {
			return 0, usageErr{fmt.Sprintf("unexpected argument %q", r.pos[0]), use}
		}
		if limit < 0 {
			return 0, usageErr{"--limit must be 0 or more", use}
		}
		var who string
		if mine {
			me, err := r.c.Me(ctx)
			if err != nil {
				return 0, err
			}
			who = me.Email
		}
		// --mine filters here: the bound applies to what is shown.
		reqs, err := r.c.ListAll(ctx, "/api/v1/grants", nil, 0)
		if err != nil {
			return 0, err
		}
		out := reqs[:0]
		for _, g := range reqs {
			if !mine || g.Requester == who {
				out = append(out, g)
			}
		}
		if limit > 0 && len(out) > limit {
			out = out[:limit]
		}
		return 0, printRequests(r, out)
	}
}

// decideCmd is approve, deny, cancel and relinquish: one request id and a
// comment or reason, sent to POST /api/v1/requests/ID/verb.
func decideCmd(verb, use, textFlag string, required bool) func(f *flagSet) clientFunc {
	return func(f *flagSet) clientFunc {
		var text string
		f.StringVar(&text, textFlag, "", "the "+textFlag+" recorded with the decision")
		return func(ctx context.Context, r clientRun) (int, error) {
			if len(r.pos) != 1 {
				return 0, usageErr{"name one request id", use}
			}
			if required && strings.TrimSpace(text) == "" {
				return 0, usageErr{"--" + textFlag + " is required", use}
			}
			req, err := r.c.Decide(ctx, r.pos[0], verb, text)
			if err != nil {
				return 0, err
			}
			return answer(ctx, r, req, false, 0)
		}
	}
}

func printRequest(r clientRun, req *client.Request) error {
	if r.json {
		return writeJSON(r.stdout, req)
	}
	return printRequests(r, []client.Request{*req})
}

func printRequests(r clientRun, reqs []client.Request) error {
	if r.json {
		if reqs == nil {
			reqs = []client.Request{}
		}
		return writeJSON(r.stdout, reqs)
	}
	if len(reqs) == 0 {
		_, err := fmt.Fprintln(r.stdout, "no requests")
		return err
	}
	now := time.Now()
	tw := tabwriter.NewWriter(r.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tRESOURCE\tREQUESTER\tFOR\tAPPROVALS\tWHEN")
	for _, q := range reqs {
		dur := q.Duration
		switch {
		case q.Extends != nil:
			dur = "+" + dur // an extension: this much longer
		case q.ExtendedSeconds > 0:
			dur += fmt.Sprintf(" (+%s)", time.Duration(q.ExtendedSeconds)*time.Second)
		}
		state, whenText := string(q.State), when(&q, now)
		if q.Emergency {
			state += " EMERGENCY" // break-glass: live with no approver
		}
		if rv := q.Review; rv != nil && rv.State == workflow.ReviewOpen {
			whenText += " · " + rv.Countdown + " · " + rv.Progress
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d of %d\t%s\n", q.ID, state, q.Resource, q.Requester,
			dur, counting(&q), q.RequiredApprovals, whenText)
	}
	return tw.Flush()
}

// when is the time that matters in a request's state, relative to now.
func when(q *client.Request, now time.Time) string {
	switch {
	case q.State == "pending" && q.Extends != nil:
		return "times out " + relative(q.ReviewDeadline, now) + ", extends " + *q.Extends
	case q.State == "pending":
		return "times out " + relative(q.ReviewDeadline, now)
	case q.State == "scheduled" && q.StartAt != nil:
		return "starts " + relative(*q.StartAt, now)
	case q.State == "extended" && q.Extends != nil:
		return "applied to " + *q.Extends
	case q.State == "approved" && q.ExpiresAt != nil:
		return "expires " + relative(*q.ExpiresAt, now)
	case q.EndedAt != nil:
		return "ended " + relative(*q.EndedAt, now)
	}
	return "filed " + relative(q.CreatedAt, now)
}

// relative says "in 23h" or "5m ago", rounded to what a person reads.
func relative(t, now time.Time) string {
	d := t.Sub(now)
	past := d < 0
	if past {
		d = -d
	}
	var s string
	switch {
	case d < time.Minute:
		s = fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		s = fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		s = fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		s = fmt.Sprintf("%dd", int(d.Hours()/24))
	}
	if past {
		return s + " ago"
	}
	return "in " + s
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
