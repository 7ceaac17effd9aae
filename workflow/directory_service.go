package workflow

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Directory use cases: the identity provider (over SCIM) creates, replaces,
// patches and deletes people and groups. Each write is one transaction that
// locks the row, writes with compare-and-set on its version and appends its
// audit record last; after it commits, the directory hooks run and the
// people it touched are judged again (ReconcilePeople).
//
// The store implements the directory's reads and writes through the
// separate interfaces DirectoryReads and DirectoryTx below (not through
// Reader and Tx), so that the request workflow's interfaces stay as they
// are: the service asserts them and fails closed (CodeInternal) on a store
// that lacks them.

// Audit actions of the directory.
const (
	ActionDirectoryUserCreate     = "directory.user.create"
	ActionDirectoryUserUpdate     = "directory.user.update"
	ActionDirectoryUserDeactivate = "directory.user.deactivate"
	ActionDirectoryUserReactivate = "directory.user.reactivate"
	ActionDirectoryUserDelete     = "directory.user.delete"
	ActionDirectoryGroupCreate    = "directory.group.create"
	ActionDirectoryGroupUpdate    = "directory.group.update"
	ActionDirectoryGroupDelete    = "directory.group.delete"
)

// DirectorySource names SCIM in person changes and reasons.
const DirectorySource = "SCIM"

// PersonInput is the desired state of a directory user, as the identity
// provider sent it (a PATCH is turned into one by the caller).
type PersonInput struct {
	ExternalID  string
	UserName    string
	Emails      []string
	DisplayName string
	Active      bool
	Attributes  map[string]string
	// Resource is the SCIM resource as last received (JSON), kept as is.
	Resource string
}

// GroupInput is the desired state of a directory group.
type GroupInput struct {
	ExternalID  string
	DisplayName string
	Members     []string // person ids
}

// DirectoryQuery filters a directory listing: each set field must equal
// (userName and emails compared normalized, displayName case-insensitively
// for groups). Offset is 0-based; Limit 0 returns only the total.
type DirectoryQuery struct {
	UserName    string
	ExternalID  string
	DisplayName string
	Offset      int
	Limit       int
}

// DirectoryReads are the directory's queries. Deleted people are left out
// of listings and are CodeNotFound by id.
type DirectoryReads interface {
	GetPerson(ctx context.Context, id string) (*Person, error)
	ListPeople(ctx context.Context, q DirectoryQuery) ([]*Person, int, error)
	GetDirectoryGroup(ctx context.Context, id string) (*DirectoryGroup, error)
	ListDirectoryGroups(ctx context.Context, q DirectoryQuery) ([]*DirectoryGroup, int, error)
}

// DirectoryTx is a transaction that also writes the directory.
type DirectoryTx interface {
	Tx
	DirectoryReads
	// LockPerson loads a person (deleted ones too) with their groups and
	// holds the row until the transaction ends. CodeNotFound if none.
	LockPerson(ctx context.Context, id string) (*Person, error)
	// PersonByUserName returns the person with that userName, deleted
	// ones too, or nil.
	PersonByUserName(ctx context.Context, userName string) (*Person, error)
	// InsertPerson stores a new person and their emails; a taken userName
	// is CodeInvalidState.
	InsertPerson(ctx context.Context, p *Person, resource string) error
	// UpdatePerson writes p (fields, emails, deleted_at) if the stored
	// version is still prevVersion (else CodeConflict) and sets p.Version.
	UpdatePerson(ctx context.Context, p *Person, resource string, prevVersion int64) error
	// ClearMemberships removes a person from every group.
	ClearMemberships(ctx context.Context, personID string) error
	// LockDirectoryGroup loads a group with its members and holds it.
	LockDirectoryGroup(ctx context.Context, id string) (*DirectoryGroup, error)
	// InsertDirectoryGroup stores a new group and its members; a taken
	// displayName is CodeInvalidState.
	InsertDirectoryGroup(ctx context.Context, g *DirectoryGroup) error
	// UpdateDirectoryGroup writes g and sets its members to g.Members, with
	// compare-and-set on the version.
	UpdateDirectoryGroup(ctx context.Context, g *DirectoryGroup, prevVersion int64) error
	DeleteDirectoryGroup(ctx context.Context, id string) error
	// PeopleByID returns the people (deleted ones too) with these ids, in
	// no particular order; unknown ids are left out.
	PeopleByID(ctx context.Context, ids []string) ([]*Person, error)
}

// DirectoryOutcome is what happened after a directory write committed:
// the re-evaluation of the people it touched. ReconcileErr is not the
// write's failure (the write has committed); callers log it, and the
// periodic reconcile catches up.
type DirectoryOutcome struct {
	Changes      []PersonChange
	Reconciled   ReconcileResult
	ReconcileErr error
}

// directoryRetries bounds the retries of a write that lost a race.
const directoryRetries = 8

func (s *Service) directoryAuthorize(who Principal) error {
	if who.IsSystem() || who.IsUser() || who.Service == "" || !who.HasScope(ScopeSCIM) {
		return Errorf(CodeForbidden, "the directory is written only by a service token with scope %q", ScopeSCIM)
	}
	return nil
}

// directoryReader authorizes who to read the directory and returns it.
func (s *Service) directoryReader(who Principal) (DirectoryReads, error) {
	if err := s.directoryAuthorize(who); err != nil {
		return nil, err
	}
	r, ok := s.store.(DirectoryReads)
	if !ok {
		return nil, Internal(fmt.Errorf("store %T has no directory", s.store), "the directory is not available")
	}
	return r, nil
}

// directoryTx runs fn in one transaction with the directory's writes.
// Audit records fn returns are appended last. A lost race (CodeConflict)
// is retried from the start.
func (s *Service) directoryTx(ctx context.Context, fn func(tx DirectoryTx) ([]*AuditRecord, error)) error {
	var err error
	for range directoryRetries {
		err = s.store.InTx(ctx, func(tx Tx) error {
			dtx, ok := tx.(DirectoryTx)
			if !ok {
				return Internal(fmt.Errorf("tx %T has no directory", tx), "the directory is not available")
			}
			recs, err := fn(dtx)
			if err != nil {
				return err
			}
			if len(recs) == 0 {
				return nil
			}
			return tx.AppendAudit(ctx, recs...)
		})
		if ErrorCode(err) != CodeConflict {
			return err
		}
	}
	return err
}

// after runs the directory hooks and the re-evaluation of a committed write.
func (s *Service) afterDirectory(ctx context.Context, changes []PersonChange) DirectoryOutcome {
	out := DirectoryOutcome{Changes: changes}
	if len(changes) == 0 {
		return out
	}
	emails := make([]string, 0, len(changes))
	for _, c := range changes {
		emails = append(emails, c.Email)
	}
	s.directoryChanged(emails)
	out.Reconciled, out.ReconcileErr = s.ReconcilePeople(ctx, changes)
	return out
}

// normalizePerson checks and normalizes a desired person.
func normalizePerson(in PersonInput) (PersonInput, error) {
	in.UserName = NormalizeEmail(in.UserName)
	if in.UserName == "" {
		return in, Errorf(CodeInvalid, "userName is required")
	}
	if len(in.UserName) > 320 || strings.ContainsAny(in.UserName, " \t\r\n") {
		return in, Errorf(CodeInvalid, "userName %q is not a valid user name", in.UserName)
	}
	var emails []string
	for _, e := range in.Emails {
		e = NormalizeEmail(e)
		if e == "" {
			continue
		}
		if strings.ContainsAny(e, " \t\r\n") || len(e) > 320 {
			return in, Errorf(CodeInvalid, "email %q is not a valid address", e)
		}
		if !slices.Contains(emails, e) {
			emails = append(emails, e)
		}
	}
	in.Emails = emails
	attrs := map[string]string{}
	for k, v := range in.Attributes {
		if v = strings.TrimSpace(v); v != "" {
			attrs[k] = v
		}
	}
	in.Attributes = attrs
	if in.Resource == "" {
		in.Resource = "{}"
	}
	return in, nil
}

// personAction names the audit action of a change from before to after.
func personAction(before *Person, after *Person) string {
	switch {
	case before == nil || before.DeletedAt != nil:
		return ActionDirectoryUserCreate
	case before.Active && !after.Active:
		return ActionDirectoryUserDeactivate
	case !before.Active && after.Active:
		return ActionDirectoryUserReactivate
	default:
		return ActionDirectoryUserUpdate
	}
}

func (s *Service) personAudit(who Principal, action string, p *Person, reason string) *AuditRecord {
	return &AuditRecord{At: p.UpdatedAt, Actor: who.Name(), Action: action, Subject: p.UserName, Reason: reason}
}

// personChange is what a write did to a person, for re-evaluation.
func personChange(before, after *Person, removed []string) PersonChange {
	c := PersonChange{Email: after.UserName, Source: DirectorySource, RemovedGroups: removed}
	if before != nil && before.UserName != after.UserName {
		// A renamed person: the old identity loses everything.
		c.Email = before.UserName
		c.Deactivated = true
	}
	c.Deactivated = c.Deactivated || (!after.Active && (before == nil || before.Active))
	c.Deleted = after.DeletedAt != nil && (before == nil || before.DeletedAt == nil)
	return c
}

// CreateDirectoryUser creates a person, or revives a deleted one with the
// same userName (same id, no groups).
//
// Errors: CodeForbidden (not the SCIM service), CodeInvalid, CodeInvalidState
// (userName taken by a person who is not deleted).
func (s *Service) CreateDirectoryUser(ctx context.Context, who Principal, in PersonInput) (*Person, DirectoryOutcome, error) {
	if err := s.directoryAuthorize(who); err != nil {
		return nil, DirectoryOutcome{}, err
	}
	in, err := normalizePerson(in)
	if err != nil {
		return nil, DirectoryOutcome{}, err
	}
	var out *Person
	var changes []PersonChange
	err = s.directoryTx(ctx, func(tx DirectoryTx) ([]*AuditRecord, error) {
		now := s.now()
		changes = nil
		old, err := tx.PersonByUserName(ctx, in.UserName)
		if err != nil {
			return nil, err
		}
		p := &Person{ExternalID: in.ExternalID, UserName: in.UserName, Emails: in.Emails, DisplayName: in.DisplayName,
			Active: in.Active, Attributes: in.Attributes, CreatedAt: now, UpdatedAt: now}
		reason := "created"
		switch {
		case old == nil:
			p.ID = s.newID()
			if err := tx.InsertPerson(ctx, p, in.Resource); err != nil {
				return nil, err
			}
		case old.DeletedAt == nil:
			return nil, Errorf(CodeInvalidState, "a user with userName %q already exists", in.UserName)
		default:
			p.ID, p.CreatedAt = old.ID, old.CreatedAt
			if err := tx.ClearMemberships(ctx, p.ID); err != nil {
				return nil, err
			}
			if err := tx.UpdatePerson(ctx, p, in.Resource, old.Version); err != nil {
				return nil, err
			}
			reason = "re-created after deletion"
		}
		if !p.Active {
			reason += ", inactive"
			changes = []PersonChange{{Email: p.UserName, Source: DirectorySource, Deactivated: true}}
		} else {
			changes = []PersonChange{{Email: p.UserName, Source: DirectorySource}}
		}
		out = p
		return []*AuditRecord{s.personAudit(who, ActionDirectoryUserCreate, p, reason)}, nil
	})
	if err != nil {
		return nil, DirectoryOutcome{}, err
	}
	return out, s.afterDirectory(ctx, changes), nil
}

// GetDirectoryUser returns a person by id; deleted people are CodeNotFound.
func (s *Service) GetDirectoryUser(ctx context.Context, who Principal, id string) (*Person, error) {
	r, err := s.directoryReader(who)
	if err != nil {
		return nil, err
	}
	return r.GetPerson(ctx, id)
}

// ListDirectoryUsers returns one page of people and the total q selects.
func (s *Service) ListDirectoryUsers(ctx context.Context, who Principal, q DirectoryQuery) ([]*Person, int, error) {
	r, err := s.directoryReader(who)
	if err != nil {
		return nil, 0, err
	}
	q.UserName = NormalizeEmail(q.UserName)
	return r.ListPeople(ctx, clampQuery(q))
}

func clampQuery(q DirectoryQuery) DirectoryQuery {
	q.Offset = max(q.Offset, 0)
	q.Limit = min(max(q.Limit, 0), 1000)
	return q
}

// ReplaceDirectoryUser sets a person to in (SCIM PUT).
func (s *Service) ReplaceDirectoryUser(ctx context.Context, who Principal, id string, in PersonInput) (*Person, DirectoryOutcome, error) {
	return s.PatchDirectoryUser(ctx, who, id, func(*Person) (PersonInput, error) { return in, nil })
}

// PatchDirectoryUser sets a person to what apply makes of their current
// record (SCIM PATCH: apply turns the operations into the desired state).
// apply may run more than once (a write that lost a race is retried on the
// fresh record); it must be pure.
func (s *Service) PatchDirectoryUser(ctx context.Context, who Principal, id string, apply func(cur *Person) (PersonInput, error)) (*Person, DirectoryOutcome, error) {
	if err := s.directoryAuthorize(who); err != nil {
		return nil, DirectoryOutcome{}, err
	}
	var out *Person
	var changes []PersonChange
	err := s.directoryTx(ctx, func(tx DirectoryTx) ([]*AuditRecord, error) {
		changes = nil
		cur, err := tx.LockPerson(ctx, id)
		if err != nil {
			return nil, err
		}
		if cur.DeletedAt != nil {
			return nil, Errorf(CodeNotFound, "user %s not found", id)
		}
		in, err := apply(cur)
		if err != nil {
			return nil, err
		}
		if in, err = normalizePerson(in); err != nil {
			return nil, err
		}
		if in.UserName != cur.UserName {
			other, err := tx.PersonByUserName(ctx, in.UserName)
			if err != nil {
				return nil, err
			}
			if other != nil {
				return nil, Errorf(CodeInvalidState, "a user with userName %q already exists", in.UserName)
			}
		}
		p := &Person{ID: cur.ID, ExternalID: in.ExternalID, UserName: in.UserName, Emails: in.Emails, DisplayName: in.DisplayName,
			Active: in.Active, Attributes: in.Attributes, Groups: cur.Groups, CreatedAt: cur.CreatedAt, UpdatedAt: s.now()}
		if err := tx.UpdatePerson(ctx, p, in.Resource, cur.Version); err != nil {
			return nil, err
		}
		action := personAction(cur, p)
		reason := personReason(cur, p)
		changes = []PersonChange{personChange(cur, p, nil)}
		if cur.UserName != p.UserName {
			changes = append(changes, PersonChange{Email: p.UserName, Source: DirectorySource, Deactivated: !p.Active})
		}
		out = p
		return []*AuditRecord{s.personAudit(who, action, p, reason)}, nil
	})
	if err != nil {
		return nil, DirectoryOutcome{}, err
	}
	return out, s.afterDirectory(ctx, changes), nil
}

// personReason summarizes a person's update for the audit log.
func personReason(before, after *Person) string {
	var parts []string
	switch {
	case before.Active && !after.Active:
		parts = append(parts, "deactivated")
	case !before.Active && after.Active:
		parts = append(parts, "reactivated")
	}
	if before.UserName != after.UserName {
		parts = append(parts, fmt.Sprintf("userName %s -> %s", before.UserName, after.UserName))
	}
	if !slices.Equal(before.Emails, after.Emails) {
		parts = append(parts, "emails changed")
	}
	if before.DisplayName != after.DisplayName {
		parts = append(parts, "displayName changed")
	}
	var keys []string
	for k, v := range after.Attributes {
		if before.Attributes[k] != v {
			keys = append(keys, k)
		}
	}
	for k := range before.Attributes {
		if _, ok := after.Attributes[k]; !ok {
			keys = append(keys, k)
		}
	}
	if len(keys) > 0 {
		sort.Strings(keys)
		parts = append(parts, "attributes changed: "+strings.Join(keys, ", "))
	}
	if len(parts) == 0 {
		return "no change"
	}
	return strings.Join(parts, "; ")
}

// DeleteDirectoryUser deletes a person: the record stays, inactive, with
// deleted_at set, so that they stay refused (CodeNotFound afterwards).
func (s *Service) DeleteDirectoryUser(ctx context.Context, who Principal, id string) (DirectoryOutcome, error) {
	if err := s.directoryAuthorize(who); err != nil {
		return DirectoryOutcome{}, err
	}
	var changes []PersonChange
	err := s.directoryTx(ctx, func(tx DirectoryTx) ([]*AuditRecord, error) {
		cur, err := tx.LockPerson(ctx, id)
		if err != nil {
			return nil, err
		}
		if cur.DeletedAt != nil {
			return nil, Errorf(CodeNotFound, "user %s not found", id)
		}
		now := s.now()
		p := *cur
		p.Active, p.UpdatedAt, p.DeletedAt = false, now, &now
		if err := tx.UpdatePerson(ctx, &p, "{}", cur.Version); err != nil {
			return nil, err
		}
		changes = []PersonChange{{Email: p.UserName, Source: DirectorySource, Deactivated: cur.Active, Deleted: true}}
		return []*AuditRecord{s.personAudit(who, ActionDirectoryUserDelete, &p, "deleted")}, nil
	})
	if err != nil {
		return DirectoryOutcome{}, err
	}
	return s.afterDirectory(ctx, changes), nil
}

func normalizeGroup(in GroupInput) (GroupInput, error) {
	in.DisplayName = strings.TrimSpace(in.DisplayName)
	if in.DisplayName == "" {
		return in, Errorf(CodeInvalid, "displayName is required")
	}
	if len(in.DisplayName) > 256 {
		return in, Errorf(CodeInvalid, "displayName is too long")
	}
	var members []string
	for _, m := range in.Members {
		if m = strings.TrimSpace(m); m != "" && !slices.Contains(members, m) {
			members = append(members, m)
		}
	}
	sort.Strings(members)
	in.Members = members
	return in, nil
}

// checkMembers returns the people in ids; an id that is no (live) person
// is CodeInvalid.
func checkMembers(ctx context.Context, tx DirectoryTx, ids []string) (map[string]*Person, error) {
	people, err := tx.PeopleByID(ctx, ids)
	if err != nil {
		return nil, err
	}
	byID := map[string]*Person{}
	for _, p := range people {
		byID[p.ID] = p
	}
	for _, id := range ids {
		if p, ok := byID[id]; !ok || p.DeletedAt != nil {
			return nil, Errorf(CodeInvalid, "member %q is not a known user", id)
		}
	}
	return byID, nil
}

// CreateDirectoryGroup creates a group.
//
// Errors: CodeForbidden, CodeInvalid (no displayName, unknown member),
// CodeInvalidState (displayName taken).
func (s *Service) CreateDirectoryGroup(ctx context.Context, who Principal, in GroupInput) (*DirectoryGroup, DirectoryOutcome, error) {
	if err := s.directoryAuthorize(who); err != nil {
		return nil, DirectoryOutcome{}, err
	}
	in, err := normalizeGroup(in)
	if err != nil {
		return nil, DirectoryOutcome{}, err
	}
	var out *DirectoryGroup
	var changes []PersonChange
	err = s.directoryTx(ctx, func(tx DirectoryTx) ([]*AuditRecord, error) {
		changes = nil
		people, err := checkMembers(ctx, tx, in.Members)
		if err != nil {
			return nil, err
		}
		now := s.now()
		g := &DirectoryGroup{ID: s.newID(), ExternalID: in.ExternalID, DisplayName: in.DisplayName, Members: in.Members, CreatedAt: now, UpdatedAt: now}
		if err := tx.InsertDirectoryGroup(ctx, g); err != nil {
			return nil, err
		}
		var recs []*AuditRecord
		for _, id := range in.Members {
			changes = append(changes, PersonChange{Email: people[id].UserName, Source: DirectorySource})
			recs = append(recs, memberAudit(who, ActionDirectoryGroupCreate, g, people[id].UserName, "added to new group "+g.DisplayName))
		}
		if len(recs) == 0 {
			recs = append(recs, groupAudit(who, ActionDirectoryGroupCreate, g, "created group "+g.DisplayName))
		}
		out = g
		return recs, nil
	})
	if err != nil {
		return nil, DirectoryOutcome{}, err
	}
	return out, s.afterDirectory(ctx, changes), nil
}

// Group writes are audited once per person they touch (Subject is the
// person), or once with no subject when they touch nobody.
func groupAudit(who Principal, action string, g *DirectoryGroup, reason string) *AuditRecord {
	return &AuditRecord{At: g.UpdatedAt, Actor: who.Name(), Action: action, Reason: reason}
}

func memberAudit(who Principal, action string, g *DirectoryGroup, email, reason string) *AuditRecord {
	return &AuditRecord{At: g.UpdatedAt, Actor: who.Name(), Action: action, Subject: email, Reason: reason}
}

// GetDirectoryGroup returns a group by id.
func (s *Service) GetDirectoryGroup(ctx context.Context, who Principal, id string) (*DirectoryGroup, error) {
	r, err := s.directoryReader(who)
	if err != nil {
		return nil, err
	}
	return r.GetDirectoryGroup(ctx, id)
}

// ListDirectoryGroups returns one page of groups and the total q selects.
func (s *Service) ListDirectoryGroups(ctx context.Context, who Principal, q DirectoryQuery) ([]*DirectoryGroup, int, error) {
	r, err := s.directoryReader(who)
	if err != nil {
		return nil, 0, err
	}
	return r.ListDirectoryGroups(ctx, clampQuery(q))
}

// ReplaceDirectoryGroup sets a group to in (SCIM PUT).
func (s *Service) ReplaceDirectoryGroup(ctx context.Context, who Principal, id string, in GroupInput) (*DirectoryGroup, DirectoryOutcome, error) {
	return s.PatchDirectoryGroup(ctx, who, id, func(*DirectoryGroup) (GroupInput, error) { return in, nil })
}

// PatchDirectoryGroup sets a group to what apply makes of its current
// record. Concurrent patches serialize on the group's row: each applies
// its operations to the state the previous one left, so no member is lost.
func (s *Service) PatchDirectoryGroup(ctx context.Context, who Principal, id string, apply func(cur *DirectoryGroup) (GroupInput, error)) (*DirectoryGroup, DirectoryOutcome, error) {
	if err := s.directoryAuthorize(who); err != nil {
		return nil, DirectoryOutcome{}, err
	}
	var out *DirectoryGroup
	var changes []PersonChange
	err := s.directoryTx(ctx, func(tx DirectoryTx) ([]*AuditRecord, error) {
		changes = nil
		cur, err := tx.LockDirectoryGroup(ctx, id)
		if err != nil {
			return nil, err
		}
		in, err := apply(cur)
		if err != nil {
			return nil, err
		}
		if in, err = normalizeGroup(in); err != nil {
			return nil, err
		}
		added, removed := diffMembers(cur.Members, in.Members)
		people, err := checkMembers(ctx, tx, added)
		if err != nil {
			return nil, err
		}
		gone, err := tx.PeopleByID(ctx, removed)
		if err != nil {
			return nil, err
		}
		g := &DirectoryGroup{ID: cur.ID, ExternalID: in.ExternalID, DisplayName: in.DisplayName, Members: in.Members,
			CreatedAt: cur.CreatedAt, UpdatedAt: s.now()}
		if err := tx.UpdateDirectoryGroup(ctx, g, cur.Version); err != nil {
			return nil, err
		}
		var recs []*AuditRecord
		for _, p := range gone {
			changes = append(changes, PersonChange{Email: p.UserName, Source: DirectorySource, RemovedGroups: []string{cur.DisplayName}})
			recs = append(recs, memberAudit(who, ActionDirectoryGroupUpdate, g, p.UserName, "removed from group "+cur.DisplayName))
		}
		for _, pid := range added {
			changes = append(changes, PersonChange{Email: people[pid].UserName, Source: DirectorySource})
			recs = append(recs, memberAudit(who, ActionDirectoryGroupUpdate, g, people[pid].UserName, "added to group "+g.DisplayName))
		}
		if cur.DisplayName != g.DisplayName {
			// A rename takes everyone who stays out of the old group.
			stay, err := tx.PeopleByID(ctx, in.Members)
			if err != nil {
				return nil, err
			}
			for _, p := range stay {
				if !slices.Contains(added, p.ID) {
					changes = append(changes, PersonChange{Email: p.UserName, Source: DirectorySource, RemovedGroups: []string{cur.DisplayName}})
					recs = append(recs, memberAudit(who, ActionDirectoryGroupUpdate, g, p.UserName,
						fmt.Sprintf("removed from group %s (renamed to %s)", cur.DisplayName, g.DisplayName)))
				}
			}
			if len(stay) == 0 {
				recs = append(recs, groupAudit(who, ActionDirectoryGroupUpdate, g, fmt.Sprintf("renamed group %s to %s", cur.DisplayName, g.DisplayName)))
			}
		}
		if len(recs) == 0 {
			recs = append(recs, groupAudit(who, ActionDirectoryGroupUpdate, g, "group "+g.DisplayName+": no change"))
		}
		out = g
		return recs, nil
	})
	if err != nil {
		return nil, DirectoryOutcome{}, err
	}
	return out, s.afterDirectory(ctx, changes), nil
}

// diffMembers returns the ids in after and not before, and in before and
// not after.
func diffMembers(before, after []string) (added, removed []string) {
	for _, id := range after {
		if !slices.Contains(before, id) {
			added = append(added, id)
		}
	}
	for _, id := range before {
		if !slices.Contains(after, id) {
			removed = append(removed, id)
		}
	}
	return added, removed
}

// DeleteDirectoryGroup deletes a group; its members leave it.
func (s *Service) DeleteDirectoryGroup(ctx context.Context, who Principal, id string) (DirectoryOutcome, error) {
	if err := s.directoryAuthorize(who); err != nil {
		return DirectoryOutcome{}, err
	}
	var changes []PersonChange
	err := s.directoryTx(ctx, func(tx DirectoryTx) ([]*AuditRecord, error) {
		changes = nil
		cur, err := tx.LockDirectoryGroup(ctx, id)
		if err != nil {
			return nil, err
		}
		gone, err := tx.PeopleByID(ctx, cur.Members)
		if err != nil {
			return nil, err
		}
		if err := tx.DeleteDirectoryGroup(ctx, id); err != nil {
			return nil, err
		}
		cur.UpdatedAt = s.now()
		var recs []*AuditRecord
		for _, p := range gone {
			changes = append(changes, PersonChange{Email: p.UserName, Source: DirectorySource, RemovedGroups: []string{cur.DisplayName}})
			recs = append(recs, memberAudit(who, ActionDirectoryGroupDelete, cur, p.UserName, "removed from group "+cur.DisplayName+" (group deleted)"))
		}
		if len(recs) == 0 {
			recs = append(recs, groupAudit(who, ActionDirectoryGroupDelete, cur, "deleted group "+cur.DisplayName))
		}
		return recs, nil
	})
	if err != nil {
		return DirectoryOutcome{}, err
	}
	return s.afterDirectory(ctx, changes), nil
}

// DirectoryRecord is what the directory says about one person, for
// admins: their record (nil when the directory does not know them) and the
// last SCIM change that concerned them.
type DirectoryRecord struct {
	Email      string
	Person     *Person
	LastChange *AuditRecord
}

// DirectoryRecordOf returns the directory's record of email. Admins only
// (judged as the directory resolves them now): CodeForbidden otherwise.
func (s *Service) DirectoryRecordOf(ctx context.Context, who Principal, email string) (*DirectoryRecord, error) {
	who, err := s.Resolve(ctx, who)
	if err != nil {
		return nil, err
	}
	if !who.IsUser() || !s.Policy().IsAdmin(who) {
		return nil, Errorf(CodeForbidden, "only admins can read the directory")
	}
	email = NormalizeEmail(email)
	if email == "" {
		return nil, Errorf(CodeInvalid, "an email is required")
	}
	rec := &DirectoryRecord{Email: email}
	if rec.Person, err = s.store.PersonByEmail(ctx, email); err != nil {
		return nil, err
	}
	subject := email
	if rec.Person != nil {
		subject = rec.Person.UserName
	}
	recs, _, err := s.store.ListAudit(ctx, AuditQuery{Subject: subject, Limit: 200})
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		if strings.HasPrefix(r.Action, "directory.") {
			rec.LastChange = r
			break
		}
	}
	return rec, nil
}
