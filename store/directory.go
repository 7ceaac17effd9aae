package store

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/jitaccess/jitaccess/workflow"
)

// The directory's rows (SCIM users and groups; see workflow/directory.go).

type personRow struct {
	ID          string `gorm:"primaryKey"`
	ExternalID  string
	UserName    string
	DisplayName string
	Active      bool
	Emails      string    // JSON list of normalized addresses
	Attributes  string    // JSON object
	Resource    string    // the SCIM resource as last received (JSON)
	CreatedAt   time.Time `gorm:"autoCreateTime:false"`
	UpdatedAt   time.Time `gorm:"autoUpdateTime:false"`
	DeletedAt   *time.Time
	Version     int64
}

func (personRow) TableName() string { return "directory_people" }

type personEmailRow struct {
	Email    string `gorm:"primaryKey"`
	PersonID string `gorm:"primaryKey"`
}

func (personEmailRow) TableName() string { return "directory_emails" }

type directoryGroupRow struct {
	ID          string `gorm:"primaryKey"`
	ExternalID  string
	DisplayName string
	CreatedAt   time.Time `gorm:"autoCreateTime:false"`
	UpdatedAt   time.Time `gorm:"autoUpdateTime:false"`
	Version     int64
}

func (directoryGroupRow) TableName() string { return "directory_groups" }

type directoryMemberRow struct {
	GroupID  string `gorm:"primaryKey"`
	PersonID string `gorm:"primaryKey"`
}

func (directoryMemberRow) TableName() string { return "directory_members" }

func (row personRow) toPerson() *workflow.Person {
	p := &workflow.Person{
		ID: row.ID, ExternalID: row.ExternalID, UserName: row.UserName, DisplayName: row.DisplayName,
		Active: row.Active, CreatedAt: row.CreatedAt.UTC(), UpdatedAt: row.UpdatedAt.UTC(),
		DeletedAt: utcPtr(row.DeletedAt), Version: row.Version, Attributes: map[string]string{},
	}
	_ = json.Unmarshal([]byte(row.Emails), &p.Emails)         // written by this package; empty on damage
	_ = json.Unmarshal([]byte(row.Attributes), &p.Attributes) // likewise
	return p
}

// PersonByEmail returns the directory user whose userName is email, else
// the first (oldest) whose emails include it, with their groups; nil when
// the directory does not know the address.
func (r reader) PersonByEmail(ctx context.Context, email string) (*workflow.Person, error) {
	return r.personByEmail(ctx, email, false)
}

// PersonByEmail, in a transaction, also holds the person's row against
// directory writers until the transaction ends (FOR SHARE on PostgreSQL;
// SQLite has one writer at a time anyway), so that a decision that judged
// the person and a directory change to them happen in one order.
func (t *tx) PersonByEmail(ctx context.Context, email string) (*workflow.Person, error) {
	return t.personByEmail(ctx, email, true)
}

func (r reader) personByEmail(ctx context.Context, email string, lock bool) (*workflow.Person, error) {
	email = workflow.NormalizeEmail(email)
	if email == "" {
		return nil, nil
	}
	q := func() *gorm.DB {
		if lock && r.kind == Postgres {
			return r.ctx(ctx).Clauses(clause.Locking{Strength: "SHARE"})
		}
		return r.ctx(ctx)
	}
	var rows []personRow
	if err := q().Where("user_name = ?", email).Limit(1).Find(&rows).Error; err != nil {
		return nil, mapError(err)
	}
	if len(rows) == 0 {
		err := q().Where("id IN (?)", r.ctx(ctx).Model(&personEmailRow{}).Select("person_id").Where("email = ?", email)).
			Order("created_at, id").Limit(1).Find(&rows).Error
		if err != nil {
			return nil, mapError(err)
		}
	}
	if len(rows) == 0 {
		return nil, nil
	}
	p := rows[0].toPerson()
	groups, err := r.personGroups(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	p.Groups = groups
	return p, nil
}

// personGroups lists the display names of the groups person id is in,
// sorted.
func (r reader) personGroups(ctx context.Context, id string) ([]string, error) {
	var names []string
	err := r.ctx(ctx).Model(&directoryGroupRow{}).
		Joins("JOIN directory_members m ON m.group_id = directory_groups.id").
		Where("m.person_id = ?", id).Order("directory_groups.display_name").
		Pluck("directory_groups.display_name", &names).Error
	if err != nil {
		return nil, mapError(err)
	}
	return names, nil
}

// The directory's writes and queries (workflow.DirectoryReads and
// workflow.DirectoryTx).

var _ workflow.DirectoryReads = (*DB)(nil)
var _ workflow.DirectoryTx = (*tx)(nil)

func toPersonRow(p *workflow.Person, resource string) personRow {
	emails, _ := json.Marshal(nonNil(p.Emails))
	attrs := p.Attributes
	if attrs == nil {
		attrs = map[string]string{}
	}
	ab, _ := json.Marshal(attrs)
	if resource == "" {
		resource = "{}"
	}
	return personRow{ID: p.ID, ExternalID: p.ExternalID, UserName: p.UserName, DisplayName: p.DisplayName,
		Active: p.Active, Emails: string(emails), Attributes: string(ab), Resource: resource,
		CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt, DeletedAt: p.DeletedAt, Version: p.Version}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// withGroups fills in the groups of people.
func (r reader) withGroups(ctx context.Context, people []*workflow.Person) error {
	if len(people) == 0 {
		return nil
	}
	ids := make([]string, len(people))
	for i, p := range people {
		ids[i] = p.ID
	}
	var rows []struct {
		PersonID    string
		DisplayName string
	}
	for start := 0; start < len(ids); start += 1000 {
		var part []struct {
			PersonID    string
			DisplayName string
		}
		err := r.ctx(ctx).Table("directory_members m").Select("m.person_id, g.display_name").
			Joins("JOIN directory_groups g ON g.id = m.group_id").
			Where("m.person_id IN ?", ids[start:min(start+1000, len(ids))]).Order("g.display_name").Scan(&part).Error
		if err != nil {
			return mapError(err)
		}
		rows = append(rows, part...)
	}
	byID := map[string]*workflow.Person{}
	for _, p := range people {
		byID[p.ID] = p
		p.Groups = nil
	}
	for _, row := range rows {
		if p := byID[row.PersonID]; p != nil {
			p.Groups = append(p.Groups, row.DisplayName)
		}
	}
	return nil
}

func (r reader) getPerson(ctx context.Context, q *gorm.DB, id string, deleted bool) (*workflow.Person, error) {
	var rows []personRow
	if err := q.Where("id = ?", id).Limit(1).Find(&rows).Error; err != nil {
		return nil, mapError(err)
	}
	if len(rows) == 0 || (!deleted && rows[0].DeletedAt != nil) {
		return nil, workflow.Errorf(workflow.CodeNotFound, "user %s not found", id)
	}
	p := rows[0].toPerson()
	if err := r.withGroups(ctx, []*workflow.Person{p}); err != nil {
		return nil, err
	}
	return p, nil
}

// GetPerson returns a live (not deleted) person by id.
func (r reader) GetPerson(ctx context.Context, id string) (*workflow.Person, error) {
	return r.getPerson(ctx, r.ctx(ctx), id, false)
}

// ListPeople lists live people by userName, oldest first.
func (r reader) ListPeople(ctx context.Context, q workflow.DirectoryQuery) ([]*workflow.Person, int, error) {
	db := r.ctx(ctx).Model(&personRow{}).Where("deleted_at IS NULL")
	if q.UserName != "" {
		db = db.Where("user_name = ?", workflow.NormalizeEmail(q.UserName))
	}
	if q.ExternalID != "" {
		db = db.Where("external_id = ?", q.ExternalID)
	}
	if q.DisplayName != "" {
		db = db.Where("display_name = ?", q.DisplayName)
	}
	var total int64
	if err := db.Count(&total).Error; err != nil {
		return nil, 0, mapError(err)
	}
	if q.Limit <= 0 {
		return nil, int(total), nil
	}
	var rows []personRow
	if err := db.Order("created_at, id").Offset(q.Offset).Limit(q.Limit).Find(&rows).Error; err != nil {
		return nil, 0, mapError(err)
	}
	people := make([]*workflow.Person, len(rows))
	for i, row := range rows {
		people[i] = row.toPerson()
	}
	if err := r.withGroups(ctx, people); err != nil {
		return nil, 0, err
	}
	return people, int(total), nil
}

func (r reader) groupMembers(ctx context.Context, groups []*workflow.DirectoryGroup) error {
	if len(groups) == 0 {
		return nil
	}
	ids := make([]string, len(groups))
	byID := map[string]*workflow.DirectoryGroup{}
	for i, g := range groups {
		ids[i] = g.ID
		byID[g.ID] = g
		g.Members = []string{}
	}
	var rows []directoryMemberRow
	err := r.ctx(ctx).Table("directory_members m").Select("m.group_id, m.person_id").
		Joins("JOIN directory_people p ON p.id = m.person_id").
		Where("m.group_id IN ? AND p.deleted_at IS NULL", ids).Order("m.group_id, m.person_id").Scan(&rows).Error
	if err != nil {
		return mapError(err)
	}
	for _, row := range rows {
		if g := byID[row.GroupID]; g != nil {
			g.Members = append(g.Members, row.PersonID)
		}
	}
	return nil
}

func (row directoryGroupRow) toGroup() *workflow.DirectoryGroup {
	return &workflow.DirectoryGroup{ID: row.ID, ExternalID: row.ExternalID, DisplayName: row.DisplayName,
		CreatedAt: row.CreatedAt.UTC(), UpdatedAt: row.UpdatedAt.UTC(), Version: row.Version}
}

func (r reader) getGroup(ctx context.Context, q *gorm.DB, id string) (*workflow.DirectoryGroup, error) {
	var rows []directoryGroupRow
	if err := q.Where("id = ?", id).Limit(1).Find(&rows).Error; err != nil {
		return nil, mapError(err)
	}
	if len(rows) == 0 {
		return nil, workflow.Errorf(workflow.CodeNotFound, "group %s not found", id)
	}
	g := rows[0].toGroup()
	if err := r.groupMembers(ctx, []*workflow.DirectoryGroup{g}); err != nil {
		return nil, err
	}
	return g, nil
}

// GetDirectoryGroup returns a group with its live members.
func (r reader) GetDirectoryGroup(ctx context.Context, id string) (*workflow.DirectoryGroup, error) {
	return r.getGroup(ctx, r.ctx(ctx), id)
}

// ListDirectoryGroups lists groups, oldest first.
func (r reader) ListDirectoryGroups(ctx context.Context, q workflow.DirectoryQuery) ([]*workflow.DirectoryGroup, int, error) {
	db := r.ctx(ctx).Model(&directoryGroupRow{})
	if q.DisplayName != "" {
		db = db.Where("LOWER(display_name) = ?", strings.ToLower(q.DisplayName))
	}
	if q.ExternalID != "" {
		db = db.Where("external_id = ?", q.ExternalID)
	}
	if q.UserName != "" {
		db = db.Where("1 = 0")
	}
	var total int64
	if err := db.Count(&total).Error; err != nil {
		return nil, 0, mapError(err)
	}
	if q.Limit <= 0 {
		return nil, int(total), nil
	}
	var rows []directoryGroupRow
	if err := db.Order("created_at, id").Offset(q.Offset).Limit(q.Limit).Find(&rows).Error; err != nil {
		return nil, 0, mapError(err)
	}
	groups := make([]*workflow.DirectoryGroup, len(rows))
	for i, row := range rows {
		groups[i] = row.toGroup()
	}
	if err := r.groupMembers(ctx, groups); err != nil {
		return nil, 0, err
	}
	return groups, int(total), nil
}

func (t *tx) locking() *gorm.DB {
	q := t.db
	if t.kind == Postgres {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	return q
}

// LockPerson loads a person, deleted ones too, and holds the row.
func (t *tx) LockPerson(ctx context.Context, id string) (*workflow.Person, error) {
	return t.getPerson(ctx, t.locking().WithContext(ctx), id, true)
}

// PersonByUserName returns the person with that userName, deleted or not.
func (t *tx) PersonByUserName(ctx context.Context, userName string) (*workflow.Person, error) {
	var rows []personRow
	if err := t.ctx(ctx).Where("user_name = ?", workflow.NormalizeEmail(userName)).Limit(1).Find(&rows).Error; err != nil {
		return nil, mapError(err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return rows[0].toPerson(), nil
}

func (t *tx) writeEmails(ctx context.Context, p *workflow.Person) error {
	if err := t.ctx(ctx).Where("person_id = ?", p.ID).Delete(&personEmailRow{}).Error; err != nil {
		return mapError(err)
	}
	emails := []string{p.UserName}
	for _, e := range p.Emails {
		if !slices.Contains(emails, e) {
			emails = append(emails, e)
		}
	}
	rows := make([]personEmailRow, len(emails))
	for i, e := range emails {
		rows[i] = personEmailRow{Email: e, PersonID: p.ID}
	}
	return mapError(t.ctx(ctx).Create(&rows).Error)
}

// InsertPerson stores a new person with version 1.
func (t *tx) InsertPerson(ctx context.Context, p *workflow.Person, resource string) error {
	p.Version = 1
	row := toPersonRow(p, resource)
	err := t.ctx(ctx).Create(&row).Error
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return workflow.Errorf(workflow.CodeInvalidState, "a user with userName %q already exists", p.UserName)
	}
	if err != nil {
		return mapError(err)
	}
	return t.writeEmails(ctx, p)
}

// UpdatePerson writes p with compare-and-set on the version.
func (t *tx) UpdatePerson(ctx context.Context, p *workflow.Person, resource string, prevVersion int64) error {
	row := toPersonRow(p, resource)
	res := t.ctx(ctx).Exec(`UPDATE directory_people SET external_id = ?, user_name = ?, display_name = ?, active = ?,
		emails = ?, attributes = ?, resource = ?, updated_at = ?, deleted_at = ?, version = ? WHERE id = ? AND version = ?`,
		row.ExternalID, row.UserName, row.DisplayName, row.Active, row.Emails, row.Attributes, row.Resource,
		row.UpdatedAt, row.DeletedAt, prevVersion+1, row.ID, prevVersion)
	if errors.Is(res.Error, gorm.ErrDuplicatedKey) {
		return workflow.Errorf(workflow.CodeInvalidState, "a user with userName %q already exists", p.UserName)
	}
	if res.Error != nil {
		return mapError(res.Error)
	}
	if res.RowsAffected == 0 {
		return workflow.Errorf(workflow.CodeConflict, "user %s was changed by someone else; retry", p.ID)
	}
	p.Version = prevVersion + 1
	return t.writeEmails(ctx, p)
}

// lockMembershipChanges holds the rows of the people whose membership of g
// changes, in id order. A decision that judged one of them holds their row
// FOR SHARE (PersonByEmail in a transaction) until it commits, so a group
// change and a decision that read the old membership happen in one order:
// never an approval counted on a membership already removed.
func (t *tx) lockMembershipChanges(ctx context.Context, g *workflow.DirectoryGroup) error {
	if t.kind != Postgres {
		return nil // one writer at a time
	}
	var current []string
	if err := t.ctx(ctx).Model(&directoryMemberRow{}).Where("group_id = ?", g.ID).Pluck("person_id", &current).Error; err != nil {
		return mapError(err)
	}
	was := make(map[string]bool, len(current))
	for _, id := range current {
		was[id] = true
	}
	var changed []string
	for _, id := range g.Members {
		if !was[id] {
			changed = append(changed, id)
		}
		delete(was, id)
	}
	for id := range was {
		changed = append(changed, id)
	}
	if len(changed) == 0 {
		return nil
	}
	slices.Sort(changed)
	for start := 0; start < len(changed); start += 1000 {
		var ids []string
		err := t.ctx(ctx).Raw(`SELECT id FROM directory_people WHERE id IN ? ORDER BY id FOR UPDATE`,
			changed[start:min(start+1000, len(changed))]).Scan(&ids).Error
		if err != nil {
			return mapError(err)
		}
	}
	return nil
}

// ClearMemberships removes a person from every group.
func (t *tx) ClearMemberships(ctx context.Context, personID string) error {
	return mapError(t.ctx(ctx).Where("person_id = ?", personID).Delete(&directoryMemberRow{}).Error)
}

// LockDirectoryGroup loads a group with its live members and holds the row.
func (t *tx) LockDirectoryGroup(ctx context.Context, id string) (*workflow.DirectoryGroup, error) {
	return t.getGroup(ctx, t.locking().WithContext(ctx), id)
}

func (t *tx) writeMembers(ctx context.Context, g *workflow.DirectoryGroup) error {
	if err := t.lockMembershipChanges(ctx, g); err != nil {
		return err
	}
	// Deleted people's rows stay (they hold no group anyway); live ones
	// are set to g.Members.
	err := t.ctx(ctx).Where("group_id = ? AND person_id IN (?)", g.ID,
		t.ctx(ctx).Model(&personRow{}).Select("id").Where("deleted_at IS NULL")).Delete(&directoryMemberRow{}).Error
	if err != nil {
		return mapError(err)
	}
	if len(g.Members) == 0 {
		return nil
	}
	rows := make([]directoryMemberRow, len(g.Members))
	for i, m := range g.Members {
		rows[i] = directoryMemberRow{GroupID: g.ID, PersonID: m}
	}
	return mapError(t.ctx(ctx).Clauses(clause.OnConflict{DoNothing: true}).CreateInBatches(&rows, 500).Error)
}

// InsertDirectoryGroup stores a new group with version 1.
func (t *tx) InsertDirectoryGroup(ctx context.Context, g *workflow.DirectoryGroup) error {
	g.Version = 1
	row := directoryGroupRow{ID: g.ID, ExternalID: g.ExternalID, DisplayName: g.DisplayName, CreatedAt: g.CreatedAt, UpdatedAt: g.UpdatedAt, Version: 1}
	err := t.ctx(ctx).Create(&row).Error
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return workflow.Errorf(workflow.CodeInvalidState, "a group with displayName %q already exists", g.DisplayName)
	}
	if err != nil {
		return mapError(err)
	}
	return t.writeMembers(ctx, g)
}

// UpdateDirectoryGroup writes g and its members with compare-and-set.
func (t *tx) UpdateDirectoryGroup(ctx context.Context, g *workflow.DirectoryGroup, prevVersion int64) error {
	res := t.ctx(ctx).Exec(`UPDATE directory_groups SET external_id = ?, display_name = ?, updated_at = ?, version = ?
		WHERE id = ? AND version = ?`, g.ExternalID, g.DisplayName, g.UpdatedAt, prevVersion+1, g.ID, prevVersion)
	if errors.Is(res.Error, gorm.ErrDuplicatedKey) {
		return workflow.Errorf(workflow.CodeInvalidState, "a group with displayName %q already exists", g.DisplayName)
	}
	if res.Error != nil {
		return mapError(res.Error)
	}
	if res.RowsAffected == 0 {
		return workflow.Errorf(workflow.CodeConflict, "group %s was changed by someone else; retry", g.ID)
	}
	g.Version = prevVersion + 1
	return t.writeMembers(ctx, g)
}

// DeleteDirectoryGroup deletes a group and its memberships.
func (t *tx) DeleteDirectoryGroup(ctx context.Context, id string) error {
	if err := t.ctx(ctx).Where("group_id = ?", id).Delete(&directoryMemberRow{}).Error; err != nil {
		return mapError(err)
	}
	return mapError(t.ctx(ctx).Where("id = ?", id).Delete(&directoryGroupRow{}).Error)
}

// PeopleByID returns the people with these ids, deleted ones too.
func (t *tx) PeopleByID(ctx context.Context, ids []string) ([]*workflow.Person, error) {
	var out []*workflow.Person
	for start := 0; start < len(ids); start += 1000 {
		var rows []personRow
		if err := t.ctx(ctx).Where("id IN ?", ids[start:min(start+1000, len(ids))]).Find(&rows).Error; err != nil {
			return nil, mapError(err)
		}
		for _, row := range rows {
			out = append(out, row.toPerson())
		}
	}
	return out, nil
}
