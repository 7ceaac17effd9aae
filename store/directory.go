package store

import (
	"context"
	"encoding/json"
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
