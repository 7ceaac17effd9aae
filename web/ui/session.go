package ui

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/workflow"
)

// Sessions stores web sessions and OpenID Connect sign-ins in flight
// (implemented by store.DB).
type Sessions = identity.SessionStore

// Cookies. The __Host- prefix makes the browser insist on Secure, Path=/
// and no Domain, so that no other host (a sibling subdomain) can set or
// read them. Browsers treat http://localhost and http://127.0.0.1 as
// secure, so the demo works without TLS there.
const (
	sessionCookie = "__Host-jitaccess-session"
	flowCookie    = "__Host-jitaccess-signin"
	flashCookie   = "__Host-jitaccess-flash"
	preCSRFCookie = "__Host-jitaccess-csrf" // the sign-in page's form token
)

// refreshHeader marks the auto-refresh of a page, which does not count as
// use: an open tab must not keep a session alive forever.
const refreshHeader = "X-Jitaccess-Refresh"

// touchEvery bounds how often a session's last use is written.
const touchEvery = time.Minute

func setCookie(c echo.Context, name, value string, maxAge time.Duration) {
	http.SetCookie(c.Response(), &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: int(maxAge / time.Second),
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
}

func clearCookie(c echo.Context, name string) {
	http.SetCookie(c.Response(), &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

func cookieValue(c echo.Context, name string) string {
	ck, err := c.Cookie(name)
	if err != nil {
		return ""
	}
	return ck.Value
}

const viewerKey = "jitaccess.viewer"

// viewerOf returns the signed-in viewer (nil on pages without a session).
func (u *UI) viewerOf(c echo.Context) *viewer {
	v, _ := c.Get(viewerKey).(*viewer)
	return v
}

// requireSession loads the session named by the cookie, judges the person
// once against the directory (identity.Authenticator.Session), and puts
// that principal in the request context: every use case of the request
// decides with this one snapshot. A session of a person the directory has
// deactivated is ended and the browser sent to sign in, with why. It does
// not judge the person against the policy: see requireKnown.
func (u *UI) requireSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		secret := cookieValue(c, sessionCookie)
		if secret == "" {
			return workflow.Errorf(workflow.CodeUnauthenticated, "sign in to continue")
		}
		now := u.now()
		s, who, err := u.auth.Session(ctx, secret, now)
		if err != nil {
			if workflow.ErrorCode(err) == workflow.CodeUnauthenticated {
				clearCookie(c, sessionCookie)
				if errors.Is(err, identity.ErrDeactivated) {
					u.setFlash(c, "error", workflow.ErrorMessage(err))
					return workflow.Errorf(workflow.CodeUnauthenticated, "%s", workflow.ErrorMessage(err))
				}
				return workflow.Errorf(workflow.CodeUnauthenticated, "your session has ended; sign in again")
			}
			return err
		}
		if now.Sub(s.LastSeenAt) >= touchEvery && c.Request().Header.Get(refreshHeader) == "" {
			if err := u.cfg.Sessions.TouchSession(ctx, s.ID, now); err != nil {
				u.log.Warn("record session use", "err", err)
			}
		}
		v := newViewer(u.svc.Policy(), s, who)
		v.Oversight = u.over != nil
		v.GroupsStale = s.GroupsStale(now, u.cfg.GroupsMaxAge)
		v.ReSignIn = v.GroupsStale && u.oidc != nil
		v.GroupsMaxAge, v.ReturnTo = humanDuration(u.cfg.GroupsMaxAge), "/"
		if c.Request().Method == http.MethodGet {
			v.ReturnTo = localPath(c.Request().URL.RequestURI(), "/")
		}
		c.Set(viewerKey, v)
		c.SetRequest(c.Request().WithContext(workflow.WithPrincipal(ctx, v.Principal)))
		return next(c)
	}
}

// requireKnown refuses people the policy in force no longer names.
// Authorization is not cached: every page asks the policy of the moment
// (newViewer, and the service behind each handler).
func (u *UI) requireKnown(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if v := u.viewerOf(c); !v.Known {
			return workflow.Errorf(workflow.CodeForbidden, "%s is not in the access policy; ask an admin to add you to a group", v.Email)
		}
		return next(c)
	}
}

// signIn starts a session for a verified identity and sends the browser
// on to next.
func (u *UI) signIn(c echo.Context, ns identity.NewSession, next string) error {
	ns.TTL = u.cfg.SessionMax
	ns.ClientIP = c.RealIP()
	ns.UserAgent = c.Request().UserAgent()
	// A previous session in this browser ends: one browser, one person.
	if old := cookieValue(c, sessionCookie); old != "" {
		if s, err := u.cfg.Sessions.LookupSession(c.Request().Context(), old, u.now(), u.cfg.SessionIdle); err == nil {
			if err := u.cfg.Sessions.EndSession(c.Request().Context(), s, u.now()); err != nil {
				return err
			}
		}
	}
	secret, _, err := u.auth.SignIn(c.Request().Context(), ns, u.now())
	if err != nil {
		if workflow.ErrorCode(err) == workflow.CodeUnauthenticated {
			return u.signInFailed(c, err) // deactivated in the directory
		}
		return err
	}
	setCookie(c, sessionCookie, secret, u.cfg.SessionMax)
	return c.Redirect(http.StatusSeeOther, localPath(next, "/"))
}

// signOut ends this browser's session.
func (u *UI) signOut(c echo.Context) error {
	v := u.viewerOf(c)
	if err := u.cfg.Sessions.EndSession(c.Request().Context(), v.Session, u.now()); err != nil {
		return err
	}
	clearCookie(c, sessionCookie)
	u.setFlash(c, "info", "You are signed out.")
	return c.Redirect(http.StatusSeeOther, "/sign-in")
}

// withNote adds to a flash what was masked in the text just written.
func withNote(msg string, notices []string) string {
	if note := workflow.MaskedNote(notices); note != "" {
		return msg + " " + note
	}
	return msg
}

// setFlash keeps a message for the next page this browser shows.
func (u *UI) setFlash(c echo.Context, kind, text string) {
	setCookie(c, flashCookie, url.QueryEscape(kind+"|"+text), time.Minute)
}

// takeFlash reads and clears the pending message, if any.
func (u *UI) takeFlash(c echo.Context) *flash {
	raw := cookieValue(c, flashCookie)
	if raw == "" {
		return nil
	}
	clearCookie(c, flashCookie)
	s, err := url.QueryUnescape(raw)
	if err != nil {
		return nil
	}
	kind, text, ok := strings.Cut(s, "|")
	if !ok || text == "" {
		return nil
	}
	switch kind {
	case "success", "info", "error":
	default:
		kind = "info"
	}
	text = workflow.Clip(text, 500)
	return &flash{Kind: kind, Text: text}
}
