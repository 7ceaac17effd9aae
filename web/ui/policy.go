package ui

import (
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/web/httpkit"
	"github.com/jitaccess/jitaccess/workflow"
)

type policyData struct {
	Source    string
	Version   int    // in the policy history (0 before it is recorded)
	SHA256    string // of the file's bytes
	Admins    []string
	Reviewers []string // the groups whose members read reviews, flags and the whole audit log
	Groups    []policyGroup
	Resources []policyResource
	// Views are the field × group matrices ("who sees what") of the
	// resources that declare fields.
	Views []workflow.ViewMatrix
	// The explain form: the user and resource asked about, and the
	// explanation (or why there is none).
	ExplainUser, ExplainResource string
	Explanation                  *workflow.Explanation
	ExplainError                 string
}

type policyGroup struct {
	Name    string
	Members []string
}

type policyResource struct {
	*workflow.Resource
	RequesterPeople []string
	ApproverPeople  []string
}

// GET /policy (admins): resources, tiers, limits, groups and who is in
// them, as the policy in force says, and who sees what of each resource's
// masked fields.
func (u *UI) policy(c echo.Context) error {
	if err := httpkit.CheckQuery(c, "user", "resource"); err != nil {
		return err
	}
	v := u.newView(c, "Policy", "policy")
	pol := u.svc.Policy()
	d := policyData{Source: pol.Source, Version: pol.Version, SHA256: pol.SHA256, Admins: slices.Sorted(slices.Values(pol.Admins)), Reviewers: pol.Reviewers}
	d.ExplainUser, d.ExplainResource = c.QueryParam("user"), c.QueryParam("resource")
	if d.ExplainUser != "" || d.ExplainResource != "" {
		x, err := u.svc.Explain(c.Request().Context(), v.Me.Principal, d.ExplainUser, d.ExplainResource)
		switch workflow.ErrorCode(err) {
		case "":
			d.Explanation = &x
		case workflow.CodeInvalid, workflow.CodeNotFound:
			d.ExplainError = workflow.ErrorMessage(err)
		default:
			return err
		}
	}
	for name, members := range pol.Groups {
		d.Groups = append(d.Groups, policyGroup{Name: name, Members: slices.Sorted(slices.Values(members))})
	}
	slices.SortFunc(d.Groups, func(a, b policyGroup) int { return compareStrings(a.Name, b.Name) })
	for _, r := range pol.Resources {
		d.Resources = append(d.Resources, policyResource{Resource: r, RequesterPeople: pol.GroupMembers(r.Requesters), ApproverPeople: pol.ApproverEmails(r)})
		if len(r.Fields) > 0 {
			d.Views = append(d.Views, pol.Matrix(r))
		}
	}
	v.Data = d
	return u.render(c, http.StatusOK, "policy", v)
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
