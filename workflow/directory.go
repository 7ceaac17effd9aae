package workflow

import (
	"context"
	"slices"
	"time"
)

// The directory is who the identity provider says exists: people and groups
// pushed to jitaccess over SCIM. It is the authority on who is active: a
// person it marks inactive (or has deleted) belongs to no group and holds
// no role, even where the policy file names their email.

// Person is one directory user.
type Person struct {
	ID         string // jitaccess's id for the SCIM resource
	ExternalID string // the identity provider's id, if it sent one
	// UserName is the SCIM userName, normalized like an email: the person's
	// identity everywhere else in jitaccess.
	UserName    string
	Emails      []string // every address the provider listed, normalized
	DisplayName string
	Active      bool
	// Attributes are the directory attributes conditions read:
	// department, manager, employee_number, organization, division, title,
	// region, and custom ones.
	Attributes map[string]string
	// Groups are the display names of the directory groups the person is a
	// member of; a policy group with the same name includes them.
	Groups    []string
	CreatedAt time.Time
	UpdatedAt time.Time
	// DeletedAt is set when the provider deleted the person; the record is
	// kept so that they stay refused.
	DeletedAt *time.Time
	Version   int64
}

// Standard directory attribute keys (Person.Attributes).
const (
	AttrDepartment     = "department"
	AttrManager        = "manager"
	AttrEmployeeNumber = "employee_number"
	AttrOrganization   = "organization"
	AttrDivision       = "division"
	AttrTitle          = "title"
	AttrRegion         = "region"
)

// Enabled reports whether the directory lets the person act.
func (p *Person) Enabled() bool { return p != nil && p.Active && p.DeletedAt == nil }

// DirectoryGroup is one directory group.
type DirectoryGroup struct {
	ID          string
	ExternalID  string
	DisplayName string
	// Members are the ids of the people in the group.
	Members   []string
	CreatedAt time.Time
	UpdatedAt time.Time
	Version   int64
}

// PersonChange says what one directory change did to one person, so that
// re-evaluation can end what it no longer justifies and name the cause.
type PersonChange struct {
	Email string
	// Source names who made the change, e.g. "SCIM".
	Source        string
	Deactivated   bool
	Deleted       bool
	RemovedGroups []string
}

// DirectoryReader answers who a person is in the directory.
type DirectoryReader interface {
	// PersonByEmail returns the directory user whose userName or one of
	// whose emails is email (normalized), or nil when the directory does
	// not know them. Deleted people are returned, with DeletedAt set.
	PersonByEmail(ctx context.Context, email string) (*Person, error)
}

// afresh returns who to be read from the directory again, keeping the
// groups their session asserted. A use case's transaction reads the actor
// afresh even when authentication already did, because only that read
// holds their directory row until the decision commits (see
// store's PersonByEmail): a deactivation that lands between the
// authentication and the decision is then seen, or waits.
func (p Principal) afresh() Principal {
	p.resolved = false
	return p
}

// resolve returns who as the rules judge them now: with their directory
// groups beside the identity provider's groups from the session, or, when
// the directory has deactivated or deleted them, no groups and no standing
// at all. Service principals and the system are
// returned as they are.
func resolve(ctx context.Context, dir DirectoryReader, who Principal) (Principal, error) {
	if !who.IsUser() || who.resolved {
		return who, nil
	}
	p, err := dir.PersonByEmail(ctx, who.Email)
	if err != nil {
		return who, err
	}
	who.resolved = true
	who.InDirectory, who.Disabled, who.DirectoryGroups, who.Attributes = false, false, nil, nil // this read decides them
	if p == nil {
		return who, nil
	}
	who.InDirectory = true
	if !p.Enabled() {
		who.Disabled = true
		who.Groups, who.DirectoryGroups = nil, nil
		return who, nil
	}
	who.DirectoryGroups = slices.Clone(p.Groups)
	who.Attributes = p.Attributes
	return who, nil
}
