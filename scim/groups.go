package scim

import (
	"fmt"
	"net/http"

	lib "github.com/elimity-com/scim"
	"github.com/elimity-com/scim/optional"

	"github.com/jitaccess/jitaccess/workflow"
)

type groupHandler struct{ h *Handler }

func (g *groupHandler) Create(r *http.Request, attrs lib.ResourceAttributes) (lib.Resource, error) {
	in, err := groupInput(lowerKeys(map[string]any(attrs)))
	if err != nil {
		return lib.Resource{}, fail(r, err)
	}
	grp, out, err := g.h.svc.CreateDirectoryGroup(r.Context(), principal(r), in)
	if err != nil {
		return lib.Resource{}, fail(r, err)
	}
	g.h.logOutcome(out)
	return groupResource(grp), nil
}

func (g *groupHandler) Get(r *http.Request, id string) (lib.Resource, error) {
	grp, err := g.h.svc.GetDirectoryGroup(r.Context(), principal(r), id)
	if err != nil {
		return lib.Resource{}, fail(r, err)
	}
	return groupResource(grp), nil
}

func (g *groupHandler) GetAll(r *http.Request, params lib.ListRequestParams) (lib.Page, error) {
	q, rest, err := listQuery(params)
	if err != nil {
		return lib.Page{}, err
	}
	return page(q, rest, params, func(q workflow.DirectoryQuery) ([]lib.Resource, int, error) {
		groups, total, err := g.h.svc.ListDirectoryGroups(r.Context(), principal(r), q)
		if err != nil {
			return nil, 0, fail(r, err)
		}
		res := make([]lib.Resource, len(groups))
		for i, grp := range groups {
			res[i] = groupResource(grp)
		}
		return res, total, nil
	})
}

func (g *groupHandler) Replace(r *http.Request, id string, attrs lib.ResourceAttributes) (lib.Resource, error) {
	in, err := groupInput(lowerKeys(map[string]any(attrs)))
	if err != nil {
		return lib.Resource{}, fail(r, err)
	}
	grp, out, err := g.h.svc.ReplaceDirectoryGroup(r.Context(), principal(r), id, in)
	if err != nil {
		return lib.Resource{}, fail(r, err)
	}
	g.h.logOutcome(out)
	return groupResource(grp), nil
}

func (g *groupHandler) Delete(r *http.Request, id string) error {
	out, err := g.h.svc.DeleteDirectoryGroup(r.Context(), principal(r), id)
	if err != nil {
		return fail(r, err)
	}
	g.h.logOutcome(out)
	return nil
}

func (g *groupHandler) Patch(r *http.Request, id string, ops []lib.PatchOperation) (lib.Resource, error) {
	grp, out, err := g.h.svc.PatchDirectoryGroup(r.Context(), principal(r), id, func(cur *workflow.DirectoryGroup) (workflow.GroupInput, error) {
		doc := lowerKeys(groupResource(cur).Attributes)
		if cur.ExternalID != "" {
			doc["externalid"] = cur.ExternalID
		}
		if err := applyOps(doc, ops); err != nil {
			return workflow.GroupInput{}, err
		}
		return groupInput(doc)
	})
	if err != nil {
		return lib.Resource{}, fail(r, err)
	}
	g.h.logOutcome(out)
	return groupResource(grp), nil
}

func groupResource(g *workflow.DirectoryGroup) lib.Resource {
	members := make([]any, len(g.Members))
	for i, m := range g.Members {
		members[i] = map[string]any{"value": m}
	}
	created, modified := g.CreatedAt, g.UpdatedAt
	res := lib.Resource{ID: g.ID, Attributes: lib.ResourceAttributes{"displayName": g.DisplayName, "members": members},
		Meta: lib.Meta{Created: &created, LastModified: &modified, Version: fmt.Sprintf("W/\"%d\"", g.Version)}}
	if g.ExternalID != "" {
		res.ExternalID = optional.NewString(g.ExternalID)
	}
	return res
}

// groupInput reads the desired group from a resource with lower-cased keys.
func groupInput(doc map[string]any) (workflow.GroupInput, error) {
	var in workflow.GroupInput
	var err error
	if in.DisplayName, err = str(doc, "displayname"); err != nil {
		return in, err
	}
	if in.ExternalID, err = str(doc, "externalid"); err != nil {
		return in, err
	}
	if in.Members, err = primaryFirst(doc["members"], "value"); err != nil {
		return in, workflow.Errorf(workflow.CodeInvalid, "members: %s", err)
	}
	return in, nil
}
