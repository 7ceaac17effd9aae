package slackapp

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/slack-go/slack"

	"github.com/jitaccess/jitaccess/notifier"
	"github.com/jitaccess/jitaccess/workflow"
)

// command serves the slash command:
//
//	/access                              open the request form
//	/access RESOURCE DURATION REASON...  file a request directly
//	/access --emergency RESOURCE DURATION REASON...
//	                                     break-glass: live at once, reviewed after
//	/access RESOURCE DURATION start:TIME REASON...  access that starts later
//	/access extend REQUEST DURATION REASON...        more time on a live grant
//	/access list                         my pending requests and live access
//	/access help                         what the command does
//
// Help is answered at once; everything else is acknowledged with an empty
// 200 and done after.
func (h *Handler) command(c echo.Context, body []byte) error {
	form, err := parseForm(body)
	if err != nil {
		return err
	}
	text := strings.TrimSpace(form.Get("text"))
	verb, _, _ := strings.Cut(text, " ")
	in := h.newInbound(c, body, "command", form.Get("user_id"), form.Get("channel_id"), form.Get("response_url"))
	var fn work
	switch strings.ToLower(verb) {
	case "help", "-h", "--help", "?":
		return c.JSON(http.StatusOK, ephemeral(h.helpText()))
	case "":
		trigger := form.Get("trigger_id")
		fn = func(ctx context.Context, in inbound) error { return h.openRequestForm(ctx, in, trigger) }
	case "list", "ls":
		fn = h.list
	case "extend":
		fn = func(ctx context.Context, in inbound) error { return h.extendDirect(ctx, in, text) }
	default:
		fn = func(ctx context.Context, in inbound) error { return h.fileDirect(ctx, in, text) }
	}
	return h.acknowledge(c, in, fn)
}

// parseForm reads Slack's form-encoded body.
func parseForm(body []byte) (url.Values, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, workflow.Errorf(workflow.CodeInvalid, "request body is not form-encoded")
	}
	return form, nil
}

func ephemeral(text string) map[string]any {
	return map[string]any{"response_type": slack.ResponseTypeEphemeral, "text": text}
}

func (h *Handler) helpText() string {
	c := h.cfg.Command
	return fmt.Sprintf("*jitaccess: just-in-time access*\n"+
		"• `%[1]s` opens a form: pick a resource, a duration and say why.\n"+
		"• `%[1]s RESOURCE DURATION REASON…` files a request directly, e.g. `%[1]s crm-notes 2h case 4711: customer asks for a refund`. "+
		"Add `ticket:ABC-123` anywhere in the reason to link a ticket, and `purpose:refund` to name the purpose when the resource asks for one.\n"+
		"• `%[1]s --emergency RESOURCE DURATION REASON…` is break-glass, for members of the resource's break_glass groups: "+
		"access is live at once with no approver, the security channel is alerted, and reviewers must sign it off afterwards.\n"+
		"Add `ticket:ABC-123` anywhere in the reason to link a ticket, `purpose:refund` to name the purpose when the resource asks for one, "+
		"and `start:2026-12-03T09:00Z` to have access start then (UTC, or any RFC 3339 time) instead of at approval.\n"+
		"• `%[1]s extend REQUEST DURATION REASON…` asks for more time on your live grant, e.g. `%[1]s extend 0190… 30m the call runs long`; "+
		"it needs the approvals the grant needed, and the grant runs on meanwhile.\n"+
		"• `%[1]s list` shows your pending requests and live access, with buttons to cancel or give access back.\n"+
		"• `%[1]s help` shows this.\n"+
		"Approvers get each request in their channel with Approve and Deny buttons; you get a direct message when it is decided, "+
		"shortly before your access expires, and when it ends.", c)
}

// openRequestForm opens the request modal with the resources the user may
// request. Slack's trigger is valid for 3 seconds, and nothing here reads
// the database but for the person's directory record (one indexed read):
// the Slack user (cached) and the policy (in memory).
func (h *Handler) openRequestForm(ctx context.Context, in inbound, trigger string) error {
	who, err := h.principal(ctx, in.user)
	if err != nil {
		h.reply(ctx, in, textMessage(problem(err)))
		return err
	}
	views, err := h.svc.Resources(ctx, who)
	if err != nil {
		h.reply(ctx, in, textMessage(problem(err)))
		return err
	}
	var can []workflow.ResourceView
	for _, v := range views {
		if v.CanRequest {
			can = append(can, v)
		}
	}
	if len(can) == 0 {
		h.reply(ctx, in, textMessage(":information_source: There is nothing you may request. Ask an admin if you think there should be."))
		return nil
	}
	if _, err := h.cfg.Client.OpenViewContext(ctx, trigger, requestForm(can, "", h.cfg.Command)); err != nil {
		h.log.Warn("slack: views.open failed", "err", err)
		h.reply(ctx, in, textMessage(fmt.Sprintf(":warning: Slack could not open the form (%s). Try again, or file directly with `%s RESOURCE DURATION REASON`.",
			errorName(err), h.cfg.Command)))
		return err
	}
	return nil
}

func errorName(err error) string {
	if code := slackCode(err); code != "" {
		return code
	}
	return "no answer"
}

var (
	emergencyWord = regexp.MustCompile(`(?i)(^|\s)--emergency(\s|$)`)
	ticketWord    = regexp.MustCompile(`(?i)(^|\s)ticket:(\S+)`)
	purposeWord   = regexp.MustCompile(`(?i)(^|\s)purpose:(\S+)`)
	startWord     = regexp.MustCompile(`(?i)(^|\s)start:(\S+)`)
)

// parseDirect reads "[--emergency] RESOURCE DURATION REASON..." with an
// optional ticket:ID and purpose:NAME anywhere in the reason.
func parseDirect(text string) (workflow.SubmitInput, error) {
	var in workflow.SubmitInput
	if emergencyWord.MatchString(text) {
		in.Emergency = true
		text = emergencyWord.ReplaceAllString(text, " ")
	}
	resource, rest, _ := strings.Cut(strings.TrimSpace(text), " ")
	dur, reason, _ := strings.Cut(strings.TrimSpace(rest), " ")
	in.Resource = resource
	if resource == "" {
		return in, workflow.Errorf(workflow.CodeInvalid, "say which resource you need")
	}
	if dur == "" {
		return in, workflow.Errorf(workflow.CodeInvalid, "say how long you need access for, e.g. 2h")
	}
	d, err := time.ParseDuration(dur)
	if err != nil {
		return in, workflow.Errorf(workflow.CodeInvalid, "%q is not a duration; use 30m, 2h or 1h30m", dur)
	}
	in.Duration = d
	if m := ticketWord.FindStringSubmatch(reason); m != nil {
		in.Ticket = m[2]
		reason = strings.Join(strings.Fields(ticketWord.ReplaceAllString(reason, " ")), " ")
	}
	if m := purposeWord.FindStringSubmatch(reason); m != nil {
		in.Purpose = m[2]
		reason = strings.Join(strings.Fields(purposeWord.ReplaceAllString(reason, " ")), " ")
	}
	if m := startWord.FindStringSubmatch(reason); m != nil {
		t, err := parseStart(m[2])
		if err != nil {
			return in, err
		}
		in.StartAt = &t
		reason = strings.Join(strings.Fields(startWord.ReplaceAllString(reason, " ")), " ")
	}
	in.Reason = reason
	return in, nil
}

// parseStart reads start:TIME: RFC 3339 (2026-12-03T09:00:00Z), or the
// same without seconds (2026-12-03T09:00Z).
func parseStart(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04Z07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, workflow.Errorf(workflow.CodeInvalid, "start:%s is not a time; use start:2026-12-03T09:00Z (UTC) or another RFC 3339 time", s)
}

// extendDirect serves "/access extend REQUEST DURATION REASON...".
func (h *Handler) extendDirect(ctx context.Context, in inbound, text string) error {
	_, rest, _ := strings.Cut(strings.TrimSpace(text), " ")
	id, rest, _ := strings.Cut(strings.TrimSpace(rest), " ")
	dur, reason, _ := strings.Cut(strings.TrimSpace(rest), " ")
	d, err := time.ParseDuration(dur)
	if id == "" || err != nil {
		h.reply(ctx, in, textMessage(fmt.Sprintf(":warning: Usage: `%s extend REQUEST DURATION REASON…`, e.g. `%s extend %s 30m the call runs long` (`%s list` shows your grants).",
			h.cfg.Command, h.cfg.Command, orExample(id), h.cfg.Command)))
		return nil
	}
	who, err := h.principal(ctx, in.user)
	if err != nil {
		h.reply(ctx, in, textMessage(problem(err)))
		return err
	}
	ext, err := h.svc.Extend(ctx, who, id, workflow.ExtendInput{Duration: d, Reason: strings.TrimSpace(reason)})
	if err != nil {
		h.reply(ctx, in, textMessage(problem(err)))
		return err
	}
	h.reply(ctx, in, textMessage(extensionFiled(ext)))
	return nil
}

func orExample(id string) string {
	if id == "" {
		return "REQUEST"
	}
	return id
}

func (h *Handler) fileDirect(ctx context.Context, in inbound, text string) error {
	input, err := parseDirect(text)
	if err != nil {
		h.reply(ctx, in, textMessage(fmt.Sprintf("%s\nUsage: `%s RESOURCE DURATION REASON…`, or `%s` alone for a form, or `%s help`.",
			problem(err), h.cfg.Command, h.cfg.Command, h.cfg.Command)))
		return nil
	}
	who, err := h.principal(ctx, in.user)
	if err != nil {
		h.reply(ctx, in, textMessage(problem(err)))
		return err
	}
	req, err := h.svc.Submit(ctx, who, input)
	if err != nil {
		h.reply(ctx, in, textMessage(problem(err)))
		return err
	}
	h.reply(ctx, in, textMessage(filed(req, h.svc.Policy())))
	return nil
}

// filed tells the requester what became of a new request.
func filed(req *workflow.Request, pol *workflow.Policy) string {
	e := notifier.Event{Resource: req.Resource, RequestID: req.ID}
	if res, ok := pol.Resource(req.Resource); ok && res.Name != res.ID {
		e.ResourceName = res.Name
	}
	if req.Emergency && req.ExpiresAt != nil && req.Review != nil {
		return fmt.Sprintf(":rotating_light: *Emergency* access to %s is live until %s, with no approver. "+
			"The security channel has been alerted, and %s must sign off the post-hoc review by %s.\nRequest `%s`",
			e.ResourceLabel(), notifier.When(*req.ExpiresAt), workflow.Plural(req.Review.Required, "reviewer", "reviewers"),
			notifier.When(req.Review.DueAt), req.ID) + maskedNote(req)
	}
	if req.State == workflow.StateApproved && req.ExpiresAt != nil {
		return fmt.Sprintf(":white_check_mark: Access to %s was approved automatically by policy. It is live until %s.\nRequest `%s`",
			e.ResourceLabel(), notifier.When(*req.ExpiresAt), req.ID) + maskedNote(req)
	}
	if req.State == workflow.StateScheduled && req.StartAt != nil && req.ExpiresAt != nil {
		return fmt.Sprintf(":calendar: Access to %s was approved automatically by policy. It starts %s and lasts until %s.\nRequest `%s`",
			e.ResourceLabel(), notifier.When(*req.StartAt), notifier.When(*req.ExpiresAt), req.ID) + maskedNote(req)
	}
	if req.StartAt != nil {
		return fmt.Sprintf(":inbox_tray: Your request for %s for %s, starting %s, is filed. It needs %s; the approvers have been asked, "+
			"and I will send you a direct message when it is decided.\nRequest `%s`",
			e.ResourceLabel(), workflow.FormatDuration(req.Duration), notifier.When(*req.StartAt),
			workflow.Plural(req.RequiredApprovals, "approval", "approvals"), req.ID) + maskedNote(req)
	}
	return fmt.Sprintf(":inbox_tray: Your request for %s for %s is filed. It needs %s; the approvers have been asked, "+
		"and I will send you a direct message when it is decided.\nRequest `%s`",
		e.ResourceLabel(), workflow.FormatDuration(req.Duration), workflow.Plural(req.RequiredApprovals, "approval", "approvals"), req.ID) + maskedNote(req)
}

// maskedNote tells the person what was masked in what they wrote.
func maskedNote(req *workflow.Request) string {
	if note := workflow.MaskedNote(req.Notices); note != "" {
		return "\n:lock: " + note
	}
	return ""
}

// list shows the user's pending requests and live access, with buttons
// to cancel or give access back.
func (h *Handler) list(ctx context.Context, in inbound) error {
	who, err := h.principal(ctx, in.user)
	if err != nil {
		h.reply(ctx, in, textMessage(problem(err)))
		return err
	}
	var reqs []*workflow.Request
	for _, st := range []workflow.State{workflow.StatePending, workflow.StateScheduled, workflow.StateApproved} {
		page, _, err := h.svc.List(ctx, who, workflow.RequestQuery{Requester: who.Email, State: st, Limit: 25})
		if err != nil {
			h.reply(ctx, in, textMessage(problem(err)))
			return err
		}
		reqs = append(reqs, page...)
	}
	h.reply(ctx, in, listMessage(reqs, h.svc.Policy(), h.now()))
	return nil
}

func listMessage(reqs []*workflow.Request, pol *workflow.Policy, now time.Time) *slack.WebhookMessage {
	var blocks []slack.Block
	var lines []string
	for _, r := range reqs {
		e := notifier.Event{Resource: r.Resource}
		if res, ok := pol.Resource(r.Resource); ok && res.Name != res.ID {
			e.ResourceName = res.Name
		}
		var line string
		var button *slack.ButtonBlockElement
		var extend *slack.ButtonBlockElement
		switch r.EffectiveState(now) {
		case workflow.StatePending:
			what := "for " + workflow.FormatDuration(r.Duration)
			if r.Extends != "" {
				what = "extend by " + workflow.FormatDuration(r.Duration)
			}
			line = fmt.Sprintf(":hourglass_flowing_sand: %s %s · %s · filed %s", e.ResourceLabel(), what,
				workflow.ApprovalProgress(r), notifier.When(r.CreatedAt))
			button = slack.NewButtonBlockElement(actionCancel, r.ID, plainText("Cancel"))
		case workflow.StateScheduled:
			line = fmt.Sprintf(":calendar: %s · starts in %s (%s until %s)", e.ResourceLabel(), workflow.FormatDuration(max(r.StartAt.Sub(now).Round(time.Minute), time.Minute)),
				notifier.When(*r.StartAt), notifier.When(*r.ExpiresAt))
			button = slack.NewButtonBlockElement(actionCancel, r.ID, plainText("Cancel"))
		case workflow.StateApproved:
			left := r.ExpiresAt.Sub(now).Round(time.Minute)
			line = fmt.Sprintf(":white_check_mark: %s · %s left (until %s)", e.ResourceLabel(), workflow.FormatDuration(max(left, time.Minute)),
				notifier.When(*r.ExpiresAt))
			if r.Emergency && r.Review != nil {
				line = ":rotating_light: *Emergency* " + line + " · " + r.Review.Countdown(now) + " · " + r.Review.Progress()
			}
			button = slack.NewButtonBlockElement(actionRelinquish, r.ID, plainText("Give access back"))
			extend = slack.NewButtonBlockElement(notifier.ActionExtend, r.ID, plainText("Extend"))
		default:
			continue // lapsed; the sweeper has not written it down yet
		}
		lines = append(lines, line)
		blocks = append(blocks, slack.NewSectionBlock(mrkdwnText(line), nil, slack.NewAccessory(button)))
		if extend != nil {
			blocks = append(blocks, slack.NewActionBlock("", extend))
		}
	}
	if len(lines) == 0 {
		return textMessage(":information_source: You have no pending requests and no live access.")
	}
	head := "*Your pending requests and live access*"
	blocks = append([]slack.Block{slack.NewSectionBlock(mrkdwnText(head), nil, nil)}, blocks...)
	return &slack.WebhookMessage{Text: head + "\n" + strings.Join(lines, "\n"), Blocks: &slack.Blocks{BlockSet: blocks}}
}

func plainText(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, false, false)
}

func mrkdwnText(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
}
