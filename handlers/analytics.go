package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/waybill/waybill/models"
)

// listDateRange reads the start_date and end_date list parameters (see
// checkDateRange; lists have no length limit).
func listDateRange(q *query) (start, end *models.Date) {
	start, end = q.date("start_date"), q.date("end_date")
	checkDateRange(q, start, end, 0)
	return start, end
}

// checkDateRange checks the start_date and end_date query parameters:
// days, both included, so start_date may equal end_date but not follow it,
// and the range spans at most maxDays (0: no limit). The status follows
// where the input is, as for every other rule: a bad range in the query is
// a 400 (the dashboard, the lists), and in a body it is a 422, from the
// model's check of the same rule (POST /v1/analytics/rollups); docs/api.md,
// "Errors".
func checkDateRange(q *query, start, end *models.Date, maxDays int) {
	switch {
	case start == nil || end == nil:
	case start.After(end.Time):
		q.fail("start_date must not be after end_date")
	case maxDays > 0 && models.Days(*start, *end) > maxDays:
		q.fail("the range may span at most %d days, both included", maxDays)
	}
}

// createSummary serves POST /v1/analytics/summaries.
func createSummary(store *models.Store) echo.HandlerFunc {
	return func(c echo.Context) error {
		a := new(models.AnalyticsSummary)
		if err := decode(c, a); err != nil {
			return err
		}
		if err := store.CreateSummary(c.Request().Context(), a); err != nil {
			return err
		}
		c.Response().Header().Set(echo.HeaderLocation, "/v1/analytics/summaries/"+a.ID.String())
		return writeTagged(c, http.StatusCreated, a)
	}
}

// listSummaries serves GET /v1/analytics/summaries.
func listSummaries(store *models.Store) echo.HandlerFunc {
	return func(c echo.Context) error {
		q := newQuery(c.QueryParams(), append(listParams, "period", "start_date", "end_date")...)
		f := models.SummaryFilter{Page: q.page(), Period: q.oneOf("period", models.SummaryPeriods)}
		f.StartDate, f.EndDate = listDateRange(q)
		if err := q.Err(); err != nil {
			return err
		}
		rows, more, err := store.Summaries(c.Request().Context(), f)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, pageResponse("summaries", rows, more, f.Page))
	}
}

// createCarrierPerformance serves POST /v1/analytics/carrier-performance.
func createCarrierPerformance(store *models.Store) echo.HandlerFunc {
	return func(c echo.Context) error {
		cp := new(models.CarrierPerformance)
		if err := decode(c, cp); err != nil {
			return err
		}
		if err := store.CreateCarrierPerformance(c.Request().Context(), cp); err != nil {
			return err
		}
		c.Response().Header().Set(echo.HeaderLocation, "/v1/analytics/carrier-performance/"+cp.ID.String())
		return writeTagged(c, http.StatusCreated, cp)
	}
}

// listCarrierPerformance serves GET /v1/analytics/carrier-performance.
func listCarrierPerformance(store *models.Store) echo.HandlerFunc {
	return func(c echo.Context) error {
		q := newQuery(c.QueryParams(), append(listParams, "carrier", "service", "start_date", "end_date")...)
		f := models.CarrierPerformanceFilter{Page: q.page(), Carrier: q.str("carrier"), Service: q.str("service")}
		f.StartDate, f.EndDate = listDateRange(q)
		if err := q.Err(); err != nil {
			return err
		}
		rows, more, err := store.CarrierPerformances(c.Request().Context(), f)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, pageResponse("carrier_performance", rows, more, f.Page))
	}
}

// createSystemMetric serves POST /v1/system-metrics.
func createSystemMetric(store *models.Store) echo.HandlerFunc {
	return func(c echo.Context) error {
		m := new(models.SystemMetric)
		if err := decode(c, m); err != nil {
			return err
		}
		if err := store.CreateSystemMetric(c.Request().Context(), m); err != nil {
			return err
		}
		c.Response().Header().Set(echo.HeaderLocation, "/v1/system-metrics/"+m.ID.String())
		return writeTagged(c, http.StatusCreated, m)
	}
}

// listSystemMetrics serves GET /v1/system-metrics. start_datetime and
// end_datetime apply to the samples' timestamp, not their created_at (see
// models.Store.SystemMetrics).
func listSystemMetrics(store *models.Store) echo.HandlerFunc {
	return func(c echo.Context) error {
		q := newQuery(c.QueryParams(), listParams...)
		p := q.page()
		if err := q.Err(); err != nil {
			return err
		}
		rows, more, err := store.SystemMetrics(c.Request().Context(), p)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, pageResponse("system_metrics", rows, more, p))
	}
}
