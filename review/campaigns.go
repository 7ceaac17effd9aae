package review

import (
	"context"
	"fmt"
	"time"

	"github.com/jitaccess/jitaccess/workflow"
)

// Campaign runs: the policy's review_campaigns open access reviews on a
// schedule (workflow.ReviewCampaign), remind their reviewers and are
// flagged when overdue. RunCampaigns may run on every replica at once: the
// run's primary key opens each campaign once per period, and reminders
// advance by compare-and-set, so each goes out once.

// CampaignRun is one campaign's opening for one period.
type CampaignRun struct {
	Campaign string
	// Start and End are the period the run was opened for; its reviews
	// cover the period before it (which ends at Start).
	Start, End time.Time
	DueAt      time.Time
	OpenedAt   time.Time
	Reviews    int
	// Reminders counts the reminder stages sent: 1 at opening, 2 halfway
	// to due, 3 a day before due.
	Reminders int
	// SignedOff counts the run's reviews signed off, and SignedLate those
	// signed off after DueAt (set by the store's reads).
	SignedOff, SignedLate int
}

// Open reports how many of the run's reviews wait for a sign-off.
func (r CampaignRun) Open() int { return r.Reviews - r.SignedOff }

// Overdue reports whether the run was due before now with a review not
// signed off in time.
func (r CampaignRun) Overdue(now time.Time) bool {
	return !now.Before(r.DueAt) && (r.Open() > 0 || r.SignedLate > 0)
}

// Reminder is one reminder to one person, for the notifier to deliver.
type Reminder struct {
	To   string // the person's email
	Key  string // orders one subject's reminders (the run or the request)
	Text string
	At   time.Time
}

// Reminder stages of a campaign run.
const (
	remindOpen    = 1
	remindHalfway = 2
	remindDayLeft = 3
)

// stageAt is the reminder stage a run should have reached at now.
func stageAt(run CampaignRun, now time.Time) int {
	switch {
	case !now.Before(run.DueAt.Add(-24 * time.Hour)):
		return remindDayLeft
	case !now.Before(run.OpenedAt.Add(run.DueAt.Sub(run.OpenedAt) / 2)):
		return remindHalfway
	}
	return remindOpen
}

// CampaignResult says what one RunCampaigns did.
type CampaignResult struct {
	Opened   int // runs opened
	Reviews  int // reviews opened by them
	Reminded int // reminders queued
}

// RunCampaigns opens the campaigns due in the current period and queues
// the reminders that are due. Opening a run, its reviews, their audit
// records and the reminders at opening are one transaction.
func (s *Service) RunCampaigns(ctx context.Context) (CampaignResult, error) {
	var res CampaignResult
	pol := s.policy()
	now := s.opts.Now()
	for _, c := range pol.ReviewCampaigns {
		start, end := c.PeriodAt(now)
		run := CampaignRun{Campaign: c.Name, Start: start, End: end, DueAt: start.Add(c.DueIn), OpenedAt: now, Reminders: remindOpen}
		opened, n, reminded, err := s.openRun(ctx, pol, c, run)
		if err != nil {
			return res, fmt.Errorf("campaign %s: %w", c.Name, err)
		}
		if opened {
			res.Opened++
			res.Reviews += n
			res.Reminded += reminded
		}
	}
	runs, err := s.store.CampaignRuns(ctx, now.Add(-400*24*time.Hour))
	if err != nil {
		return res, err
	}
	for _, run := range runs {
		c, ok := pol.Campaign(run.Campaign)
		if !ok || run.Open() == 0 || !now.Before(run.DueAt) {
			continue // gone from the policy, done, or overdue (a flag, not a reminder)
		}
		stage := stageAt(run, now)
		if stage <= run.Reminders {
			continue
		}
		n, err := s.remind(ctx, pol, c, run, stage, now)
		if err != nil {
			return res, fmt.Errorf("campaign %s: %w", c.Name, err)
		}
		res.Reminded += n
	}
	return res, nil
}

// openRun opens run once: the replica whose insert of the run wins opens
// its reviews; any other sees it there and does nothing.
func (s *Service) openRun(ctx context.Context, pol *workflow.Policy, c workflow.ReviewCampaign, run CampaignRun) (opened bool, reviews, reminded int, err error) {
	prevStart, prevEnd := c.Previous(run.Start)
	var scopes []Scope
	if c.All {
		scopes = []Scope{{Kind: ScopeAll}}
	} else {
		for _, id := range c.ScopeResources(pol) {
			scopes = append(scopes, Scope{Kind: ScopeResource, Value: id})
		}
	}
	run.Reviews = len(scopes)
	due := run.DueAt
	err = s.store.InReviewTx(ctx, func(tx Tx) error {
		won, err := tx.ClaimCampaignRun(ctx, run)
		if err != nil || !won {
			return err
		}
		opened = true
		for _, scope := range scopes {
			rev := &Review{ID: s.opts.NewID(), Scope: scope, Period: Period{prevStart, prevEnd}, CreatedBy: workflow.System.Name(),
				CreatedAt: run.OpenedAt, State: StateOpen, Version: 1, Campaign: c.Name, DueAt: &due}
			if err := tx.InsertReview(ctx, rev); err != nil {
				return err
			}
			if err := tx.AppendAudit(ctx, s.auditRecord(rev, workflow.System, ActionReviewOpen, "campaign "+c.Name+", due "+due.Format(time.RFC3339), run.OpenedAt)); err != nil {
				return err
			}
		}
		reminded, err = s.queueReminders(ctx, tx, pol, c, run, remindOpen, run.OpenedAt)
		return err
	})
	return opened, len(scopes), reminded, err
}

// remind advances run to stage and, if this replica moved it, queues the
// stage's reminders in the same transaction.
func (s *Service) remind(ctx context.Context, pol *workflow.Policy, c workflow.ReviewCampaign, run CampaignRun, stage int, now time.Time) (int, error) {
	n := 0
	err := s.store.InReviewTx(ctx, func(tx Tx) error {
		won, err := tx.AdvanceCampaignReminders(ctx, run.Campaign, run.Start, run.Reminders, stage)
		if err != nil || !won {
			return err
		}
		n, err = s.queueReminders(ctx, tx, pol, c, run, stage, now)
		return err
	})
	return n, err
}

// queueReminders queues the reminders of one stage of run, due at.
func (s *Service) queueReminders(ctx context.Context, tx Tx, pol *workflow.Policy, c workflow.ReviewCampaign, run CampaignRun, stage int, at time.Time) (int, error) {
	if s.opts.ReminderJob == nil {
		return 0, nil
	}
	var lead string
	switch stage {
	case remindOpen:
		lead = "Access review campaign *%s* is open"
	case remindHalfway:
		lead = "Reminder: access review campaign *%s* is halfway to its due date"
	default:
		lead = "Last day: access review campaign *%s* is due tomorrow"
	}
	prevStart, prevEnd := c.Previous(run.Start)
	text := fmt.Sprintf(lead+": %s for %s to %s, due %s. Open the reviews on the Reviews page and sign them off.",
		c.Name, workflow.Plural(run.Open(), "review", "reviews")+" of "+c.ScopeWords(), prevStart.Format("2006-01-02"),
		prevEnd.Format("2006-01-02"), run.DueAt.Format("2006-01-02 15:04 MST"))
	var jobs []workflow.Job
	for _, to := range pol.CampaignReviewers(c) {
		j, err := s.opts.ReminderJob(Reminder{To: to, Key: "campaign:" + c.Name, Text: text, At: at})
		if err != nil {
			return 0, err
		}
		jobs = append(jobs, j)
	}
	return len(jobs), tx.Enqueue(ctx, jobs...)
}

// CampaignStatus lists the campaign runs of the last year, newest first,
// for who: admins, reviewers and campaign reviewers (their campaigns).
//
// Errors: CodeForbidden.
func (s *Service) CampaignStatus(ctx context.Context, who workflow.Principal) ([]CampaignRun, error) {
	pol := s.policy()
	if err := CheckReviews(pol, who); err != nil {
		return nil, err
	}
	return s.campaignStatus(ctx, func(run CampaignRun) bool {
		if CanOversee(pol, who) {
			return true
		}
		c, ok := pol.Campaign(run.Campaign)
		return ok && pol.IsCampaignReviewer(who, c)
	})
}

// OperatorCampaignStatus is CampaignStatus for an operator with direct
// database access (the command line).
func (s *Service) OperatorCampaignStatus(ctx context.Context) ([]CampaignRun, error) {
	return s.campaignStatus(ctx, func(CampaignRun) bool { return true })
}

func (s *Service) campaignStatus(ctx context.Context, keep func(CampaignRun) bool) ([]CampaignRun, error) {
	runs, err := s.store.CampaignRuns(ctx, s.opts.Now().Add(-400*24*time.Hour))
	if err != nil {
		return nil, err
	}
	out := runs[:0]
	for _, r := range runs {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// campaignFlags are the overdue campaign runs due in p.
func (s *Service) campaignFlags(ctx context.Context, pol *workflow.Policy, p Period) ([]Flag, error) {
	runs, err := s.store.CampaignRuns(ctx, p.Start.Add(-400*24*time.Hour))
	if err != nil {
		return nil, err
	}
	now := s.opts.Now()
	var out []Flag
	for _, run := range runs {
		if run.DueAt.Before(p.Start) || !run.DueAt.Before(p.End) || !run.Overdue(now) {
			continue
		}
		var people []string
		if c, ok := pol.Campaign(run.Campaign); ok {
			people = pol.CampaignReviewers(c)
		}
		reason := fmt.Sprintf("review campaign %s (opened %s) was due %s with %s not signed off in time", run.Campaign,
			run.Start.Format("2006-01-02"), run.DueAt.Format(time.RFC3339), workflow.Plural(run.Open()+run.SignedLate, "review", "reviews"))
		out = append(out, Flag{Kind: FlagCampaignDue, Key: "campaign_overdue:" + run.Campaign + ":" + run.Start.Format(time.RFC3339),
			People: people, Reason: reason, At: run.DueAt})
	}
	return out, nil
}
