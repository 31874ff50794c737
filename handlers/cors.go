package handlers

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// The CORS answer of /v1 to an allowed origin (docs/api.md): the methods
// and request headers the API uses, the response headers a client reads,
// and how long a browser may reuse a preflight's answer.
const (
	corsAllowMethods  = "GET, HEAD, POST, PUT, PATCH, DELETE"
	corsAllowHeaders  = "Authorization, Content-Type, If-Match, Idempotency-Key, " + HeaderMinLSN
	corsExposeHeaders = "ETag, Location, Retry-After, X-Request-Id, " + HeaderLSN
	corsMaxAge        = 10 * time.Minute
)

// cors lets the pages of the origins listed (exact origins, such as
// https://ops.example.com, as config.Load checks them) call /v1 from a
// browser. With no origin listed it does nothing: no route sends a CORS
// header. Otherwise, for a request under /v1:
//   - every answer carries Vary: Origin, since it depends on the header;
//   - a request from a listed origin gets Access-Control-Allow-Origin (its
//     own origin) and Access-Control-Expose-Headers, on errors too, so
//     the page can read a problem;
//   - a preflight (OPTIONS with Access-Control-Request-Method) from a
//     listed origin is answered 204 here, before authentication: a
//     browser sends no credentials with it;
//   - anything from another origin, preflight included, is handled as if
//     CORS were off, with no CORS header, so the browser refuses it.
//
// No credentials are allowed (no Access-Control-Allow-Credentials): the
// API key travels in the Authorization header, which a page sets itself,
// never in a cookie.
func cors(origins []string) echo.MiddlewareFunc {
	allowed := map[string]bool{}
	for _, o := range origins {
		allowed[o] = true
	}
	maxAge := strconv.Itoa(int(corsMaxAge.Seconds()))
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		if len(allowed) == 0 {
			return next
		}
		return func(c echo.Context) error {
			r := c.Request()
			if p := r.URL.Path; p != "/v1" && !strings.HasPrefix(p, "/v1/") {
				return next(c)
			}
			h := c.Response().Header()
			h.Add(echo.HeaderVary, echo.HeaderOrigin)
			origin := r.Header.Get(echo.HeaderOrigin)
			if !allowed[origin] {
				return next(c)
			}
			h.Set(echo.HeaderAccessControlAllowOrigin, origin)
			if r.Method == http.MethodOptions && r.Header.Get(echo.HeaderAccessControlRequestMethod) != "" {
				h.Add(echo.HeaderVary, echo.HeaderAccessControlRequestMethod)
				h.Add(echo.HeaderVary, echo.HeaderAccessControlRequestHeaders)
				h.Set(echo.HeaderAccessControlAllowMethods, corsAllowMethods)
				h.Set(echo.HeaderAccessControlAllowHeaders, corsAllowHeaders)
				h.Set(echo.HeaderAccessControlMaxAge, maxAge)
				return c.NoContent(http.StatusNoContent)
			}
			h.Set(echo.HeaderAccessControlExposeHeaders, corsExposeHeaders)
			return next(c)
		}
	}
}
