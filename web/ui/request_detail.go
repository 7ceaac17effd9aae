package ui

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/web/api"
	"github.com/jitaccess/jitaccess/web/httpkit"
	"github.com/jitaccess/jitaccess/workflow"
)

type detailData struct {
	*workflow.RequestDetail
	Resource  *workflow.Resource // nil when it has left the policy
	State     workflow.State     // effective state now
	Actions   workflow.Actions
	Progress  workflow.Progress
	Eligible  []string // who else could still approve
	Requester bool     // the viewer asked for it
	Approved  bool     // the viewer approved it
	// Provisioning is where applying and removing the grant at the
	// target stands, as the API shows it; nil before approval or when
	// provisioning is not configured.
	Provisioning *api.ProvisioningJSON
	// CanSignOff: the viewer may sign off the post-hoc review of this
	// emergency request now (an approver of its resource or an admin,
	// not its requester, not signed before, review still open).
	CanSignOff bool
	// After a refused action: which form, and what was typed.
	Form    string
	Comment string
}

// GET /requests/:id
func (u *UI) requestDetail(c echo.Context) error {
	if err := httpkit.CheckQuery(c); err != nil {
		return err
	}
	return u.renderDetail(c, http.StatusOK, "", "", "")
}

// renderDetail shows one request; after a refused action it carries the
// refusal (the API's message), with the status the API would answer.
func (u *UI) renderDetail(c echo.Context, status int, refusal, form, comment string) error {
	v := u.newView(c, "Request", "")
	who := v.Me.Principal
	d, err := u.svc.Get(c.Request().Context(), who, c.Param("id"))
	if err != nil {
		return err
	}
	pol := u.svc.Policy()
	res, _ := pol.Resource(d.Resource)
	data := detailData{
		RequestDetail: d, Resource: res, State: d.EffectiveState(v.Now),
		Actions: u.svc.AllowedActions(c.Request().Context(), who, d.Request, v.Now), Progress: workflow.ApprovalStatus(d.Request),
		Eligible: workflow.EligibleApprovers(pol, d.Request), Requester: d.Requester == who.Email, Approved: d.ApprovedBy(who.Email),
		Form: form, Comment: comment,
	}
	if rv := d.Review; rv != nil && rv.State == workflow.ReviewOpen && !data.Requester && !rv.SignedBy(who.Email) {
		data.CanSignOff = pol.IsAdmin(who) || (res != nil && pol.CanApprove(who, res))
	}
	if d.ApprovedAt != nil {
		if p, ok := api.ProvisioningFor(c.Request().Context(), u.svc, u.prov, u.log, who, []string{d.ID})[d.ID]; ok {
			data.Provisioning = &p
		}
	}
	v.Title = d.Resource + " for " + d.Requester
	if r := v.Me; r.Approver && !data.Requester {
		v.Active = "decisions"
	} else if data.Requester {
		v.Active = "requests"
	}
	v.Error, v.Data = refusal, data
	if refusal == "" && (data.State == workflow.StatePending || data.State == workflow.StateApproved) {
		v.Refresh = u.refreshSeconds()
	}
	return u.render(c, status, "request", v)
}
