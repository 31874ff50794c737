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

// summaryCreate is the body of POST /v1/analytics/summaries.
type summaryCreate struct {
	Date                    *models.Date  `json:"date"`
	Period                  string        `json:"period"`
	TotalShipments          int           `json:"total_shipments"`
	SuccessfulShipments     int           `json:"successful_shipments"`
	FailedShipments         int           `json:"failed_shipments"`
	TotalCost               models.Money  `json:"total_cost"`
	AverageCostPerShipment  *models.Money `json:"average_cost_per_shipment"`
	Currency                *string       `json:"currency"`
	AverageDeliveryDays     *float64      `json:"average_delivery_days"`
	OnTimeDeliveryRate      *float64      `json:"on_time_delivery_rate"`
	CarrierStats            models.JSON   `json:"carrier_stats"`
	TopDestinations         models.JSON   `json:"top_destinations"`
	DomesticVsInternational models.JSON   `json:"domestic_vs_international"`
	ServiceBreakdown        models.JSON   `json:"service_breakdown"`
}

func (in *summaryCreate) model() *models.AnalyticsSummary {
	return &models.AnalyticsSummary{
		Date: deref(in.Date, models.Date{}), Period: in.Period, TotalShipments: in.TotalShipments,
		SuccessfulShipments: in.SuccessfulShipments, FailedShipments: in.FailedShipments, TotalCost: in.TotalCost,
		AverageCostPerShipment: in.AverageCostPerShipment, Currency: deref(in.Currency, "USD"),
		AverageDeliveryDays: in.AverageDeliveryDays, OnTimeDeliveryRate: in.OnTimeDeliveryRate,
		CarrierStats: in.CarrierStats, TopDestinations: in.TopDestinations,
		DomesticVsInternational: in.DomesticVsInternational, ServiceBreakdown: in.ServiceBreakdown,
	}
}

// summaryPatch is the body of PATCH /v1/analytics/summaries/{id}: a JSON
// merge patch.
type summaryPatch struct {
	Date                    Optional[models.Date]  `json:"date"`
	Period                  Optional[string]       `json:"period"`
	TotalShipments          Optional[int]          `json:"total_shipments"`
	SuccessfulShipments     Optional[int]          `json:"successful_shipments"`
	FailedShipments         Optional[int]          `json:"failed_shipments"`
	TotalCost               Optional[models.Money] `json:"total_cost"`
	AverageCostPerShipment  Optional[models.Money] `json:"average_cost_per_shipment"`
	Currency                Optional[string]       `json:"currency"`
	AverageDeliveryDays     Optional[float64]      `json:"average_delivery_days"`
	OnTimeDeliveryRate      Optional[float64]      `json:"on_time_delivery_rate"`
	CarrierStats            Optional[models.JSON]  `json:"carrier_stats"`
	TopDestinations         Optional[models.JSON]  `json:"top_destinations"`
	DomesticVsInternational Optional[models.JSON]  `json:"domestic_vs_international"`
	ServiceBreakdown        Optional[models.JSON]  `json:"service_breakdown"`
}

func (in *summaryPatch) apply(a *models.AnalyticsSummary) ([]string, error) {
	var p patch
	required(&p, in.Date, &a.Date, "date", "date")
	required(&p, in.Period, &a.Period, "period", "period")
	required(&p, in.TotalShipments, &a.TotalShipments, "total_shipments", "total_shipments")
	required(&p, in.SuccessfulShipments, &a.SuccessfulShipments, "successful_shipments", "successful_shipments")
	required(&p, in.FailedShipments, &a.FailedShipments, "failed_shipments", "failed_shipments")
	required(&p, in.TotalCost, &a.TotalCost, "total_cost", "total_cost")
	nullable(&p, in.AverageCostPerShipment, &a.AverageCostPerShipment, "average_cost_per_shipment")
	required(&p, in.Currency, &a.Currency, "currency", "currency")
	nullable(&p, in.AverageDeliveryDays, &a.AverageDeliveryDays, "average_delivery_days")
	nullable(&p, in.OnTimeDeliveryRate, &a.OnTimeDeliveryRate, "on_time_delivery_rate")
	document(&p, in.CarrierStats, &a.CarrierStats, "carrier_stats")
	document(&p, in.TopDestinations, &a.TopDestinations, "top_destinations")
	document(&p, in.DomesticVsInternational, &a.DomesticVsInternational, "domestic_vs_international")
	document(&p, in.ServiceBreakdown, &a.ServiceBreakdown, "service_breakdown")
	return p.result()
}

// createSummary serves POST /v1/analytics/summaries.
func createSummary(store *models.Store) echo.HandlerFunc {
	return func(c echo.Context) error {
		var in summaryCreate
		if err := decode(c, &in, false); err != nil {
			return err
		}
		a := in.model()
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

// carrierPerformanceCreate is the body of POST
// /v1/analytics/carrier-performance.
type carrierPerformanceCreate struct {
	Carrier             string        `json:"carrier"`
	Service             string        `json:"service"`
	Date                *models.Date  `json:"date"`
	TotalShipments      int           `json:"total_shipments"`
	OnTimeDeliveries    int           `json:"on_time_deliveries"`
	DelayedDeliveries   int           `json:"delayed_deliveries"`
	FailedDeliveries    int           `json:"failed_deliveries"`
	TotalCost           models.Money  `json:"total_cost"`
	AverageCost         *models.Money `json:"average_cost"`
	Currency            *string       `json:"currency"`
	AverageDeliveryDays *float64      `json:"average_delivery_days"`
	MinDeliveryDays     *int          `json:"min_delivery_days"`
	MaxDeliveryDays     *int          `json:"max_delivery_days"`
	OnTimeRate          *float64      `json:"on_time_rate"`
	ReliabilityScore    *float64      `json:"reliability_score"`
}

func (in *carrierPerformanceCreate) model() *models.CarrierPerformance {
	return &models.CarrierPerformance{
		Carrier: in.Carrier, Service: in.Service, Date: deref(in.Date, models.Date{}),
		TotalShipments: in.TotalShipments, OnTimeDeliveries: in.OnTimeDeliveries,
		DelayedDeliveries: in.DelayedDeliveries, FailedDeliveries: in.FailedDeliveries, TotalCost: in.TotalCost,
		AverageCost: in.AverageCost, Currency: deref(in.Currency, "USD"), AverageDeliveryDays: in.AverageDeliveryDays,
		MinDeliveryDays: in.MinDeliveryDays, MaxDeliveryDays: in.MaxDeliveryDays, OnTimeRate: in.OnTimeRate,
		ReliabilityScore: in.ReliabilityScore,
	}
}

// carrierPerformancePatch is the body of PATCH
// /v1/analytics/carrier-performance/{id}: a JSON merge patch.
type carrierPerformancePatch struct {
	Carrier             Optional[string]       `json:"carrier"`
	Service             Optional[string]       `json:"service"`
	Date                Optional[models.Date]  `json:"date"`
	TotalShipments      Optional[int]          `json:"total_shipments"`
	OnTimeDeliveries    Optional[int]          `json:"on_time_deliveries"`
	DelayedDeliveries   Optional[int]          `json:"delayed_deliveries"`
	FailedDeliveries    Optional[int]          `json:"failed_deliveries"`
	TotalCost           Optional[models.Money] `json:"total_cost"`
	AverageCost         Optional[models.Money] `json:"average_cost"`
	Currency            Optional[string]       `json:"currency"`
	AverageDeliveryDays Optional[float64]      `json:"average_delivery_days"`
	MinDeliveryDays     Optional[int]          `json:"min_delivery_days"`
	MaxDeliveryDays     Optional[int]          `json:"max_delivery_days"`
	OnTimeRate          Optional[float64]      `json:"on_time_rate"`
	ReliabilityScore    Optional[float64]      `json:"reliability_score"`
}

func (in *carrierPerformancePatch) apply(cp *models.CarrierPerformance) ([]string, error) {
	var p patch
	required(&p, in.Carrier, &cp.Carrier, "carrier", "carrier")
	required(&p, in.Service, &cp.Service, "service", "service")
	required(&p, in.Date, &cp.Date, "date", "date")
	required(&p, in.TotalShipments, &cp.TotalShipments, "total_shipments", "total_shipments")
	required(&p, in.OnTimeDeliveries, &cp.OnTimeDeliveries, "on_time_deliveries", "on_time_deliveries")
	required(&p, in.DelayedDeliveries, &cp.DelayedDeliveries, "delayed_deliveries", "delayed_deliveries")
	required(&p, in.FailedDeliveries, &cp.FailedDeliveries, "failed_deliveries", "failed_deliveries")
	required(&p, in.TotalCost, &cp.TotalCost, "total_cost", "total_cost")
	nullable(&p, in.AverageCost, &cp.AverageCost, "average_cost")
	required(&p, in.Currency, &cp.Currency, "currency", "currency")
	nullable(&p, in.AverageDeliveryDays, &cp.AverageDeliveryDays, "average_delivery_days")
	nullable(&p, in.MinDeliveryDays, &cp.MinDeliveryDays, "min_delivery_days")
	nullable(&p, in.MaxDeliveryDays, &cp.MaxDeliveryDays, "max_delivery_days")
	nullable(&p, in.OnTimeRate, &cp.OnTimeRate, "on_time_rate")
	nullable(&p, in.ReliabilityScore, &cp.ReliabilityScore, "reliability_score")
	return p.result()
}

// createCarrierPerformance serves POST /v1/analytics/carrier-performance.
func createCarrierPerformance(store *models.Store) echo.HandlerFunc {
	return func(c echo.Context) error {
		var in carrierPerformanceCreate
		if err := decode(c, &in, false); err != nil {
			return err
		}
		cp := in.model()
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

// systemMetricCreate is the body of POST /v1/system-metrics. Without a
// timestamp, the sample is stamped by the database's clock.
type systemMetricCreate struct {
	Timestamp           *models.Time `json:"timestamp"`
	ActiveConnections   int          `json:"active_connections"`
	TotalRequests       int          `json:"total_requests"`
	ErrorRate           *float64     `json:"error_rate"`
	AvgResponseTimeMs   *float64     `json:"avg_response_time_ms"`
	P95ResponseTimeMs   *float64     `json:"p95_response_time_ms"`
	P99ResponseTimeMs   *float64     `json:"p99_response_time_ms"`
	CPUUsagePercent     *float64     `json:"cpu_usage_percent"`
	MemoryUsageMb       *float64     `json:"memory_usage_mb"`
	DiskUsagePercent    *float64     `json:"disk_usage_percent"`
	DBConnectionsActive int          `json:"db_connections_active"`
	DBConnectionsIdle   int          `json:"db_connections_idle"`
	DBQueryCount        int          `json:"db_query_count"`
	DBSlowQueries       int          `json:"db_slow_queries"`
	CacheHitRate        *float64     `json:"cache_hit_rate"`
	CacheMissRate       *float64     `json:"cache_miss_rate"`
}

func (in *systemMetricCreate) model() *models.SystemMetric {
	return &models.SystemMetric{
		Timestamp: deref(in.Timestamp, models.Time{}), ActiveConnections: in.ActiveConnections,
		TotalRequests: in.TotalRequests, ErrorRate: in.ErrorRate, AvgResponseTimeMs: in.AvgResponseTimeMs,
		P95ResponseTimeMs: in.P95ResponseTimeMs, P99ResponseTimeMs: in.P99ResponseTimeMs,
		CPUUsagePercent: in.CPUUsagePercent, MemoryUsageMb: in.MemoryUsageMb, DiskUsagePercent: in.DiskUsagePercent,
		DBConnectionsActive: in.DBConnectionsActive, DBConnectionsIdle: in.DBConnectionsIdle,
		DBQueryCount: in.DBQueryCount, DBSlowQueries: in.DBSlowQueries, CacheHitRate: in.CacheHitRate,
		CacheMissRate: in.CacheMissRate,
	}
}

// createSystemMetric serves POST /v1/system-metrics.
func createSystemMetric(store *models.Store) echo.HandlerFunc {
	return func(c echo.Context) error {
		var in systemMetricCreate
		if err := decode(c, &in, false); err != nil {
			return err
		}
		m := in.model()
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
