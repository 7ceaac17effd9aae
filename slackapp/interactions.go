package slackapp

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/slack-go/slack"

	"github.com/jitaccess/jitaccess/notifier"
	"github.com/jitaccess/jitaccess/workflow"
)

// interaction serves Slack's interactivity endpoint: button clicks and
// select changes (block_actions), and modal submissions.
func (h *Handler) interaction(c echo.Context, body []byte) error {
	form, err := parseForm(body)
	if err != nil {
		return err
	}
	var cb slack.InteractionCallback
	if err := json.Unmarshal([]byte(form.Get("payload")), &cb); err != nil {
		return workflow.Errorf(workflow.CodeInvalid, "payload is not a Slack interaction")
	}
	switch cb.Type {
	case slack.InteractionTypeBlockActions:
		return h.blockAction(c, body, cb)
	case slack.InteractionTypeViewSubmission:
		return h.viewSubmission(c, body, cb)
	}
	return c.NoContent(http.StatusOK) // view_closed and anything newer: nothing to do
}

// blockAction acknowledges a click at once and handles it after.
func (h *Handler) blockAction(c echo.Context, body []byte, cb slack.InteractionCallback) error {
	if len(cb.ActionCallback.BlockActions) == 0 {
		return c.NoContent(http.StatusOK)
	}
	a := cb.ActionCallback.BlockActions[0]
	in := h.newInbound(c, body, "action:"+a.ActionID, cb.User.ID, cb.Channel.ID, cb.ResponseURL)
	var fn work
	switch a.ActionID {
	case notifier.ActionApprove:
		id, trigger := a.Value, cb.TriggerID
		approve := h.decision(id, "approved", h.svc.Approve)
		fn = func(ctx context.Context, in inbound) error {
			// A resource that wants an approver's comment gets one through
			// the same modal as a deny reason.
			if h.approvalNeedsComment(ctx, in, id) {
				return h.openReasonForm(ctx, in, trigger, reasonMeta{Action: notifier.ActionApprove, RequestID: id})
			}
			return approve(ctx, in)
		}
	case notifier.ActionExtend:
		id, trigger := a.Value, cb.TriggerID
		fn = func(ctx context.Context, in inbound) error { return h.openExtendForm(ctx, in, trigger, id) }
	case actionCancel:
		fn = h.decision(a.Value, "cancelled", h.svc.Cancel)
	case actionRelinquish:
		fn = h.decision(a.Value, "gave back", h.svc.Revoke)
	case notifier.ActionDeny, notifier.ActionRevoke:
		meta := reasonMeta{Action: a.ActionID, RequestID: a.Value}
		trigger := cb.TriggerID
		fn = func(ctx context.Context, in inbound) error { return h.openReasonForm(ctx, in, trigger, meta) }
	case actionResource:
		view := cb.View
		selected := a.SelectedOption.Value
		fn = func(ctx context.Context, in inbound) error { return h.refreshRequestForm(ctx, in, view, selected) }
	default:
		return c.NoContent(http.StatusOK)
	}
	return h.acknowledge(c, in, fn)
}

// approvalNeedsComment reports whether approving request id needs a
// comment. When the request cannot be read, the click goes straight to the
// service, which refuses it with the reason.
func (h *Handler) approvalNeedsComment(ctx context.Context, in inbound, id string) bool {
	who, err := h.principal(ctx, in.user)
	if err != nil {
		return false
	}
	req, err := h.svc.Get(ctx, who, id)
	if err != nil {
		return false
	}
	return h.svc.Policy().ApprovalNeedsComment(req.Resource)
}

type decide func(ctx context.Context, who workflow.Principal, id, comment string) (*workflow.Request, error)

// decision runs one service call for the clicking user and tells them
// how it went. The channel message itself is edited by the notifier, as
// for a decision made anywhere else.
func (h *Handler) decision(id, done string, do decide) work {
	return func(ctx context.Context, in inbound) error {
		who, err := h.principal(ctx, in.user)
		if err != nil {
			h.reply(ctx, in, textMessage(problem(err)))
			return err
		}
		req, err := do(ctx, who, id, "")
		if err != nil {
			h.reply(ctx, in, textMessage(decisionProblem(err, id)))
			return err
		}
		msg := fmt.Sprintf(":white_check_mark: You %s request `%s` (%s for %s).", done, req.ID, req.Resource, req.Requester) + maskedNote(req)
		if req.State == workflow.StatePending {
			msg += " " + workflow.ApprovalProgress(req) + " so far; it needs more before access is granted."
		} else if req.State == workflow.StateApproved && req.ExpiresAt != nil {
			msg += " Access is live until " + notifier.When(*req.ExpiresAt) + "."
		}
		h.reply(ctx, in, textMessage(msg))
		return nil
	}
}

// decisionProblem explains a refused click. The service says "not found"
// to anyone with no role on a request, so that ids reveal nothing; on a
// click, the user has seen the request in a channel, so that means they
// may not act on it.
func decisionProblem(err error, id string) string {
	if workflow.ErrorCode(err) == workflow.CodeNotFound {
		return fmt.Sprintf(":no_entry: You cannot act on request `%s`: you are not one of the approvers of its resource.", id)
	}
	return problem(err)
}

// openReasonForm opens the deny or revoke modal. It first asks the
// service, briefly, whether the user may take that decision at all, so
// that someone who may not (their own request, not an approver, already
// decided) is refused at once, as a click on Approve is, rather than
// after typing a reason. The decision itself is the service's again, on
// submission; if the check cannot be made in time, the form opens anyway.
func (h *Handler) openReasonForm(ctx context.Context, in inbound, trigger string, meta reasonMeta) error {
	who, err := h.principal(ctx, in.user)
	if err != nil {
		h.reply(ctx, in, textMessage(problem(err)))
		return err
	}
	ev := workflow.EventDeny
	switch meta.Action {
	case notifier.ActionRevoke:
		ev = workflow.EventRevoke
	case notifier.ActionApprove:
		ev = workflow.EventApprove
	}
	gctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond) // the trigger lasts 3s
	defer cancel()
	err = h.svc.MayDecide(gctx, who, meta.RequestID, ev)
	switch {
	case err == nil:
	case retryable(err):
		h.log.Warn("slack: could not check the decision before the reason form", "request", meta.RequestID, "err", err)
	default:
		h.reply(ctx, in, textMessage(decisionProblem(err, meta.RequestID)))
		return nil
	}
	summary := ""
	if req, err := h.svc.Get(gctx, who, meta.RequestID); err == nil {
		e := notifier.Event{Resource: req.Resource}
		if res, ok := h.svc.Policy().Resource(req.Resource); ok && res.Name != res.ID {
			e.ResourceName = res.Name
		}
		summary = fmt.Sprintf("%s for %s, %s\n>%s", e.ResourceLabel(), notifier.Esc(req.Requester),
			workflow.FormatDuration(req.Duration), notifier.Esc(clip(req.Reason, 500)))
	} else {
		h.log.Warn("slack: could not load the request for the reason form", "request", meta.RequestID, "err", err)
	}
	if _, err := h.cfg.Client.OpenViewContext(ctx, trigger, reasonForm(meta, summary)); err != nil {
		h.log.Warn("slack: views.open failed", "err", err)
		h.reply(ctx, in, textMessage(fmt.Sprintf(":warning: Slack could not open the form (%s); click again.", errorName(err))))
		return err
	}
	return nil
}

// refreshRequestForm updates the request form after a resource was
// chosen, so that its durations stop at that resource's max_duration.
func (h *Handler) refreshRequestForm(ctx context.Context, in inbound, view slack.View, selected string) error {
	who, err := h.principal(ctx, in.user)
	if err != nil {
		return err
	}
	views, err := h.svc.Resources(ctx, who)
	if err != nil {
		return err
	}
	var can []workflow.ResourceView
	for _, v := range views {
		if v.CanRequest {
			can = append(can, v)
		}
	}
	if len(can) == 0 {
		return nil
	}
	if _, err := h.cfg.Client.UpdateViewContext(ctx, requestForm(can, selected, h.cfg.Command), "", view.Hash, view.ID); err != nil {
		h.log.Warn("slack: views.update failed", "err", err)
		return err
	}
	return nil
}

// viewSubmission handles a submitted modal. Slack shows validation errors
// only if they come back in this very response, so the service is called
// before answering, within SubmitBudget.
func (h *Handler) viewSubmission(c echo.Context, body []byte, cb slack.InteractionCallback) error {
	in := h.newInbound(c, body, "view:"+cb.View.CallbackID, cb.User.ID, "", "")
	var fn func(ctx context.Context) submission
	field := blockResource // where a refusal of the whole form is shown
	switch cb.View.CallbackID {
	case callbackRequest:
		input, errs := requestInput(cb.View.State)
		if errs != nil {
			return c.JSON(http.StatusOK, slack.NewErrorsViewSubmissionResponse(errs))
		}
		state := cb.View.State
		fn = func(ctx context.Context) submission { return h.submitRequest(ctx, in, input, state) }
	case callbackReason:
		var meta reasonMeta
		if err := json.Unmarshal([]byte(cb.View.PrivateMetadata), &meta); err != nil || meta.RequestID == "" {
			return c.JSON(http.StatusOK, slack.NewErrorsViewSubmissionResponse(map[string]string{blockReason: "This form is damaged; close it and click the button again."}))
		}
		reason := ""
		if cb.View.State != nil {
			reason = cb.View.State.Values[blockReason][actionReason].Value
		}
		fn = func(ctx context.Context) submission { return h.submitReason(ctx, in, meta, reason) }
		field = blockReason
	case callbackExtend:
		id := cb.View.PrivateMetadata
		var by, reason string
		if cb.View.State != nil {
			by = cb.View.State.Values[blockExtendBy][actionExtendBy].Value
			reason = cb.View.State.Values[blockReason][actionReason].Value
		}
		d, err := time.ParseDuration(strings.TrimSpace(by))
		if err != nil || id == "" {
			return c.JSON(http.StatusOK, slack.NewErrorsViewSubmissionResponse(map[string]string{blockExtendBy: "Say how much longer, like 30m or 1h."}))
		}
		fn = func(ctx context.Context) submission { return h.submitExtend(ctx, in, id, d, reason) }
		field = blockReason
	default:
		return c.NoContent(http.StatusOK)
	}
	return c.JSON(http.StatusOK, h.within(in, field, fn))
}

// submission is the outcome of a modal: what to answer Slack with, and,
// when the answer had to go before the outcome was known, what to tell
// the user afterwards.
type submission struct {
	response *slack.ViewSubmissionResponse
	after    string
}

// within runs fn once per delivery, in the same bounded pool as clicks
// and commands, and answers with its response if it finishes within the
// budget; otherwise it answers that the submission is being handled, and
// fn's outcome reaches the user as a direct message. When the pool is
// full it runs nothing and keeps the form open with a "busy" error on
// field, so that the user can submit it again.
func (h *Handler) within(in inbound, field string, fn func(ctx context.Context) submission) *slack.ViewSubmissionResponse {
	select {
	case h.sem <- struct{}{}:
	default:
		h.log.Warn("slack: too much work in flight; refusing a delivery", "kind", in.kind)
		return slack.NewErrorsViewSubmissionResponse(map[string]string{field: "jitaccess is very busy right now; nothing was done. Submit again in a few seconds."})
	}
	out := make(chan submission, 1)
	late := make(chan bool, 1) // whether the answer went before the outcome
	h.wg.Add(1)
	go func() { // one goroutine, one slot, until the user has been told
		defer func() { <-h.sem; h.wg.Done() }()
		ctx, cancel := context.WithTimeout(h.base, h.cfg.WorkTimeout)
		s := h.claimed(ctx, in, fn)
		cancel()
		out <- s
		if <-late && s.after != "" {
			ctx, cancel := context.WithTimeout(h.base, h.cfg.WorkTimeout)
			defer cancel()
			h.direct(ctx, in.user, textMessage(s.after))
		}
	}()
	timer := time.NewTimer(h.cfg.SubmitBudget)
	defer timer.Stop()
	select {
	case s := <-out:
		late <- false
		return s.response
	case <-timer.C:
		late <- true
	}
	return slack.NewUpdateViewSubmissionResponse(doneView("Working on it",
		":hourglass: jitaccess is taking longer than usual. Your submission was received; I will send you a direct message with the outcome."))
}

// claimed runs fn unless this delivery was handled before.
func (h *Handler) claimed(ctx context.Context, in inbound, fn func(ctx context.Context) submission) (s submission) {
	defer func() {
		if p := recover(); p != nil {
			h.log.Error("slack: panic handling a submission", "kind", in.kind, "panic", fmt.Sprint(p))
			s = submission{response: slack.NewUpdateViewSubmissionResponse(doneView("Something went wrong", ":warning: Internal error."))}
		}
	}()
	fresh, err := h.cfg.Store.ClaimSlackInbound(ctx, in.hash, in.kind, h.now())
	if err != nil {
		msg := problem(err)
		return submission{response: slack.NewUpdateViewSubmissionResponse(doneView("Not submitted", msg+"\nNothing was changed; submit again in a moment.")), after: msg}
	}
	if !fresh {
		msg := ":information_source: Slack delivered this submission again; it was already received and handled once, so nothing more was done."
		return submission{response: slack.NewUpdateViewSubmissionResponse(doneView("Already received", msg)), after: msg}
	}
	s = fn(ctx)
	if s.response == nil || s.response.ResponseAction == slack.RAErrors {
		// Refused (or failed): forget the claim, so that the user can
		// correct the form and submit again; Slack sends a new body then
		// anyway, and a retry of this one would be refused the same way.
		if rerr := h.cfg.Store.ReleaseSlackInbound(context.WithoutCancel(ctx), in.hash); rerr != nil {
			h.log.Warn("slack: release delivery claim", "err", rerr)
		}
	}
	h.prune(ctx)
	return s
}

func (h *Handler) submitRequest(ctx context.Context, in inbound, input workflow.SubmitInput, state *slack.ViewState) submission {
	who, err := h.principal(ctx, in.user)
	if err != nil {
		return submission{response: slack.NewErrorsViewSubmissionResponse(map[string]string{blockResource: clip(problem(err), 150)}), after: problem(err)}
	}
	req, err := h.svc.Submit(ctx, who, input)
	if err != nil {
		field := submissionField(err, state)
		return submission{response: slack.NewErrorsViewSubmissionResponse(map[string]string{field: clip(problem(err), 150)}),
			after: problem(err) + "\nNothing was filed; run the command again to retry."}
	}
	msg := filed(req, h.svc.Policy())
	return submission{response: slack.NewUpdateViewSubmissionResponse(doneView("Request filed", msg)), after: msg}
}

func (h *Handler) submitReason(ctx context.Context, in inbound, meta reasonMeta, reason string) submission {
	who, err := h.principal(ctx, in.user)
	if err != nil {
		return submission{response: slack.NewErrorsViewSubmissionResponse(map[string]string{blockReason: clip(problem(err), 150)}), after: problem(err)}
	}
	do, done := h.svc.Deny, "denied"
	switch meta.Action {
	case notifier.ActionRevoke:
		do, done = h.svc.Revoke, "revoked access of"
	case notifier.ActionApprove:
		do, done = h.svc.Approve, "approved"
	}
	req, err := do(ctx, who, meta.RequestID, reason)
	if err != nil {
		msg := decisionProblem(err, meta.RequestID)
		return submission{response: slack.NewErrorsViewSubmissionResponse(map[string]string{blockReason: clip(msg, 150)}), after: msg}
	}
	// The channel message, edited by the notifier, shows the decision.
	msg := fmt.Sprintf(":white_check_mark: You %s request `%s` (%s for %s).", done, req.ID, req.Resource, req.Requester) + maskedNote(req)
	return submission{response: slack.NewClearViewSubmissionResponse(), after: msg}
}

// openExtendForm opens the extension modal for the live grant id.
func (h *Handler) openExtendForm(ctx context.Context, in inbound, trigger, id string) error {
	who, err := h.principal(ctx, in.user)
	if err != nil {
		h.reply(ctx, in, textMessage(problem(err)))
		return err
	}
	summary := ""
	gctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond) // the trigger lasts 3s
	defer cancel()
	if req, err := h.svc.Get(gctx, who, id); err == nil {
		now := h.now()
		if !workflow.AllowedActions(h.svc.Policy(), who, req.Request, now).Extend {
			h.reply(ctx, in, textMessage(fmt.Sprintf(":no_entry: Request `%s` is %s; only your own live grant can be extended.", id, req.EffectiveState(now))))
			return nil
		}
		summary = fmt.Sprintf("%s · live until %s", notifier.Esc(req.Resource), notifier.When(*req.ExpiresAt))
	}
	if _, err := h.cfg.Client.OpenViewContext(ctx, trigger, extendForm(id, summary)); err != nil {
		h.log.Warn("slack: views.open failed", "err", err)
		h.reply(ctx, in, textMessage(fmt.Sprintf(":warning: Slack could not open the form (%s); click again, or use `%s extend %s 30m REASON`.",
			errorName(err), h.cfg.Command, id)))
		return err
	}
	return nil
}

func (h *Handler) submitExtend(ctx context.Context, in inbound, id string, d time.Duration, reason string) submission {
	who, err := h.principal(ctx, in.user)
	if err != nil {
		return submission{response: slack.NewErrorsViewSubmissionResponse(map[string]string{blockReason: clip(problem(err), 150)}), after: problem(err)}
	}
	ext, err := h.svc.Extend(ctx, who, id, workflow.ExtendInput{Duration: d, Reason: reason})
	if err != nil {
		msg := problem(err)
		return submission{response: slack.NewErrorsViewSubmissionResponse(map[string]string{blockReason: clip(msg, 150)}), after: msg}
	}
	msg := extensionFiled(ext)
	return submission{response: slack.NewUpdateViewSubmissionResponse(doneView("Extension filed", msg)), after: msg}
}

// extensionFiled tells the requester what became of an extension.
func extensionFiled(ext *workflow.Request) string {
	if ext.State == workflow.StateExtended && ext.ExpiresAt != nil {
		return fmt.Sprintf(":white_check_mark: Extended by %s automatically by policy: your access is live until %s.\nRequest `%s`",
			workflow.FormatDuration(ext.Duration), notifier.When(*ext.ExpiresAt), ext.ID) + maskedNote(ext)
	}
	return fmt.Sprintf(":inbox_tray: Your extension by %s is filed: it needs %s, and your access runs on meanwhile.\nRequest `%s` (extends `%s`)",
		workflow.FormatDuration(ext.Duration), workflow.Plural(ext.RequiredApprovals, "approval", "approvals"), ext.ID, ext.Extends) + maskedNote(ext)
}
