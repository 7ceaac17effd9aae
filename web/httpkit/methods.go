package httpkit

import (
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
)

// AllowedMethods returns the methods that routes registered for path
// accept, sorted, or nil when no route has that path. The router alone
// cannot say it: the web UI's catch-all not-found route matches every
// path, so a wrong method on a known path reaches it as a 404.
func AllowedMethods(e *echo.Echo, path string) []string {
	var out []string
	for _, r := range e.Routes() {
		if r.Method == echo.RouteNotFound || slices.Contains(out, r.Method) {
			continue
		}
		if routeMatches(r.Path, path) {
			out = append(out, r.Method)
		}
	}
	slices.Sort(out)
	return out
}

// routeMatches reports whether a route pattern (static segments, :param,
// a trailing *) matches a request path.
func routeMatches(pattern, path string) bool {
	ps, xs := strings.Split(pattern, "/"), strings.Split(path, "/")
	for i, p := range ps {
		if strings.HasPrefix(p, "*") {
			return true
		}
		if i >= len(xs) {
			return false
		}
		switch {
		case strings.HasPrefix(p, ":"):
			if xs[i] == "" {
				return false
			}
		case p != xs[i]:
			return false
		}
	}
	return len(ps) == len(xs)
}
