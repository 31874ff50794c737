package models

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
	"gorm.io/gorm"
)

// SummaryPeriods lists the valid periods of an analytics summary, as the
// CHECK constraint does.
var SummaryPeriods = []string{"daily", "weekly", "monthly"}

// checkPercent records a problem with field unless val is absent or
// within 0–100.
func checkPercent(v *ValidationError, field string, val *float64) {
	if val != nil && (*val < 0 || *val > 100) {
		v.Add(field, "must be between 0 and 100")
	}
}

// checkNotNegative records a problem with field if val is present and
// below 0.
func checkNotNegative[N int | float64 | Money](v *ValidationError, field string, val *N) {
	if val != nil && *val < 0 {
		v.Add(field, "must not be negative")
	}
}

// whereDateIn restricts q to rows whose date column lies in [start, end],
// both days included; a nil bound is open.
func whereDateIn(q *gorm.DB, table string, start, end *Date) *gorm.DB {
	if start != nil {
		q = q.Where(table+".date >= ?", *start)
	}
	if end != nil {
		q = q.Where(table+".date <= ?", *end)
	}
	return q
}

// Validate checks an analytics summary: a date, a known period,
// counts that are not negative and add up (successful + failed never more
// than total), money that is not negative, an ISO 4217 currency and an
// on-time rate that is a percentage.
func (a *AnalyticsSummary) Validate() error {
	var v ValidationError
	if a.Date.IsZero() {
		v.Add("date", "is required")
	}
	if !slices.Contains(SummaryPeriods, a.Period) {
		v.Add("period", "must be one of %s", strings.Join(SummaryPeriods, ", "))
	}
	for _, c := range []struct {
		name string
		val  int
	}{{"total_shipments", a.TotalShipments}, {"successful_shipments", a.SuccessfulShipments}, {"failed_shipments", a.FailedShipments}} {
		checkNotNegative(&v, c.name, &c.val)
	}
	if a.TotalShipments >= 0 && a.SuccessfulShipments >= 0 && a.FailedShipments >= 0 &&
		a.SuccessfulShipments+a.FailedShipments > a.TotalShipments {
		v.Add("successful_shipments", "successful_shipments + failed_shipments must not exceed total_shipments")
	}
	checkNotNegative(&v, "total_cost", &a.TotalCost)
	checkNotNegative(&v, "average_cost_per_shipment", a.AverageCostPerShipment)
	if !currencyCode.MatchString(a.Currency) {
		v.Add("currency", "must be an ISO 4217 code such as USD")
	}
	checkNotNegative(&v, "average_delivery_days", a.AverageDeliveryDays)
	checkPercent(&v, "on_time_delivery_rate", a.OnTimeDeliveryRate)
	checkColumns(a, "", &v)
	return v.Err()
}

// Validate checks a carrier-performance row: a carrier, a
// service and a date; counts that are not negative and whose outcomes
// (on time, delayed, failed) do not exceed the total; money that is not
// negative; delivery days that are not negative, with min ≤ max; rates and
// the reliability score as percentages; an ISO 4217 currency.
func (cp *CarrierPerformance) Validate() error {
	var v ValidationError
	if strings.TrimSpace(cp.Carrier) == "" {
		v.Add("carrier", "is required")
	}
	if strings.TrimSpace(cp.Service) == "" {
		v.Add("service", "is required")
	}
	if cp.Date.IsZero() {
		v.Add("date", "is required")
	}
	counts := []struct {
		name string
		val  int
	}{{"total_shipments", cp.TotalShipments}, {"on_time_deliveries", cp.OnTimeDeliveries},
		{"delayed_deliveries", cp.DelayedDeliveries}, {"failed_deliveries", cp.FailedDeliveries}}
	outcomes, valid := 0, true
	for i, c := range counts {
		checkNotNegative(&v, c.name, &c.val)
		valid = valid && c.val >= 0
		if i > 0 {
			outcomes += c.val
		}
	}
	if valid && outcomes > cp.TotalShipments {
		v.Add("total_shipments", "must be at least on_time_deliveries + delayed_deliveries + failed_deliveries")
	}
	checkNotNegative(&v, "total_cost", &cp.TotalCost)
	checkNotNegative(&v, "average_cost", cp.AverageCost)
	if !currencyCode.MatchString(cp.Currency) {
		v.Add("currency", "must be an ISO 4217 code such as USD")
	}
	checkNotNegative(&v, "average_delivery_days", cp.AverageDeliveryDays)
	checkNotNegative(&v, "min_delivery_days", cp.MinDeliveryDays)
	checkNotNegative(&v, "max_delivery_days", cp.MaxDeliveryDays)
	if cp.MinDeliveryDays != nil && cp.MaxDeliveryDays != nil && *cp.MinDeliveryDays > *cp.MaxDeliveryDays {
		v.Add("min_delivery_days", "must not be greater than max_delivery_days")
	}
	checkPercent(&v, "on_time_rate", cp.OnTimeRate)
	checkPercent(&v, "reliability_score", cp.ReliabilityScore)
	checkColumns(cp, "", &v)
	return v.Err()
}

// Validate checks a system-metrics sample: counts, times and
// sizes that are not negative, rates and percentages within 0–100, and a
// p95 response time no greater than the p99.
func (m *SystemMetric) Validate() error {
	var v ValidationError
	for _, c := range []struct {
		name string
		val  int
	}{{"active_connections", m.ActiveConnections}, {"total_requests", m.TotalRequests},
		{"db_connections_active", m.DBConnectionsActive}, {"db_connections_idle", m.DBConnectionsIdle},
		{"db_query_count", m.DBQueryCount}, {"db_slow_queries", m.DBSlowQueries}} {
		checkNotNegative(&v, c.name, &c.val)
	}
	for _, t := range []struct {
		name string
		val  *float64
	}{{"avg_response_time_ms", m.AvgResponseTimeMs}, {"p95_response_time_ms", m.P95ResponseTimeMs},
		{"p99_response_time_ms", m.P99ResponseTimeMs}, {"memory_usage_mb", m.MemoryUsageMb}} {
		checkNotNegative(&v, t.name, t.val)
	}
	if m.P95ResponseTimeMs != nil && m.P99ResponseTimeMs != nil && *m.P95ResponseTimeMs > *m.P99ResponseTimeMs {
		v.Add("p95_response_time_ms", "must not be greater than p99_response_time_ms")
	}
	for _, p := range []struct {
		name string
		val  *float64
	}{{"error_rate", m.ErrorRate}, {"cpu_usage_percent", m.CPUUsagePercent}, {"disk_usage_percent", m.DiskUsagePercent},
		{"cache_hit_rate", m.CacheHitRate}, {"cache_miss_rate", m.CacheMissRate}} {
		checkPercent(&v, p.name, p.val)
	}
	checkColumns(m, "", &v)
	return v.Err()
}

// SummaryFilter selects the analytics summaries of a list.
type SummaryFilter struct {
	Page
	Period *string
	// StartDate and EndDate bound the summaries' date, both days included.
	StartDate *Date
	EndDate   *Date
}

// CreateSummary validates and stores a, filling in what the database set.
// A summary for the same date, period and currency already stored is a
// *ConflictError.
func (s *Store) CreateSummary(ctx context.Context, a *AnalyticsSummary) error {
	if err := a.Validate(); err != nil {
		return err
	}
	return create(ctx, s, a, "analytics summary")
}

// Summary returns the analytics summary with that id, or ErrNotFound.
func (s *Store) Summary(ctx context.Context, id uuid.UUID) (AnalyticsSummary, error) {
	return byID[AnalyticsSummary](ctx, s.conn(ctx), id, "analytics summary")
}

// Summaries returns a page of analytics summaries and whether there are
// more.
func (s *Store) Summaries(ctx context.Context, f SummaryFilter) ([]AnalyticsSummary, bool, error) {
	q := s.conn(ctx).Model(&AnalyticsSummary{})
	if f.Period != nil {
		q = q.Where("analytics_summaries.period = ?", *f.Period)
	}
	q = whereDateIn(q, "analytics_summaries", f.StartDate, f.EndDate)
	rows, more, err := list[AnalyticsSummary](ctx, q, "analytics_summaries", f.Page)
	if err != nil {
		return nil, false, fmt.Errorf("analytics summaries: %w", err)
	}
	return rows, more, nil
}

// UpdateSummary changes an analytics summary as apply says (see
// UpdateShipment) and returns it as stored.
func (s *Store) UpdateSummary(ctx context.Context, id uuid.UUID, apply func(*AnalyticsSummary) ([]string, error)) (AnalyticsSummary, error) {
	return update(ctx, s, id, "analytics summary", nil, apply, (*AnalyticsSummary).Validate)
}

// DeleteSummary deletes an analytics summary, or returns ErrNotFound.
func (s *Store) DeleteSummary(ctx context.Context, id uuid.UUID) error {
	return deleteByID[AnalyticsSummary](ctx, s, id, "analytics summary")
}

// CarrierPerformanceFilter selects the carrier-performance rows of a list.
type CarrierPerformanceFilter struct {
	Page
	Carrier *string
	Service *string
	// StartDate and EndDate bound the rows' date, both days included.
	StartDate *Date
	EndDate   *Date
}

// CreateCarrierPerformance validates and stores cp, filling in what the
// database set. A row for the same carrier, service, date and currency
// already stored is a *ConflictError.
func (s *Store) CreateCarrierPerformance(ctx context.Context, cp *CarrierPerformance) error {
	if err := cp.Validate(); err != nil {
		return err
	}
	return create(ctx, s, cp, "carrier performance")
}

// CarrierPerformance returns the carrier-performance row with that id, or
// ErrNotFound.
func (s *Store) CarrierPerformance(ctx context.Context, id uuid.UUID) (CarrierPerformance, error) {
	return byID[CarrierPerformance](ctx, s.conn(ctx), id, "carrier performance")
}

// CarrierPerformances returns a page of carrier-performance rows and
// whether there are more.
func (s *Store) CarrierPerformances(ctx context.Context, f CarrierPerformanceFilter) ([]CarrierPerformance, bool, error) {
	q := s.conn(ctx).Model(&CarrierPerformance{})
	for _, eq := range []struct {
		col string
		val *string
	}{{"carrier", f.Carrier}, {"service", f.Service}} {
		if eq.val != nil {
			q = q.Where("carrier_performance."+eq.col+" = ?", *eq.val)
		}
	}
	q = whereDateIn(q, "carrier_performance", f.StartDate, f.EndDate)
	rows, more, err := list[CarrierPerformance](ctx, q, "carrier_performance", f.Page)
	if err != nil {
		return nil, false, fmt.Errorf("carrier performance: %w", err)
	}
	return rows, more, nil
}

// UpdateCarrierPerformance changes a carrier-performance row as apply says
// (see UpdateShipment) and returns it as stored.
func (s *Store) UpdateCarrierPerformance(ctx context.Context, id uuid.UUID, apply func(*CarrierPerformance) ([]string, error)) (CarrierPerformance, error) {
	return update(ctx, s, id, "carrier performance", nil, apply, (*CarrierPerformance).Validate)
}

// DeleteCarrierPerformance deletes a carrier-performance row, or returns
// ErrNotFound.
func (s *Store) DeleteCarrierPerformance(ctx context.Context, id uuid.UUID) error {
	return deleteByID[CarrierPerformance](ctx, s, id, "carrier performance")
}

// CreateSystemMetric validates and stores a sample, filling in what the
// database set. A zero Timestamp is left to the database's clock (the
// column's DEFAULT now(), the same instant as created_at), never the Go
// clock's.
func (s *Store) CreateSystemMetric(ctx context.Context, m *SystemMetric) error {
	if err := m.Validate(); err != nil {
		return err
	}
	if m.Timestamp.IsZero() {
		// Omitting the column lets its DEFAULT apply; RETURNING reads it back.
		return create(ctx, s, m, "system metric", "timestamp")
	}
	return create(ctx, s, m, "system metric")
}

// SystemMetric returns the sample with that id, or ErrNotFound.
func (s *Store) SystemMetric(ctx context.Context, id uuid.UUID) (SystemMetric, error) {
	return byID[SystemMetric](ctx, s.conn(ctx), id, "system metric")
}

// SystemMetrics returns a page of samples and whether there are more.
//
// Samples are a time series, so p's time window (start_datetime,
// end_datetime: Start included, End excluded) applies to timestamp, the
// instant a sample describes, not to created_at, when it was stored: a
// sample sent late, or backfilled, belongs to its own time. Order and
// cursors stay those of every list, (created_at, id) newest first.
func (s *Store) SystemMetrics(ctx context.Context, p Page) ([]SystemMetric, bool, error) {
	q := s.conn(ctx).Model(&SystemMetric{})
	if p.Start != nil {
		q = q.Where(`system_metrics."timestamp" >= ?`, *p.Start)
	}
	if p.End != nil {
		q = q.Where(`system_metrics."timestamp" < ?`, *p.End)
	}
	p.Start, p.End = nil, nil
	rows, more, err := list[SystemMetric](ctx, q, "system_metrics", p)
	if err != nil {
		return nil, false, fmt.Errorf("system metrics: %w", err)
	}
	return rows, more, nil
}

// DeleteSystemMetric deletes a sample, or returns ErrNotFound.
func (s *Store) DeleteSystemMetric(ctx context.Context, id uuid.UUID) error {
	return deleteByID[SystemMetric](ctx, s, id, "system metric")
}
