package review

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jitaccess/jitaccess/workflow"
)

// RemindApprovers reminds the approvers of every pending request that
// times out within the policy's remind_approvers_before, once per request
// whichever replica finds it first: the claim and the reminders are one
// transaction. Approvers who already approved, and the requester, are not
// reminded. It returns how many reminders it queued.
func (s *Service) RemindApprovers(ctx context.Context) (int, error) {
	pol := s.policy()
	before := pol.RemindApproversBefore
	if before <= 0 || s.opts.ReminderJob == nil {
		return 0, nil
	}
	now := s.opts.Now()
	reqs, err := s.store.PendingDueBefore(ctx, now.Add(before))
	if err != nil {
		return 0, err
	}
	total := 0
	for _, req := range reqs {
		if !now.Before(req.ReviewDeadline) {
			continue // timed out: the sweeper's, not a reminder
		}
		res, ok := pol.Resource(req.Resource)
		if !ok {
			continue
		}
		var to []string
		for _, a := range pol.ApproverEmails(res) {
			if a != req.Requester && !req.ApprovedBy(a) {
				to = append(to, a)
			}
		}
		slices.Sort(to)
		text := fmt.Sprintf("Request %s by %s for %s (%s) times out %s with %s of %d: decide it on Needs my decision or in Slack.",
			req.ID, req.Requester, res.Name, workflow.FormatDuration(req.Duration), "in "+workflow.FormatDuration(req.ReviewDeadline.Sub(now).Round(time.Minute)),
			workflow.Plural(len(req.Counting()), "approval", "approvals"), req.RequiredApprovals)
		err := s.store.InReviewTx(ctx, func(tx Tx) error {
			won, err := tx.ClaimApproverReminder(ctx, req.ID, now)
			if err != nil || !won {
				return err
			}
			jobs := make([]workflow.Job, 0, len(to))
			for _, a := range to {
				j, err := s.opts.ReminderJob(Reminder{To: a, Key: "request:" + req.ID, Text: text, At: now})
				if err != nil {
					return err
				}
				jobs = append(jobs, j)
			}
			total += len(jobs)
			return tx.Enqueue(ctx, jobs...)
		})
		if err != nil {
			return total, err
		}
	}
	return total, nil
}
