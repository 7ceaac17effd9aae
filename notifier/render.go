package notifier

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackutilsx"

	"github.com/jitaccess/jitaccess/workflow"
)

// Message is one Slack message: Block Kit blocks, and the plain text that
// notifications, screen readers and the log notifier show.
type Message struct {
	Text   string
	Blocks []slack.Block
}

// Action IDs of the buttons on channel messages; slackapp handles them.
const (
	ActionApprove = "approve"
	// ActionExtend asks for more time on a live grant (the requester's
	// direct messages carry it).
	ActionExtend = "extend"
	ActionDeny   = "deny"
	ActionRevoke = "revoke"
	// ActionOpenWeb is the link button that replaces a decision that needs
	// a second factor; Slack reports its clicks too, which do nothing.
	ActionOpenWeb = "open_web"
)

// Esc escapes text for Slack's mrkdwn, so that what a requester types
// (a reason, a ticket) can never mention @channel, link or format.
func Esc(s string) string { return slackutilsx.EscapeMessage(s) }

// When formats a time as Slack shows it in each reader's own time zone,
// with UTC as the fallback.
func When(t time.Time) string {
	return fmt.Sprintf("<!date^%d^{date_short_pretty} at {time}|%s>", t.Unix(), t.UTC().Format("2006-01-02 15:04 UTC"))
}

// ResourceLabel names the resource: its display name and id.
func (e Event) ResourceLabel() string {
	if e.ResourceName != "" && e.ResourceName != e.Resource {
		return fmt.Sprintf("*%s* (`%s`)", Esc(e.ResourceName), Esc(e.Resource))
	}
	return fmt.Sprintf("`%s`", Esc(e.Resource))
}

func (e Event) resourcePlain() string {
	if e.ResourceName != "" && e.ResourceName != e.Resource {
		return e.ResourceName + " (" + e.Resource + ")"
	}
	return e.Resource
}

func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
}
func plain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, false, false)
}

// clip shortens s to n runes, for Slack's per-field limits.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func quote(s string) string { return "> " + strings.ReplaceAll(Esc(s), "\n", "\n> ") }

func approvers(as []Approval) string {
	names := make([]string, len(as))
	for i, a := range as {
		names[i] = Esc(a.By)
	}
	return strings.Join(names, ", ")
}

// approversAt names the approvers and when each approved.
func approversAt(as []Approval) string {
	names := make([]string, len(as))
	for i, a := range as {
		names[i] = Esc(a.By) + " at " + When(a.At)
	}
	return strings.Join(names, ", ")
}

// ChannelMessage is the approvers' message about a request: who asks for
// what, for how long and why, where it stands, and the buttons that still
// apply. It carries only what the approvers of the resource may see
// through the API: the request itself and its decisions, nothing about the
// requester's other requests or other resources.
func ChannelMessage(e Event) Message {
	fields := []*slack.TextBlockObject{
		mrkdwn("*Requester*\n" + Esc(e.Requester)),
		mrkdwn("*Resource*\n" + e.ResourceLabel()),
		mrkdwn("*Tier*\n" + string(e.Tier)),
		mrkdwn("*Duration*\n" + workflow.FormatDuration(e.Duration())),
	}
	if e.Purpose != "" {
		fields = append(fields, mrkdwn("*Purpose*\n"+Esc(e.Purpose)))
	}
	if e.Ticket != "" {
		fields = append(fields, mrkdwn("*Ticket*\n"+Esc(e.Ticket)))
	}
	status := channelStatus(e)
	header := headerWord(e)
	if e.Emergency {
		header = "🚨 Emergency access: "
	}
	blocks := []slack.Block{
		slack.NewHeaderBlock(plain(clip(header+e.resourcePlain(), 150))),
		slack.NewSectionBlock(nil, fields, nil),
		slack.NewSectionBlock(mrkdwn(clip("*Reason*\n"+quote(e.Reason), 3000)), nil, nil),
		slack.NewSectionBlock(mrkdwn(clip(status, 3000)), nil, nil),
	}
	if p := e.Provisioning; p != nil {
		blocks = append(blocks, slack.NewContextBlock("", mrkdwn(clip(provisioningLine(p), 3000))))
	}
	switch e.State {
	case workflow.StatePending:
		blocks = append(blocks, e.decideBlocks(
			slack.NewButtonBlockElement(ActionApprove, e.RequestID, plain("Approve")).WithStyle(slack.StylePrimary),
			slack.NewButtonBlockElement(ActionDeny, e.RequestID, plain("Deny")).WithStyle(slack.StyleDanger),
		)...)
	case workflow.StateApproved, workflow.StateScheduled:
		blocks = append(blocks, e.decideBlocks(
			slack.NewButtonBlockElement(ActionRevoke, e.RequestID, plain("Revoke access")).WithStyle(slack.StyleDanger),
		)...)
	}
	blocks = append(blocks, slack.NewContextBlock("", mrkdwn("Request `"+e.RequestID+"` · jitaccess")))
	kind := "Access request"
	if e.Emergency {
		kind = "EMERGENCY access"
	}
	text := fmt.Sprintf("%s from %s for %s (%s, %s): %s", kind, Esc(e.Requester), Esc(e.resourcePlain()), e.Tier,
		workflow.FormatDuration(e.Duration()), stateWord(e))
	return Message{Text: text, Blocks: blocks}
}

// reviewLine is the post-hoc review of an emergency request: "review due
// <date> · 1 of 2 sign-offs", or signed off.
func reviewLine(e Event) string {
	rv := e.Review
	if rv == nil {
		return ""
	}
	if rv.State == workflow.ReviewSignedOff {
		return fmt.Sprintf("\n:white_check_mark: Post-hoc review signed off by %s", Esc(strings.Join(rv.SignedBy, ", ")))
	}
	return fmt.Sprintf("\n:mag: Post-hoc review due %s · %d of %d sign-offs", When(rv.DueAt), len(rv.SignedBy), rv.Required)
}

// decideBlocks are the decision buttons of a message. A decision that
// needs a second factor (Event.MFAActions) is not offered as a button: one
// link button opens the request's page in the web UI instead, where the
// person steps up (or, without a web URL, a line says to go there).
func (e Event) decideBlocks(buttons ...*slack.ButtonBlockElement) []slack.Block {
	var keep []slack.BlockElement
	var web []string
	for _, b := range buttons {
		if slices.Contains(e.MFAActions, b.ActionID) {
			web = append(web, strings.ToLower(b.Text.Text))
			continue
		}
		keep = append(keep, b)
	}
	var out []slack.Block
	if len(web) > 0 {
		what := strings.Join(web, " or ")
		if e.WebURL != "" {
			link := slack.NewButtonBlockElement(ActionOpenWeb, e.RequestID, plain(clip(strings.ToUpper(what[:1])+what[1:]+" in jitaccess", 75)))
			link.URL = e.WebURL + "/requests/" + e.RequestID
			keep = append([]slack.BlockElement{link}, keep...)
		}
		out = append(out, slack.NewContextBlock("mfa", mrkdwn(":closed_lock_with_key: To "+what+", confirm with a second factor in the jitaccess web UI"+
			" (request `"+e.RequestID+"`): a Slack click cannot prove one.")))
	}
	if len(keep) > 0 {
		out = append([]slack.Block{slack.NewActionBlock("decide", keep...)}, out...)
	}
	return out
}

// provisioningLine says where applying or removing the grant at the target
// stands. The last error goes to approvers only, who see it in the API
// too.
func provisioningLine(p *ProvisioningStatus) string {
	at := ""
	if p.At != nil {
		at = " at " + When(*p.At)
	}
	by := " (" + Esc(p.Provisioner) + ")"
	switch {
	case p.Status == "applied":
		return ":gear: Access applied at the target" + by + at
	case p.Status == "removed":
		return ":gear: Access removed at the target" + by + at
	case p.Status == "failed" && p.Operation == "remove":
		return ":warning: *Removal at the target keeps failing*" + by + ": access may still be live there; retrying. " + Esc(firstLineOf(p.LastError))
	case p.Status == "failed":
		return ":warning: *Applying access at the target keeps failing*" + by + "; retrying. " + Esc(firstLineOf(p.LastError))
	case p.Operation == "remove":
		return ":gear: Removing access at the target" + by + "…"
	}
	return ":gear: Applying access at the target" + by + "…"
}

func firstLineOf(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return clip(line, 300)
}

// stateWord is a request's state in a few words, for notification text.
func stateWord(e Event) string {
	switch e.State {
	case workflow.StatePending:
		return fmt.Sprintf("waiting for approval, %d of %d approvals", len(e.Approvals), e.RequiredApprovals)
	case workflow.StateRevoked:
		if e.EndedBy == e.Requester {
			return "relinquished"
		}
	case workflow.StateTimedOut:
		return "timed out"
	}
	return string(e.State)
}

func channelStatus(e Event) string {
	ended := func() string {
		if e.EndedAt == nil {
			return ""
		}
		return " at " + When(*e.EndedAt)
	}
	because := func() string {
		if e.EndReason == "" {
			return ""
		}
		return "\n" + quote(e.EndReason)
	}
	switch e.State {
	case workflow.StatePending:
		if e.Extends != "" {
			// An extension: "extend by 30m: 1 of 2".
			s := fmt.Sprintf(":hourglass_flowing_sand: *Waiting for approval* · extend by %s: %d of %d", workflow.FormatDuration(e.Duration()),
				len(e.Approvals), e.RequiredApprovals)
			if len(e.Approvals) > 0 {
				s += " (" + approversAt(e.Approvals) + ")"
			}
			return s + " · grant `" + e.Extends + "` · times out " + When(e.ReviewDeadline)
		}
		s := fmt.Sprintf(":hourglass_flowing_sand: *Waiting for approval* · %d of %d approvals", len(e.Approvals), e.RequiredApprovals)
		if len(e.Approvals) > 0 {
			s += " (" + approversAt(e.Approvals) + ")"
		}
		return s + " · times out " + When(e.ReviewDeadline)
	case workflow.StateApproved:
		s := ":white_check_mark: *Approved*"
		if e.Emergency {
			s = ":rotating_light: *Emergency* · live at once, no approver (break-glass)"
		} else if e.AutoApproved() {
			s += " automatically by policy"
		} else {
			s += " by " + approversAt(e.Approvals)
		}
		if e.ExpiresAt != nil {
			s += " · access until " + When(*e.ExpiresAt)
		}
		if e.ExtendedSeconds > 0 {
			s += fmt.Sprintf(" (extended by %s)", workflow.FormatDuration(time.Duration(e.ExtendedSeconds)*time.Second))
		}
		return s + reviewLine(e)
	case workflow.StateScheduled:
		s := ":calendar: *Scheduled*"
		if e.AutoApproved() {
			s += ", approved automatically by policy"
		} else {
			s += ", approved by " + approversAt(e.Approvals)
		}
		if e.StartAt != nil && e.ExpiresAt != nil {
			s += " · access from " + When(*e.StartAt) + " until " + When(*e.ExpiresAt)
		}
		return s
	case workflow.StateExtended:
		s := fmt.Sprintf(":white_check_mark: *Extended* by %s", workflow.FormatDuration(e.Duration()))
		if e.AutoApproved() {
			s += " automatically by policy"
		} else {
			s += ", approved by " + approversAt(e.Approvals)
		}
		if e.ExpiresAt != nil {
			s += " · access until " + When(*e.ExpiresAt)
		}
		return s
	case workflow.StateDenied:
		return ":no_entry: *Denied* by " + Esc(e.EndedBy) + ended() + because()
	case workflow.StateCancelled:
		if e.EndedBy != e.Requester {
			return ":no_entry_sign: *Cancelled* by " + Esc(e.EndedBy) + ended() + because()
		}
		return ":no_entry_sign: *Cancelled* by the requester" + ended() + because()
	case workflow.StateTimedOut:
		return fmt.Sprintf(":hourglass: *Timed out*%s with %d of %d approvals", ended(), len(e.Approvals), e.RequiredApprovals)
	case workflow.StateExpired:
		s := ":clock4: *Expired*" + ended()
		if len(e.Approvals) > 0 {
			s += " · was approved by " + approvers(e.Approvals)
		}
		return s
	case workflow.StateRevoked:
		if e.EndedBy == e.Requester {
			return ":unlock: *Relinquished* by the requester" + ended() + because()
		}
		return ":lock: *Revoked* by " + Esc(e.EndedBy) + ended() + because()
	}
	return "*" + string(e.State) + "*"
}

// DirectMessage is what the requester is told about the change in e, and
// false when the change is not news to them (see Plan).
func DirectMessage(e Event) (Message, bool) {
	res := e.ResourceLabel()
	var s string
	switch e.Event {
	case workflow.EventApprove, workflow.EventAutoApprove:
		if e.ExpiresAt == nil {
			return Message{}, false
		}
		by := "automatically by policy"
		if !e.AutoApproved() {
			by = "by " + approvers(e.Approvals)
		}
		switch e.To {
		case workflow.StateApproved:
			s = fmt.Sprintf(":white_check_mark: Your request for %s was approved %s. Your access is live until %s.", res, by, When(*e.ExpiresAt))
			return withExtend(s, e.RequestID), true
		case workflow.StateScheduled:
			if e.StartAt == nil {
				return Message{}, false
			}
			s = fmt.Sprintf(":calendar: Your request for %s was approved %s. Your access starts %s and lasts until %s.", res, by,
				When(*e.StartAt), When(*e.ExpiresAt))
		case workflow.StateExtended:
			s = fmt.Sprintf(":white_check_mark: Your extension of %s by %s was approved %s. Your access is now live until %s.", res,
				workflow.FormatDuration(e.Duration()), by, When(*e.ExpiresAt))
			return withExtend(s, e.Extends), true
		default:
			return Message{}, false
		}
	case workflow.EventActivate:
		if e.ExpiresAt == nil {
			return Message{}, false
		}
		s = fmt.Sprintf(":white_check_mark: Your scheduled access to %s is live now, until %s.", res, When(*e.ExpiresAt))
		return withExtend(s, e.RequestID), true
	case workflow.EventDeny:
		s = fmt.Sprintf(":no_entry: Your request for %s was denied by %s.", res, Esc(e.Actor))
		if e.Comment != "" {
			s += "\n" + quote(e.Comment)
		}
	case workflow.EventRevoke:
		s = fmt.Sprintf(":lock: Your access to %s was revoked by %s.", res, Esc(e.Actor))
		if e.Comment != "" {
			s += "\n" + quote(e.Comment)
		}
	case workflow.EventExpire:
		at := ""
		if e.ExpiresAt != nil {
			at = " at " + When(*e.ExpiresAt)
		}
		s = fmt.Sprintf(":clock4: Your access to %s expired%s.", res, at)
	case workflow.EventCancel:
		// Only the system cancels someone else's request: the rules in
		// force no longer justify it (re-evaluation).
		s = fmt.Sprintf(":no_entry_sign: Your request for %s was cancelled by %s.", res, Esc(e.Actor))
		if e.Comment != "" {
			s += "\n" + quote(e.Comment)
		}
	case workflow.EventTimeout:
		s = fmt.Sprintf(":hourglass: Your request for %s timed out at %s with %d of %d approvals. File a new request if you still need access.",
			res, When(e.ReviewDeadline), len(e.Approvals), e.RequiredApprovals)
	default:
		return Message{}, false
	}
	return Message{Text: s, Blocks: []slack.Block{
		slack.NewSectionBlock(mrkdwn(clip(s, 3000)), nil, nil),
		slack.NewContextBlock("", mrkdwn("Request `"+e.RequestID+"`")),
	}}, true
}

// withExtend is a direct message about the live grant id, with an
// Extend button (it asks how long and why).
func withExtend(s, id string) Message {
	return Message{Text: s, Blocks: []slack.Block{
		slack.NewSectionBlock(mrkdwn(clip(s, 3000)), nil, nil),
		slack.NewActionBlock("grant", slack.NewButtonBlockElement(ActionExtend, id, plain("Extend"))),
		slack.NewContextBlock("", mrkdwn("Request `"+id+"`")),
	}}
}

// headerWord starts the approvers' message: an extension is asked for
// as one.
func headerWord(e Event) string {
	if e.Extends != "" {
		return "Extension request: "
	}
	return "Access request: "
}

// timeLeft says how soon something ends, as "in 14m": to the minute, but
// to the second under two minutes, where rounding to a minute would
// overstate a short remainder (25 s is not "1m").
func timeLeft(d time.Duration) string {
	switch {
	case d < time.Second:
		return "in less than a second"
	case d < 2*time.Minute:
		return "in " + workflow.FormatDuration(d.Round(time.Second))
	}
	return "in " + workflow.FormatDuration(d.Round(time.Minute))
}

// ExpiryWarningMessage warns the requester that access ends at expires.
func ExpiryWarningMessage(e Event, expires, now time.Time) Message {
	s := fmt.Sprintf(":alarm_clock: Your access to %s expires %s (%s). Extend it if you need more time.",
		e.ResourceLabel(), When(expires), timeLeft(expires.Sub(now)))
	return withExtend(s, e.RequestID)
}

// ReminderMessage is a reminder's direct message (KindReminder).
func ReminderMessage(text string) Message {
	return Message{Text: text, Blocks: []slack.Block{slack.NewSectionBlock(mrkdwn(":alarm_clock: "+Esc(text)), nil, nil)}}
}
