package slackapp

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/jitaccess/jitaccess/notifier"
	"github.com/jitaccess/jitaccess/workflow"
)

// Callback, block and action IDs of the modals and list buttons.
const (
	callbackRequest = "jitaccess.request"
	callbackReason  = "jitaccess.reason" // deny or revoke, with a reason
	callbackExtend  = "jitaccess.extend" // more time on a live grant

	blockResource  = "resource"
	blockDuration  = "duration" // + "/" + the resource it offers durations for
	blockReason    = "reason"
	blockTicket    = "ticket"
	blockPurpose   = "purpose"
	actionPurpose  = "purpose"
	actionResource = "resource"
	actionDuration = "duration"
	actionReason   = "reason"
	actionTicket   = "ticket"

	blockExtendBy  = "extend_by"
	actionExtendBy = "extend_by"

	actionCancel     = "cancel"
	actionRelinquish = "relinquish"
)

// maxOptions is Slack's limit on a static select.
const maxOptions = 100

// durationChoices are the durations the form offers, up to the resource's
// max_duration (which is always offered too).
var durationChoices = []time.Duration{
	15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour, 12 * time.Hour,
	24 * time.Hour, 48 * time.Hour, 72 * time.Hour, 7 * 24 * time.Hour,
}

func durationsUpTo(max time.Duration) []time.Duration {
	var out []time.Duration
	for _, d := range durationChoices {
		if d <= max {
			out = append(out, d)
		}
	}
	if !slices.Contains(out, max) {
		out = append(out, max)
	}
	return out
}

func option(value, text, description string) *slack.OptionBlockObject {
	var desc *slack.TextBlockObject
	if description != "" {
		desc = plainText(clip(description, 75))
	}
	return slack.NewOptionBlockObject(value, plainText(clip(text, 75)), desc)
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// requestForm is the request modal: a resource picker with what the user
// may request, durations up to the chosen resource's max_duration (before
// a choice, up to the longest of them), a required reason and an optional
// ticket. Choosing a resource updates the form (views.update) so that its
// durations fit it.
func requestForm(can []workflow.ResourceView, selected, command string) slack.ModalViewRequest {
	var opts []*slack.OptionBlockObject
	var chosen *slack.OptionBlockObject
	var maxDur time.Duration
	var purposes []string // the chosen resource's
	for i, v := range can {
		if i == maxOptions {
			break
		}
		// No option descriptions: Slack sends the whole view back with
		// every submission, and a large catalog must stay well inside the
		// server's body limit.
		o := option(v.ID, fmt.Sprintf("%s (%s, up to %s)", v.Name, v.Tier, workflow.FormatDuration(v.MaxDuration)), "")
		opts = append(opts, o)
		if v.ID == selected {
			chosen, maxDur, purposes = o, v.MaxDuration, v.Purposes
		}
	}
	if chosen == nil {
		for _, v := range can[:min(len(can), maxOptions)] {
			maxDur = max(maxDur, v.MaxDuration)
		}
	}
	if len(can) == 1 {
		chosen, maxDur, selected, purposes = opts[0], can[0].MaxDuration, can[0].ID, can[0].Purposes
	}
	resSelect := slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, plainText("Choose a resource"), actionResource, opts...)
	resSelect.InitialOption = chosen
	resBlock := slack.NewInputBlock(blockResource, plainText("Resource"), nil, resSelect)
	resBlock.DispatchAction = true // a choice updates the durations

	var durOpts []*slack.OptionBlockObject
	var initial *slack.OptionBlockObject
	for _, d := range durationsUpTo(maxDur) {
		o := option(d.String(), workflow.FormatDuration(d), "")
		durOpts = append(durOpts, o)
		if d <= time.Hour {
			initial = o
		}
	}
	durSelect := slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, plainText("How long"), actionDuration, durOpts...)
	durSelect.InitialOption = initial
	hint := plainText("Access ends by itself when this time is up.")
	durBlock := slack.NewInputBlock(blockDuration+"/"+selected, plainText("Duration"), hint, durSelect)

	reason := slack.NewPlainTextInputBlockElement(plainText("Case 4711: the customer asks for a refund"), actionReason)
	reason.Multiline, reason.MaxLength = true, workflow.MaxReasonLen
	ticket := slack.NewPlainTextInputBlockElement(plainText("ABC-123"), actionTicket)
	ticket.MaxLength = workflow.MaxTicketLen

	blocks := []slack.Block{
		resBlock,
		durBlock,
		slack.NewInputBlock(blockReason, plainText("Reason"), plainText("Approvers see this. Say why you need access."), reason),
		slack.NewInputBlock(blockTicket, plainText("Ticket"), nil, ticket).WithOptional(true),
	}
	if len(purposes) > 0 {
		// A resource that lists purposes takes one of them, and only one.
		var popts []*slack.OptionBlockObject
		for _, p := range purposes[:min(len(purposes), maxOptions)] {
			popts = append(popts, option(p, p, ""))
		}
		sel := slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, plainText("Choose a purpose"), actionPurpose, popts...)
		purposeBlock := slack.NewInputBlock(blockPurpose, plainText("Purpose"), plainText("Approvers see this."), sel)
		blocks = slices.Insert(blocks, 2, slack.Block(purposeBlock))
	}
	if len(can) > maxOptions {
		blocks = append(blocks, slack.NewContextBlock("", mrkdwnText(fmt.Sprintf(
			"Only the first %d resources are listed; file others with `%s RESOURCE DURATION REASON`.", maxOptions, command))))
	}
	return slack.ModalViewRequest{
		Type:       slack.VTModal,
		CallbackID: callbackRequest,
		Title:      plainText("Request access"),
		Submit:     plainText("Request"),
		Close:      plainText("Cancel"),
		Blocks:     slack.Blocks{BlockSet: blocks},
	}
}

// requestInput reads the request form's state. Problems with the form
// itself (no duration picked, an unreadable one) are returned per block.
func requestInput(state *slack.ViewState) (workflow.SubmitInput, map[string]string) {
	var in workflow.SubmitInput
	errs := map[string]string{}
	if state == nil {
		errs[blockResource] = "The form came back empty; open it again."
		return in, errs
	}
	in.Resource = state.Values[blockResource][actionResource].SelectedOption.Value
	if in.Resource == "" {
		errs[blockResource] = "Choose a resource."
	}
	durBlock := durationBlockID(state)
	raw := state.Values[durBlock][actionDuration].SelectedOption.Value
	d, err := time.ParseDuration(raw)
	switch {
	case raw == "":
		errs[durBlock] = "Choose a duration."
	case err != nil:
		errs[durBlock] = fmt.Sprintf("%q is not a duration.", raw)
	}
	in.Duration = d
	in.Reason = state.Values[blockReason][actionReason].Value
	in.Ticket = state.Values[blockTicket][actionTicket].Value
	in.Purpose = state.Values[blockPurpose][actionPurpose].SelectedOption.Value
	if len(errs) == 0 {
		errs = nil
	}
	return in, errs
}

// durationBlockID finds the form's duration block, whose ID names the
// resource its choices were made for.
func durationBlockID(state *slack.ViewState) string {
	if state != nil {
		for id := range state.Values {
			if id == blockDuration || strings.HasPrefix(id, blockDuration+"/") {
				return id
			}
		}
	}
	return blockDuration + "/"
}

// submissionField says which field of the request form a refusal from
// the service is about, so that it is shown under that field.
func submissionField(err error, state *slack.ViewState) string {
	msg := strings.ToLower(workflow.ErrorMessage(err))
	switch {
	case strings.Contains(msg, "duration"):
		return durationBlockID(state)
	case strings.Contains(msg, "reason"):
		return blockReason
	case strings.Contains(msg, "purpose") && state != nil && state.Values[blockPurpose] != nil:
		return blockPurpose
	case strings.Contains(msg, "ticket"):
		return blockTicket
	}
	return blockResource
}

// reasonMeta is what a deny or revoke modal remembers.
type reasonMeta struct {
	Action    string `json:"a"` // notifier.ActionDeny or notifier.ActionRevoke
	RequestID string `json:"r"`
}

// reasonForm asks an approver why they deny a request or revoke access.
// summary, when known, says which request it is.
func reasonForm(meta reasonMeta, summary string) slack.ModalViewRequest {
	title, submit, label := "Deny request", "Deny", "Why do you deny it?"
	switch meta.Action {
	case notifier.ActionRevoke:
		title, submit, label = "Revoke access", "Revoke", "Why do you revoke it?"
	case notifier.ActionApprove:
		title, submit, label = "Approve request", "Approve", "Your comment (this resource requires one)"
	}
	md, _ := json.Marshal(meta)
	reason := slack.NewPlainTextInputBlockElement(plainText("The requester sees this."), actionReason)
	reason.Multiline, reason.MaxLength = true, workflow.MaxCommentLen
	var blocks []slack.Block
	if summary != "" {
		blocks = append(blocks, slack.NewSectionBlock(mrkdwnText(summary), nil, nil))
	}
	blocks = append(blocks, slack.NewInputBlock(blockReason, plainText(label), nil, reason))
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		CallbackID:      callbackReason,
		Title:           plainText(title),
		Submit:          plainText(submit),
		Close:           plainText("Back"),
		PrivateMetadata: string(md),
		Blocks:          slack.Blocks{BlockSet: blocks},
	}
}

// doneView replaces a submitted modal with a message.
func doneView(title, text string) *slack.ModalViewRequest {
	return &slack.ModalViewRequest{
		Type:   slack.VTModal,
		Title:  plainText(title),
		Close:  plainText("Close"),
		Blocks: slack.Blocks{BlockSet: []slack.Block{slack.NewSectionBlock(mrkdwnText(text), nil, nil)}},
	}
}

// extendForm asks the requester of live grant id for how much longer and
// why (the Extend button). summary, when known, says which grant it is.
func extendForm(id, summary string) slack.ModalViewRequest {
	by := slack.NewPlainTextInputBlockElement(plainText("30m"), actionExtendBy)
	by.InitialValue = "30m"
	reason := slack.NewPlainTextInputBlockElement(plainText("The call runs long"), actionReason)
	reason.Multiline, reason.MaxLength = true, workflow.MaxReasonLen
	var blocks []slack.Block
	if summary != "" {
		blocks = append(blocks, slack.NewSectionBlock(mrkdwnText(summary), nil, nil))
	}
	blocks = append(blocks,
		slack.NewInputBlock(blockExtendBy, plainText("Extend by"), plainText("A duration like 30m or 1h. It needs the approvals the grant needed."), by),
		slack.NewInputBlock(blockReason, plainText("Why do you need longer?"), nil, reason))
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		CallbackID:      callbackExtend,
		Title:           plainText("Extend access"),
		Submit:          plainText("Extend"),
		Close:           plainText("Back"),
		PrivateMetadata: id,
		Blocks:          slack.Blocks{BlockSet: blocks},
	}
}
