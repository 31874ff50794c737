package handlers

import (
	"net"
	"net/http"
	"net/netip"

	"github.com/labstack/echo/v4"

	"github.com/waybill/waybill/models"
)

// recordActor puts the request's models.Actor in its context, so that
// every write the store makes for it records an activity row in the
// write's own transaction: the API key authenticate found (none for a
// route without one, such as a signed webhook), the request id, the
// client's address, the method and the route pattern. Reads are left
// alone: they record nothing.
func recordActor(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if req.Method == http.MethodGet || req.Method == http.MethodHead {
			return next(c)
		}
		a := models.Actor{RequestID: requestID(c), ClientIP: clientIP(req), Method: req.Method, Endpoint: c.Path()}
		if k, ok := c.Get(ctxAPIKey).(models.APIKey); ok {
			a.APIKeyID, a.APIKeyName = &k.ID, k.Name
		}
		c.SetRequest(req.WithContext(models.WithActor(req.Context(), a)))
		return next(c)
	}
}

// clientIP is the connection's remote address, never a forwarding header
// (no trusted proxy is configured), as authentication counts it.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return ""
	}
	return addr.Unmap().WithZone("").String()
}

// activityParams are the audit trail's filters besides the list's own.
var activityParams = append([]string{"action", "resource_type", "resource_id", "api_key_id"}, listParams...)

// listActivity serves GET /v1/activity, the audit trail, to admin keys
// only: newest first, keyset-paged like every list, filtered by exact
// action, resource type and id, and API key id, and by created_at.
func listActivity(store *models.Store) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := requireAdmin(c); err != nil {
			return err
		}
		q := newQuery(c.QueryParams(), activityParams...)
		f := models.ActivityFilter{
			Page:         q.page(),
			Action:       q.str("action"),
			ResourceType: q.str("resource_type"),
			ResourceID:   q.str("resource_id"),
			APIKeyID:     q.id("api_key_id"),
		}
		if err := q.Err(); err != nil {
			return err
		}
		rows, more, err := store.Activities(c.Request().Context(), f)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, pageResponse("activities", rows, more, f.Page))
	}
}

// requireAdmin answers 403 unless the request's API key has admin scope.
func requireAdmin(c echo.Context) error {
	k, err := requestAPIKey(c)
	if err != nil {
		return err
	}
	if k.Scope != models.ScopeAdmin {
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer error="insufficient_scope", scope="admin"`)
		return newError("forbidden", "this API key's scope is %s; the audit trail needs admin", k.Scope)
	}
	return nil
}
