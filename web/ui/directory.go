package ui

import (
	"net/http"
	"sort"

	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/web/httpkit"
	"github.com/jitaccess/jitaccess/workflow"
)

type personAttr struct{ Key, Value string }

type personData struct {
	Record *workflow.DirectoryRecord
	Attrs  []personAttr
	Source string
}

// GET /admin/people/:email (admins): one person's directory record.
func (u *UI) directoryPerson(c echo.Context) error {
	if err := httpkit.CheckQuery(c); err != nil {
		return err
	}
	rec, err := u.svc.DirectoryRecordOf(c.Request().Context(), httpkit.Principal(c), c.Param("email"))
	if err != nil {
		return err
	}
	v := u.newView(c, rec.Email, "")
	d := personData{Record: rec, Source: "policy file only (not in the directory)"}
	if p := rec.Person; p != nil {
		d.Source = "SCIM"
		for k, val := range p.Attributes {
			d.Attrs = append(d.Attrs, personAttr{k, val})
		}
		sort.Slice(d.Attrs, func(i, j int) bool { return d.Attrs[i].Key < d.Attrs[j].Key })
	}
	v.Data = d
	return u.render(c, http.StatusOK, "person", v)
}
