package ui

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/review"
	"github.com/jitaccess/jitaccess/web/httpkit"
	"github.com/jitaccess/jitaccess/workflow"
)

// followUpRow is a follow-up with what its item is, in words, and where
// it leads.
type followUpRow struct {
	review.FollowUp
	Item string
	Link string
}

type reviewData struct {
	*review.Detail
	Report    reportView
	Scope     string
	Period    string
	FollowUps []followUpRow
	Open      int // follow-ups not resolved yet
	// CanSign is set when the viewer may sign off now; otherwise WhyNot
	// says why not, in the domain's words.
	CanSign bool
	WhyNot  string
	// After a refused action: which form, and what was typed.
	Form string
	Text string
}

// GET /reviews/:id?view=: one review, its report as the data stand now,
// its follow-ups, and the sign-off.
func (u *UI) reviewDetail(c echo.Context) error {
	if err := httpkit.CheckQuery(c, "view", "page"); err != nil {
		return err
	}
	return u.renderReview(c, c.Param("id"), http.StatusOK, "", "", "")
}

// renderReview shows review id; after a refused action it carries the
// refusal (the API's message) with the API's status, and what was typed.
func (u *UI) renderReview(c echo.Context, id string, status int, refusal, form, text string) error {
	v := u.newView(c, "Access review", "reviews")
	who := v.Me.Principal
	d, err := u.over.Reviews.Get(c.Request().Context(), who, id)
	if err != nil {
		return err
	}
	rv, err := newReportView(c, d.Report, "/reviews/"+d.ID)
	if err != nil {
		return err
	}
	rv.Review, rv.CSRF = d.ID, v.CSRF
	data := reviewData{Detail: d, Scope: scopeLabel(d.Scope), Period: periodLabel(d.Period), Form: form, Text: text}
	for _, f := range d.FollowUps {
		row := followUpRow{FollowUp: f, Item: f.ItemKind + " " + f.ItemRef}
		switch f.ItemKind {
		case review.ItemRequest:
			row.Item, row.Link = "request "+reqShort(f.ItemRef), "/requests/"+f.ItemRef
			for _, g := range d.Report.Grants {
				if g.RequestID == f.ItemRef {
					row.Item += " (" + g.Person + ", " + g.Resource + ")"
				}
			}
		case review.ItemFlag:
			for _, fl := range d.Report.Flags {
				if fl.Key == f.ItemRef {
					row.Item = flagLabel(fl.Kind) + ": " + fl.Person
				}
			}
		}
		if f.ResolvedAt == nil {
			data.Open++
			rv.Marked[f.ItemKind+" "+f.ItemRef] = true
		}
		data.FollowUps = append(data.FollowUps, row)
	}
	data.Report = rv
	if d.State == review.StateOpen {
		if err := review.CheckSignOff(u.svc.Policy(), who, d.Review, d.Report); err != nil {
			data.WhyNot = workflow.ErrorMessage(err)
		} else {
			data.CanSign = true
		}
	}
	v.Title = "Review of " + data.Scope + ", " + data.Period
	v.Error, v.Data = refusal, data
	return u.render(c, status, "review", v)
}

// reqShort is the end of a request id: request ids are time-ordered
// (UUIDv7), so their first characters are the same for a day's requests
// and their last ones tell them apart.
func reqShort(id string) string {
	if len(id) > 8 {
		return "…" + id[len(id)-8:]
	}
	return id
}
