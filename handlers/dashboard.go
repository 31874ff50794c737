package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/waybill/waybill/models"
)

// dashboardDefaultDays is the dashboard's range when no start_date is
// given: end_date and the 29 days before it.
const dashboardDefaultDays = 30

// dashboard serves GET /v1/analytics/dashboard (docs/analytics.md). end_date
// defaults to today (UTC) and start_date to end_date − 29; a malformed
// date, a start_date after end_date or a range over
// models.MaxAnalyticsDays is a 400 (checkDateRange).
func dashboard(store *models.Store) echo.HandlerFunc {
	return func(c echo.Context) error {
		q := newQuery(c.QueryParams(), "start_date", "end_date")
		start, end := q.date("start_date"), q.date("end_date")
		if err := q.Err(); err != nil {
			return err
		}
		if end == nil {
			today := models.Today()
			end = &today
		}
		if start == nil {
			s := models.Date{Time: end.AddDate(0, 0, 1-dashboardDefaultDays)}
			start = &s
		}
		checkDateRange(q, start, end, models.MaxAnalyticsDays)
		if err := q.Err(); err != nil {
			return err
		}
		d, err := store.Dashboard(c.Request().Context(), *start, *end)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, d)
	}
}

// rollupRequest is the body of POST /v1/analytics/rollups.
type rollupRequest struct {
	StartDate models.Date `json:"start_date"`
	EndDate   models.Date `json:"end_date"`
}

// rollups serves POST /v1/analytics/rollups (docs/analytics.md): it
// recomputes the daily summaries and carrier performance of the range and
// answers what it wrote. A missing date, a reversed range or one over
// models.MaxAnalyticsDays is a 422: the dashboard's rule, in a body
// (checkDateRange).
func rollups(store *models.Store) echo.HandlerFunc {
	return func(c echo.Context) error {
		var in rollupRequest
		if err := decode(c, &in); err != nil {
			return err
		}
		res, err := store.Rollup(c.Request().Context(), in.StartDate, in.EndDate)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, res)
	}
}
