package handlers

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/waybill/waybill/models"
)

// readyTimeout bounds the readiness ping.
const readyTimeout = time.Second

// livez answers 200 while the process runs; it touches nothing.
func livez(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 when the database answered a ping on the health
// connection within readyTimeout and the server is not draining; else 503
// with Retry-After.
func readyz(store *models.Store, draining func() bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		reason := ""
		switch {
		case draining():
			reason = "draining"
		case store == nil:
			reason = "database not configured"
		default:
			if err := store.Ping(c.Request().Context(), readyTimeout); err != nil {
				reason = "database unreachable"
			}
		}
		if reason != "" {
			c.Response().Header().Set("Retry-After", "2")
			return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": reason})
		}
		return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
	}
}
