package ui

import (
	"crypto/subtle"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/web/httpkit"
	"github.com/jitaccess/jitaccess/workflow"
)

// Cross-site request forgery is refused twice over. Every state-changing
// request must carry the session's CSRF token (a hidden form field, or the
// X-CSRF-Token header), compared in constant time; and it must not come
// from another site, as the browser tells us with Sec-Fetch-Site and
// Origin. The session cookie is SameSite=Lax besides.

const (
	csrfField  = "csrf_token"
	csrfHeader = "X-CSRF-Token"
)

func errCSRF() error {
	return workflow.Errorf(workflow.CodeForbidden, "this form has expired or did not come from jitaccess; reload the page and try again")
}

// checkCSRF guards state-changing requests of signed-in people. It runs
// after requireSession.
func (u *UI) checkCSRF(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if httpkit.SafeMethod(c.Request().Method) {
			return next(c)
		}
		if err := u.sameOrigin(c); err != nil {
			return err
		}
		v := u.viewerOf(c)
		if v == nil || !tokensEqual(submittedToken(c), v.Session.CSRFToken) {
			return errCSRF()
		}
		return next(c)
	}
}

func submittedToken(c echo.Context) string {
	if t := c.Request().Header.Get(csrfHeader); t != "" {
		return t
	}
	return c.FormValue(csrfField)
}

func tokensEqual(got, want string) bool {
	return got != "" && want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// sameOrigin refuses a request that the browser says comes from another
// site. Browsers send Sec-Fetch-Site with every request and Origin with
// every POST; a request without either (curl) must still present the
// CSRF token, which only a page of jitaccess can know.
func (u *UI) sameOrigin(c echo.Context) error {
	r := c.Request()
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return workflow.Errorf(workflow.CodeForbidden, "cross-site request refused")
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	if !u.originAllowed(origin, r) {
		return workflow.Errorf(workflow.CodeForbidden, "cross-site request refused (origin %s)", origin)
	}
	return nil
}

// originAllowed reports whether origin is jitaccess's own: the public URL's
// when one is configured, the request's Host otherwise.
func (u *UI) originAllowed(origin string, r *http.Request) bool {
	o, err := url.Parse(origin)
	if err != nil || o.Host == "" {
		return false
	}
	if u.cfg.PublicURL != "" {
		p, err := url.Parse(u.cfg.PublicURL)
		return err == nil && strings.EqualFold(o.Scheme, p.Scheme) && strings.EqualFold(o.Host, p.Host)
	}
	return strings.EqualFold(o.Host, r.Host)
}

// preSessionToken returns the sign-in page's form token, setting its
// cookie when there is none (double-submit: a forged form cannot read the
// cookie to copy it).
func (u *UI) preSessionToken(c echo.Context) string {
	if t := cookieValue(c, preCSRFCookie); len(t) >= 32 {
		return t
	}
	t, err := randomToken()
	if err != nil {
		return ""
	}
	setCookie(c, preCSRFCookie, t, 0)
	return t
}

// checkPreSessionCSRF guards the sign-in forms, before there is a session.
func (u *UI) checkPreSessionCSRF(c echo.Context) error {
	if err := u.sameOrigin(c); err != nil {
		return err
	}
	if !tokensEqual(c.FormValue(csrfField), cookieValue(c, preCSRFCookie)) {
		return errCSRF()
	}
	return nil
}
