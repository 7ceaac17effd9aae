package api

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/provision"
	"github.com/jitaccess/jitaccess/web/httpkit"
	"github.com/jitaccess/jitaccess/workflow"
)

// Provisioning answers where applying and removing grants stands
// (provision.Pipeline implements it).
type Provisioning interface {
	Statuses(ctx context.Context, ids []string) (map[string]provision.Record, error)
	List(ctx context.Context, who workflow.Principal, q provision.Query) ([]provision.Record, error)
}

// attachProvisioning fills the provisioning status of requests. Only the
// status is shown to a requester who is neither an approver of the
// resource nor an admin: the last error may name the target's hosts. A
// status that cannot be read is left out (and logged) rather than failing
// an answer about a change that has already committed.
func (s *API) attachProvisioning(ctx context.Context, who workflow.Principal, outs ...*RequestJSON) {
	var ids []string
	for _, o := range outs {
		if o.ApprovedAt != nil { // never approved: nothing was provisioned
			ids = append(ids, o.ID)
		}
	}
	statuses := s.provisioningFor(ctx, who, ids)
	for _, o := range outs {
		if p, ok := statuses[o.ID]; ok {
			o.Provisioning = &p
		}
	}
}

func (s *API) provisioningFor(ctx context.Context, who workflow.Principal, ids []string) map[string]ProvisioningJSON {
	return ProvisioningFor(ctx, s.svc, s.provisioning, s.log, who, ids)
}

// ProvisioningFor reads the provisioning status of requests from prov as
// who may see it (the API and the web UI show the same). Requests without
// a status, or whose status cannot be read, are absent; a nil prov has
// none.
func ProvisioningFor(ctx context.Context, svc *workflow.Service, prov Provisioning, log *slog.Logger, who workflow.Principal, ids []string) map[string]ProvisioningJSON {
	if prov == nil || len(ids) == 0 {
		return nil
	}
	recs, err := prov.Statuses(ctx, ids)
	if err != nil {
		log.Warn("read provisioning status", "err", err)
		return nil
	}
	pol := svc.Policy()
	out := make(map[string]ProvisioningJSON, len(recs))
	for id, rec := range recs {
		p := provisioningJSON(rec)
		res, _ := pol.Resource(rec.Resource)
		if !pol.IsAdmin(who) && (res == nil || !pol.CanApprove(who, res)) {
			p.LastError = ""
		}
		out[id] = p
	}
	return out
}

// GET /api/v1/provisioning?status=failed&operation=remove&limit=N
//
// Admins only: where provisioning stands, most recently updated first.
// status=failed lists the steps that keep failing, removals first to look
// at: an ended grant whose access may still be live at the target.
func (s *API) listProvisioning(c echo.Context) error {
	if err := httpkit.CheckQuery(c, "status", "operation", "limit"); err != nil {
		return err
	}
	if s.provisioning == nil {
		return workflow.Errorf(workflow.CodeNotFound, "provisioning is not configured on this server")
	}
	limit, err := httpkit.QueryLimit(c)
	if err != nil {
		return err
	}
	recs, err := s.provisioning.List(c.Request().Context(), httpkit.Principal(c), provision.Query{
		Status: provision.Status(c.QueryParam("status")), Operation: provision.Operation(c.QueryParam("operation")), Limit: limit})
	if err != nil {
		return err
	}
	out := ProvisioningPageJSON{Provisioning: make([]ProvisioningJSON, len(recs))}
	for i, r := range recs {
		p := provisioningJSON(r)
		p.RequestID, p.Resource, p.Requester = r.RequestID, r.Resource, r.Requester
		out.Provisioning[i] = p
	}
	return c.JSON(http.StatusOK, out)
}
