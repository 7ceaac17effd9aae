package workflow

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jitaccess/jitaccess/masking"
)

// Limits on free text, so that a request cannot carry a novel.
const (
	MaxReasonLen  = 1000
	MaxTicketLen  = 200
	MaxCommentLen = 1000
)

// SubmitInput is what a requester asks for.
type SubmitInput struct {
	Resource string
	Duration time.Duration
	Reason   string
	Ticket   string
	// Purpose is one of the resource's purposes; required when the
	// resource lists any.
	Purpose string
	// Emergency asks for break-glass access: live at once, with no
	// approver, for members of the resource's break_glass groups.
	Emergency bool
	// StartAt, when set, is when access should begin (a scheduled start):
	// at most the resource's max_start_delay ahead, not in the past (a
	// StartSkew of clock difference is forgiven and means "now").
	StartAt *time.Time
}

// StartSkew is how far in the past a start_at may be and still be taken
// as "now": clocks differ.
const StartSkew = time.Minute

// CheckStartAt applies the rules on a scheduled start for res at now: it
// returns the start (nil for "at approval": none asked, or one within
// StartSkew of now) or CodePolicy when it is too far in the past or more
// than max_start_delay ahead.
func CheckStartAt(res *Resource, startAt *time.Time, now time.Time) (*time.Time, error) {
	if startAt == nil || startAt.IsZero() {
		return nil, nil
	}
	at := startAt.UTC().Truncate(time.Microsecond)
	switch {
	case at.Before(now.Add(-StartSkew)):
		return nil, Errorf(CodePolicy, "start_at %s is in the past", at.Format(time.RFC3339))
	case !at.After(now):
		return nil, nil
	case at.Sub(now) > res.StartDelay():
		return nil, Errorf(CodePolicy, "start_at %s is more than the max_start_delay of %s ahead for %s",
			at.Format(time.RFC3339), FormatDuration(res.StartDelay()), res.ID)
	}
	return &at, nil
}

// CheckSubmission applies the rules for asking: the resource exists and the
// principal may request it, the duration is positive and within the
// resource's max_duration (refused, never clamped), and there is a reason.
// It returns the resource and the input with its text trimmed and masked
// (card numbers, IBANs and the policy's sensitive_patterns; see
// MaskText), and the notices that tell the person what was masked.
func CheckSubmission(pol *Policy, who Principal, in SubmitInput) (*Resource, SubmitInput, []string, error) {
	res, in, err := checkSubmission(pol, who, in)
	if err != nil {
		return nil, in, nil, err
	}
	var notices, more []string
	in.Reason, notices = MaskText(pol, "reason", in.Reason)
	in.Ticket, more = MaskText(pol, "ticket", in.Ticket)
	return res, in, append(notices, more...), nil
}

// scanFreeText turns the free-text scan off; only the benchmark that
// measures the scan's cost sets it (through export_test.go).
var scanFreeText = true

// MaskText replaces the card numbers, IBANs and matches of the policy's
// sensitive_patterns in text by their masked forms (masking.ScanText),
// and returns one notice per kind found, naming field: "a card number in
// your reason was masked". pol may be nil (built-in detectors only).
func MaskText(pol *Policy, field, text string) (string, []string) {
	if !scanFreeText || text == "" {
		return text, nil
	}
	var pats []masking.Pattern
	if pol != nil {
		pats = pol.SensitivePatterns
	}
	masked, found := masking.ScanText(text, pats)
	if len(found) == 0 {
		return text, nil
	}
	notices := make([]string, len(found))
	for i, f := range found {
		if f.Count == 1 {
			article := "a"
			if strings.ContainsRune("AEIOUaeiou", rune(f.Name[0])) {
				article = "an"
			}
			notices[i] = fmt.Sprintf("%s %s in your %s was masked", article, f.Name, field)
		} else {
			notices[i] = fmt.Sprintf("%d %ss in your %s were masked", f.Count, f.Name, field)
		}
	}
	return masked, notices
}

// MaskedNote turns notices into one sentence for a flash or a chat reply
// ("Note: a card number in your reason was masked."), or "" when there
// are none.
func MaskedNote(notices []string) string {
	if len(notices) == 0 {
		return ""
	}
	return "Note: " + strings.Join(notices, "; ") + "."
}

func checkSubmission(pol *Policy, who Principal, in SubmitInput) (*Resource, SubmitInput, error) {
	in.Reason = strings.TrimSpace(in.Reason)
	in.Ticket = strings.TrimSpace(in.Ticket)
	in.Resource = strings.TrimSpace(in.Resource)
	in.Purpose = strings.TrimSpace(in.Purpose)
	if !who.IsUser() {
		return nil, in, Errorf(CodeForbidden, "only people can request access, not %s", who.Name())
	}
	if !who.Active() {
		return nil, in, disabledError(who)
	}
	if !pol.Knows(who) {
		return nil, in, Errorf(CodeForbidden, "%s is not in the access policy", who.Email)
	}
	if in.Resource == "" {
		return nil, in, Errorf(CodePolicy, "resource is required")
	}
	res, ok := pol.Resource(in.Resource)
	if !ok {
		return nil, in, Errorf(CodePolicy, "unknown resource %q", in.Resource)
	}
	maxDuration, what := res.MaxDuration, ""
	if in.Emergency {
		if err := checkBreakGlass(pol, who, res); err != nil {
			return nil, in, err
		}
		maxDuration, what = res.BreakGlass.MaxDuration, "emergency access to "
	} else if !pol.CanRequest(who, res) {
		return nil, in, refusal(RefusedNotRequester, Errorf(CodeForbidden, "%s may not request %s", who.Email, res.ID))
	}
	switch {
	case in.Duration <= 0:
		return nil, in, Errorf(CodePolicy, "duration must be positive")
	case in.Duration > maxDuration:
		return nil, in, refusal(RefusedMaxDuration, Errorf(CodePolicy, "duration %s is longer than the maximum of %s for %s%s",
			FormatDuration(in.Duration), FormatDuration(maxDuration), what, res.ID))
	case in.Duration%time.Second != 0:
		return nil, in, Errorf(CodePolicy, "duration must be a whole number of seconds")
	}
	if in.Reason == "" {
		return nil, in, Errorf(CodePolicy, "a reason is required: say why you need access")
	}
	if err := checkText("reason", in.Reason, MaxReasonLen); err != nil {
		return nil, in, err
	}
	if err := checkText("ticket", in.Ticket, MaxTicketLen); err != nil {
		return nil, in, err
	}
	if err := checkPurposeAndTicket(res, in); err != nil {
		return nil, in, err
	}
	return res, in, nil
}

// checkPurposeAndTicket applies a resource's purposes, ticket_required
// and ticket_pattern.
func checkPurposeAndTicket(res *Resource, in SubmitInput) error {
	if err := checkPurpose(res, in.Purpose); err != nil {
		return err
	}
	if res.TicketRequired && in.Ticket == "" {
		if res.TicketPattern != nil {
			return Errorf(CodePolicy, "a ticket is required for %s, matching %s", res.ID, res.TicketPattern)
		}
		return Errorf(CodePolicy, "a ticket is required for %s", res.ID)
	}
	if res.TicketPattern != nil && in.Ticket != "" && !res.TicketPattern.MatchString(in.Ticket) {
		return Errorf(CodePolicy, "ticket %q does not match the pattern %s required for %s", in.Ticket, res.TicketPattern, res.ID)
	}
	return nil
}

// checkPurpose applies a resource's purposes to the purpose a request
// names.
func checkPurpose(res *Resource, purpose string) error {
	switch {
	case len(res.Purposes) == 0 && purpose != "":
		return Errorf(CodePolicy, "%s takes no purpose; leave purpose empty", res.ID)
	case len(res.Purposes) > 0 && purpose == "":
		return Errorf(CodePolicy, "a purpose is required for %s: one of %s", res.ID, strings.Join(res.Purposes, ", "))
	case len(res.Purposes) > 0 && !slices.Contains(res.Purposes, purpose):
		return Errorf(CodePolicy, "unknown purpose %q for %s; allowed: %s", purpose, res.ID, strings.Join(res.Purposes, ", "))
	}
	return nil
}

func checkText(field, s string, max int) error {
	if !utf8.ValidString(s) {
		return Errorf(CodeInvalid, "%s is not valid UTF-8", field)
	}
	if n := utf8.RuneCountInString(s); n > max {
		return Errorf(CodePolicy, "%s is %d characters; the limit is %d", field, n, max)
	}
	for _, r := range s {
		if r < 0x20 && r != '\n' && r != '\t' || r == 0x7f {
			return Errorf(CodeInvalid, "%s contains control characters", field)
		}
	}
	return nil
}

// RolesOf returns the roles in which who may act on req under pol. res may be
// nil when the resource has left the policy; then only the requester,
// admins and the system keep their roles.
func RolesOf(pol *Policy, who Principal, req *Request, res *Resource) Role {
	var roles Role
	if who.IsSystem() {
		return RoleSystem
	}
	if who.IsUser() && who.Email == req.Requester {
		roles |= RoleRequester
	}
	if res != nil && pol.CanApprove(who, res) {
		roles |= RoleApprover
	}
	if pol.IsAdmin(who) {
		roles |= RoleAdmin
	}
	return roles
}

// CanView reports whether who may see req: its requester, the approvers of
// its resource, admins, and reviewers (members of the policy's reviewers
// groups, who read every request an access review or an anomaly flag
// points at, and may do nothing to it).
func CanView(pol *Policy, who Principal, req *Request) bool {
	res, _ := pol.Resource(req.Resource)
	return RolesOf(pol, who, req, res)&(RoleRequester|RoleApprover|RoleAdmin) != 0 || pol.IsReviewer(who)
}

// CanReadAllAudit reports whether who reads the whole audit log: admins
// and reviewers. Everyone else reads the records about their own requests.
func CanReadAllAudit(pol *Policy, who Principal) bool {
	return pol.IsAdmin(who) || pol.IsReviewer(who)
}

// CheckApprover applies the rules on who may approve or deny: never the
// requester (even one who is also an approver), only a member of one of the
// resource's approver groups, and for approvals, not twice.
func CheckApprover(pol *Policy, who Principal, req *Request, res *Resource, ev Event) error {
	if who.IsUser() && who.Email == req.Requester {
		return refusal(RefusedSelfApproval, Errorf(CodeForbidden, "you cannot %s your own request", verb(ev)))
	}
	if res == nil {
		return Errorf(CodeForbidden, "resource %s is no longer in the policy; its requests can only be cancelled or revoked", req.Resource)
	}
	if !pol.CanApprove(who, res) {
		return refusal(RefusedNotApprover, Errorf(CodeForbidden, "%s is not an approver of %s", who.Name(), res.ID))
	}
	if ev == EventApprove && req.ApprovedBy(who.Email) {
		return Errorf(CodeDuplicate, "%s has already approved this request", who.Email)
	}
	return nil
}

// QuorumMet reports whether req has as many distinct approvals as it needs.
// Approvals are distinct by construction: the same approver is refused a
// second time, and storage enforces one approval per approver.
// Withdrawn approvals do not count.
func QuorumMet(req *Request) bool { return len(req.Counting()) >= req.RequiredApprovals }

// ApprovalProgress describes the approvals so far, e.g. "1 of 2 approvals".
func ApprovalProgress(req *Request) string {
	return fmt.Sprintf("%d of %d approvals", len(req.Counting()), req.RequiredApprovals)
}

// CheckComment validates a comment, reason or note; required says whether
// it may be empty (a deny or revoke needs a reason). It returns the text
// trimmed and masked (see MaskText; field names it in the notices, e.g.
// "reason" or "notes").
func CheckComment(pol *Policy, field, comment string, required bool, what string) (string, []string, error) {
	comment = strings.TrimSpace(comment)
	if required && comment == "" {
		return "", nil, Errorf(CodePolicy, "a reason is required to %s", what)
	}
	if err := checkText("comment", comment, MaxCommentLen); err != nil {
		return "", nil, err
	}
	comment, notices := MaskText(pol, field, comment)
	return comment, notices, nil
}

// FormatDuration prints a duration the way policy files write it: 2h, 90m,
// 1h30m, 45s.
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
