package scim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	lib "github.com/elimity-com/scim"
	scimerrors "github.com/elimity-com/scim/errors"
	"github.com/elimity-com/scim/optional"

	"github.com/jitaccess/jitaccess/workflow"
)

type userHandler struct{ h *Handler }

func principal(r *http.Request) workflow.Principal {
	p, _ := workflow.PrincipalFrom(r.Context())
	return p
}

func (u *userHandler) Create(r *http.Request, attrs lib.ResourceAttributes) (lib.Resource, error) {
	in, err := personInput(lowerKeys(map[string]any(attrs)))
	if err != nil {
		return lib.Resource{}, fail(r, err)
	}
	if name := managerName(r); name != "" && in.Attributes[workflow.AttrManager] != "" {
		in.Attributes[AttrManagerName] = name
	}
	p, out, err := u.h.svc.CreateDirectoryUser(r.Context(), principal(r), in)
	if err != nil {
		return lib.Resource{}, fail(r, err)
	}
	u.h.logOutcome(out)
	return userResource(p), nil
}

func (u *userHandler) Get(r *http.Request, id string) (lib.Resource, error) {
	p, err := u.h.svc.GetDirectoryUser(r.Context(), principal(r), id)
	if err != nil {
		return lib.Resource{}, fail(r, err)
	}
	return userResource(p), nil
}

func (u *userHandler) GetAll(r *http.Request, params lib.ListRequestParams) (lib.Page, error) {
	q, rest, err := listQuery(params)
	if err != nil {
		return lib.Page{}, err
	}
	list := func(q workflow.DirectoryQuery) ([]lib.Resource, int, error) {
		people, total, err := u.h.svc.ListDirectoryUsers(r.Context(), principal(r), q)
		if err != nil {
			return nil, 0, fail(r, err)
		}
		res := make([]lib.Resource, len(people))
		for i, p := range people {
			res[i] = userResource(p)
		}
		return res, total, nil
	}
	return page(q, rest, params, list)
}

func (u *userHandler) Replace(r *http.Request, id string, attrs lib.ResourceAttributes) (lib.Resource, error) {
	in, err := personInput(lowerKeys(map[string]any(attrs)))
	if err != nil {
		return lib.Resource{}, fail(r, err)
	}
	if name := managerName(r); name != "" && in.Attributes[workflow.AttrManager] != "" {
		in.Attributes[AttrManagerName] = name
	}
	p, out, err := u.h.svc.ReplaceDirectoryUser(r.Context(), principal(r), id, in)
	if err != nil {
		return lib.Resource{}, fail(r, err)
	}
	u.h.logOutcome(out)
	return userResource(p), nil
}

func (u *userHandler) Delete(r *http.Request, id string) error {
	out, err := u.h.svc.DeleteDirectoryUser(r.Context(), principal(r), id)
	if err != nil {
		return fail(r, err)
	}
	u.h.logOutcome(out)
	return nil
}

func (u *userHandler) Patch(r *http.Request, id string, ops []lib.PatchOperation) (lib.Resource, error) {
	p, out, err := u.h.svc.PatchDirectoryUser(r.Context(), principal(r), id, func(cur *workflow.Person) (workflow.PersonInput, error) {
		doc := lowerKeys(userResource(cur).Attributes)
		if cur.ExternalID != "" {
			doc["externalid"] = cur.ExternalID
		}
		if err := applyOps(doc, ops); err != nil {
			return workflow.PersonInput{}, err
		}
		return personInput(doc)
	})
	if err != nil {
		return lib.Resource{}, fail(r, err)
	}
	u.h.logOutcome(out)
	return userResource(p), nil
}

// userResource is a person as SCIM shows them.
func userResource(p *workflow.Person) lib.Resource {
	attrs := lib.ResourceAttributes{"userName": p.UserName, "active": p.Enabled()}
	if p.DisplayName != "" {
		attrs["displayName"] = p.DisplayName
	}
	if len(p.Emails) > 0 {
		emails := make([]any, len(p.Emails))
		for i, e := range p.Emails {
			emails[i] = map[string]any{"value": e, "primary": i == 0}
		}
		attrs["emails"] = emails
	}
	a := p.Attributes
	if a[workflow.AttrTitle] != "" {
		attrs["title"] = a[workflow.AttrTitle]
	}
	if a[workflow.AttrRegion] != "" {
		attrs["addresses"] = []any{map[string]any{"region": a[workflow.AttrRegion], "primary": true}}
	}
	ext := map[string]any{}
	for key, name := range map[string]string{workflow.AttrDepartment: "department", workflow.AttrEmployeeNumber: "employeeNumber",
		workflow.AttrOrganization: "organization", workflow.AttrDivision: "division"} {
		if a[key] != "" {
			ext[name] = a[key]
		}
	}
	if a[workflow.AttrManager] != "" {
		m := map[string]any{"value": a[workflow.AttrManager]}
		if a[AttrManagerName] != "" {
			m["displayName"] = a[AttrManagerName]
		}
		ext["manager"] = m
	}
	if len(ext) > 0 {
		attrs[EnterpriseURN] = ext
	}
	if len(p.Groups) > 0 {
		groups := make([]any, len(p.Groups))
		for i, g := range p.Groups {
			groups[i] = map[string]any{"display": g}
		}
		attrs["groups"] = groups
	}
	created, modified := p.CreatedAt, p.UpdatedAt
	res := lib.Resource{ID: p.ID, Attributes: attrs,
		Meta: lib.Meta{Created: &created, LastModified: &modified, Version: fmt.Sprintf("W/\"%d\"", p.Version)}}
	if p.ExternalID != "" {
		res.ExternalID = optional.NewString(p.ExternalID)
	}
	return res
}

// AttrManagerName is the manager's display name, when the provider sends it.
const AttrManagerName = "manager_name"

// personInput reads the desired person from a resource whose keys are
// lower-cased.
func personInput(doc map[string]any) (workflow.PersonInput, error) {
	in := workflow.PersonInput{Active: true, Attributes: map[string]string{}}
	var err error
	if in.UserName, err = str(doc, "username"); err != nil {
		return in, err
	}
	if in.ExternalID, err = str(doc, "externalid"); err != nil {
		return in, err
	}
	if in.DisplayName, err = str(doc, "displayname"); err != nil {
		return in, err
	}
	if in.DisplayName == "" {
		if name, ok := doc["name"].(map[string]any); ok {
			in.DisplayName, _ = str(name, "formatted")
			if in.DisplayName == "" {
				g, _ := str(name, "givenname")
				f, _ := str(name, "familyname")
				in.DisplayName = strings.TrimSpace(g + " " + f)
			}
		}
	}
	if v, ok := doc["active"]; ok && v != nil {
		b, ok := boolish(v).(bool)
		if !ok {
			return in, workflow.Errorf(workflow.CodeInvalid, "active must be a boolean")
		}
		in.Active = b
	}
	emails, err := primaryFirst(doc["emails"], "value")
	if err != nil {
		return in, workflow.Errorf(workflow.CodeInvalid, "emails: %s", err)
	}
	in.Emails = emails
	if in.Attributes[workflow.AttrTitle], err = str(doc, "title"); err != nil {
		return in, err
	}
	regions, err := primaryFirst(doc["addresses"], "region")
	if err != nil {
		return in, workflow.Errorf(workflow.CodeInvalid, "addresses: %s", err)
	}
	if len(regions) > 0 {
		in.Attributes[workflow.AttrRegion] = regions[0]
	}
	if ext, ok := doc[strings.ToLower(EnterpriseURN)].(map[string]any); ok {
		for name, key := range map[string]string{"department": workflow.AttrDepartment, "employeenumber": workflow.AttrEmployeeNumber,
			"organization": workflow.AttrOrganization, "division": workflow.AttrDivision} {
			if in.Attributes[key], err = str(ext, name); err != nil {
				return in, err
			}
		}
		switch m := ext["manager"].(type) {
		case map[string]any:
			in.Attributes[workflow.AttrManager], _ = str(m, "value")
			in.Attributes[AttrManagerName], _ = str(m, "displayname")
		case string:
			in.Attributes[workflow.AttrManager] = m
		}
	} else if v, ok := doc[strings.ToLower(EnterpriseURN)]; ok && v != nil {
		return in, workflow.Errorf(workflow.CodeInvalid, "%s must be an object", EnterpriseURN)
	}
	raw, _ := json.Marshal(doc)
	in.Resource = string(raw)
	return in, nil
}

// str reads a string attribute ("" when absent).
func str(doc map[string]any, key string) (string, error) {
	switch v := doc[key].(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case json.Number:
		return v.String(), nil
	default:
		return "", workflow.Errorf(workflow.CodeInvalid, "%s must be a string", key)
	}
}

// primaryFirst returns the sub-attribute key of each element of a
// multi-valued attribute, the primary one first.
func primaryFirst(v any, key string) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		list = []any{v}
	}
	var out []string
	for _, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("each value must be an object")
		}
		s, err := str(m, key)
		if err != nil {
			return nil, err
		}
		if s == "" {
			continue
		}
		if p, _ := boolish(m["primary"]).(bool); p {
			out = slices.Insert(out, 0, s)
		} else {
			out = append(out, s)
		}
	}
	return out, nil
}

// lowerKeys copies v with every object key lower-cased (SCIM attribute
// names are case-insensitive).
func lowerKeys(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[strings.ToLower(k)] = lowerAny(v)
	}
	return out
}

func lowerAny(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return lowerKeys(v)
	case lib.ResourceAttributes:
		return lowerKeys(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = lowerAny(e)
		}
		return out
	case []map[string]any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = lowerKeys(e)
		}
		return out
	case []string:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = e
		}
		return out
	default:
		return v
	}
}

// listQuery turns a list request into a directory query: one "eq" on
// userName, externalId or displayName is answered by the database; any
// other filter is applied here (rest) to the whole listing.
func listQuery(params lib.ListRequestParams) (workflow.DirectoryQuery, bool, error) {
	q := workflow.DirectoryQuery{Offset: max(params.StartIndex, 1) - 1, Limit: min(max(params.Count, 0), maxPage)}
	if params.FilterValidator == nil {
		return q, false, nil
	}
	exp, ok := params.FilterValidator.GetFilter().(*filterAttrExp)
	if ok && exp.AttributePath.SubAttribute == nil && strings.EqualFold(string(exp.Operator), "eq") {
		if s, isStr := exp.CompareValue.(string); isStr {
			switch strings.ToLower(exp.AttributePath.AttributeName) {
			case "username":
				q.UserName = s
				return q, false, nil
			case "externalid":
				q.ExternalID = s
				return q, false, nil
			case "displayname":
				q.DisplayName = s
				return q, false, nil
			}
		}
	}
	return q, true, nil
}

// fullScan bounds the listing a filter that is not pushed down reads.
const fullScan = 10000

// page answers a list: from the database, or for other filters by
// filtering up to fullScan resources here.
func page(q workflow.DirectoryQuery, rest bool, params lib.ListRequestParams,
	list func(workflow.DirectoryQuery) ([]lib.Resource, int, error)) (lib.Page, error) {
	if !rest {
		res, total, err := list(q)
		if err != nil {
			return lib.Page{}, err
		}
		if res == nil {
			res = []lib.Resource{}
		}
		return lib.Page{TotalResults: total, Resources: res}, nil
	}
	all, total, err := list(workflow.DirectoryQuery{Limit: 1000})
	if err != nil {
		return lib.Page{}, err
	}
	for off := 1000; off < min(total, fullScan); off += 1000 {
		more, _, err := list(workflow.DirectoryQuery{Offset: off, Limit: 1000})
		if err != nil {
			return lib.Page{}, err
		}
		all = append(all, more...)
	}
	if total > fullScan {
		return lib.Page{}, scimerrors.ScimErrorTooMany
	}
	matched := []lib.Resource{}
	for _, res := range all {
		m := map[string]any(res.Attributes)
		m["id"] = res.ID
		if res.ExternalID.Present() {
			m["externalId"] = res.ExternalID.Value()
		}
		if params.FilterValidator.PassesFilter(m) == nil {
			matched = append(matched, res)
		}
		delete(m, "id")
		delete(m, "externalId")
	}
	out := lib.Page{TotalResults: len(matched), Resources: []lib.Resource{}}
	if q.Offset < len(matched) {
		out.Resources = matched[q.Offset:min(len(matched), q.Offset+q.Limit)]
	}
	return out, nil
}
