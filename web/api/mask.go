package api

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/access"
	"github.com/jitaccess/jitaccess/web/httpkit"
	"github.com/jitaccess/jitaccess/workflow"
)

// UseAccess makes the server answer the check and mask APIs through chk
// (cached decisions, group-committed audit) and show provisioning status
// from prov. Call it before serving. Without it, checks go to the service
// and masks to an uncached checker, and requests carry no provisioning.
func (s *API) UseAccess(chk *access.Checker, prov Provisioning) {
	s.access, s.provisioning = chk, prov
}

// check answers the check API: through the access checker (cached
// decisions, group-committed audit) when one is configured.
func (s *API) check(ctx context.Context, who workflow.Principal, user, resource string) (workflow.CheckResult, error) {
	if s.access != nil {
		return s.access.Check(ctx, who, user, resource)
	}
	return s.svc.Check(ctx, who, user, resource)
}

type maskBody struct {
	User     string          `json:"user"`
	Resource string          `json:"resource"`
	Record   json.RawMessage `json:"record"`
}

// MaskJSON is the answer of POST /api/v1/mask.
type MaskJSON struct {
	Allowed   bool       `json:"allowed"`
	RequestID *string    `json:"request_id"`
	ExpiresAt *time.Time `json:"expires_at"`
	// Provisioning is where the live grant's apply stands at the target:
	// applied, pending, failed, or none.
	Provisioning workflow.ProvisioningState `json:"provisioning"`
	Record       json.RawMessage            `json:"record,omitempty"` // written after the rest, as sent
	// Masked lists the paths of the masked values ("payment_card",
	// "customer.iban", "accounts[1].iban"); empty when nothing was.
	Masked []string `json:"masked"`
	// Views names the groups of the user whose views applied (the policy's
	// fields[].views); empty when every field got its default mask, or
	// the live grant's view.
	Views []string `json:"views"`
}

// POST /api/v1/mask {"user", "resource", "record"}
//
// Returns the record with each field the resource declares masked as the
// user may see it: their groups' most revealing view, else the field's
// mask; clear (or the field's granted: view) under a live grant. Admins and service
// tokens with the check scope may call it.
func (s *API) maskRecord(c echo.Context) error {
	var body maskBody
	if err := httpkit.DecodeJSON(c, &body, false); err != nil {
		return err
	}
	if body.Resource == "" {
		return workflow.Errorf(workflow.CodeInvalid, "resource is required")
	}
	chk := s.access
	if chk == nil {
		chk = s.defaultAccess
	}
	res, err := chk.Mask(c.Request().Context(), httpkit.Principal(c), body.User, body.Resource, body.Record)
	if err != nil {
		return err
	}
	out := MaskJSON{Allowed: res.Allowed, Provisioning: res.Provisioning, Masked: res.Masked, Views: res.Views}
	if out.Views == nil {
		out.Views = []string{}
	}
	if res.Allowed {
		out.RequestID, out.ExpiresAt = &res.RequestID, res.ExpiresAt
	}
	// The record goes out as it came in but for the masked values (no
	// re-encoding: spacing, key order and characters are the sender's).
	head, err := json.Marshal(out)
	if err != nil {
		return workflow.Internal(err, "encode mask answer")
	}
	answer := make([]byte, 0, len(head)+len(res.Record)+16)
	answer = append(answer, head[:len(head)-1]...)
	answer = append(answer, `,"record":`...)
	answer = append(answer, res.Record...)
	answer = append(answer, '}')
	return c.JSONBlob(http.StatusOK, answer)
}

// newDefaultAccess is the checker used when the server is not given one:
// no cache (nothing would invalidate it), every call audited.
func newDefaultAccess(svc *workflow.Service) *access.Checker {
	return access.New(svc, access.Options{})
}
