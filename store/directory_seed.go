package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/jitaccess/jitaccess/workflow"
)

// SeedPerson writes a directory person straight into the directory tables,
// for tests and benchmarks that need someone the directory knows without
// going through SCIM: p.UserName (normalized) is their identity, p.Emails
// their other addresses, p.Active and p.DeletedAt their standing, and
// p.Groups the display names of the directory groups they are in (groups
// that do not exist yet are created). It returns the person's id. It is
// not a use case: nothing is audited and no re-evaluation runs.
func (d *DB) SeedPerson(ctx context.Context, p workflow.Person, now time.Time) (string, error) {
	if p.ID == "" {
		p.ID = uuid.Must(uuid.NewV7()).String()
	}
	p.UserName = workflow.NormalizeEmail(p.UserName)
	emails := []string{p.UserName}
	for _, e := range p.Emails {
		if e = workflow.NormalizeEmail(e); e != "" && e != p.UserName {
			emails = append(emails, e)
		}
	}
	if p.Attributes == nil {
		p.Attributes = map[string]string{}
	}
	emailsJSON, _ := json.Marshal(emails)
	attrs, _ := json.Marshal(p.Attributes)
	err := d.InTx(ctx, func(wtx workflow.Tx) error {
		t := wtx.(*tx)
		row := personRow{ID: p.ID, ExternalID: p.ExternalID, UserName: p.UserName, DisplayName: p.DisplayName, Active: p.Active,
			Emails: string(emailsJSON), Attributes: string(attrs), Resource: "{}", CreatedAt: now, UpdatedAt: now,
			DeletedAt: p.DeletedAt, Version: 1}
		if err := t.ctx(ctx).Create(&row).Error; err != nil {
			return mapError(err)
		}
		for _, e := range emails {
			if err := t.ctx(ctx).Create(&personEmailRow{Email: e, PersonID: p.ID}).Error; err != nil {
				return mapError(err)
			}
		}
		for _, name := range p.Groups {
			var g directoryGroupRow
			res := t.ctx(ctx).Where("display_name = ?", name).Limit(1).Find(&g)
			if res.Error != nil {
				return mapError(res.Error)
			}
			if res.RowsAffected == 0 {
				g = directoryGroupRow{ID: uuid.Must(uuid.NewV7()).String(), DisplayName: name, CreatedAt: now, UpdatedAt: now, Version: 1}
				if err := t.ctx(ctx).Create(&g).Error; err != nil {
					return mapError(err)
				}
			}
			if err := t.ctx(ctx).Create(&directoryMemberRow{GroupID: g.ID, PersonID: p.ID}).Error; err != nil {
				return mapError(err)
			}
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return p.ID, nil
}
