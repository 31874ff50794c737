package models

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// analyticsFields returns the sorted field names of a *ValidationError,
// or nil for no error.
func analyticsFields(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var v *ValidationError
	if !errors.As(err, &v) {
		t.Fatalf("error %v is not a *ValidationError", err)
	}
	var fields []string
	for _, e := range v.Errors {
		fields = append(fields, e.Field)
	}
	slices.Sort(fields)
	return fields
}

func pointerTo[T any](v T) *T { return &v }

func TestAnalyticsValidate(t *testing.T) {
	day := Date{time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)}
	summary := func(change func(*AnalyticsSummary)) *AnalyticsSummary {
		a := &AnalyticsSummary{Date: day, Period: "daily", TotalShipments: 10, SuccessfulShipments: 7,
			FailedShipments: 3, TotalCost: 1000, Currency: "USD", OnTimeDeliveryRate: pointerTo(100.0)}
		change(a)
		return a
	}
	carrier := func(change func(*CarrierPerformance)) *CarrierPerformance {
		cp := &CarrierPerformance{Carrier: "UPS", Service: "Ground", Date: day, TotalShipments: 3, OnTimeDeliveries: 1,
			DelayedDeliveries: 1, FailedDeliveries: 1, Currency: "USD", MinDeliveryDays: pointerTo(2), MaxDeliveryDays: pointerTo(2),
			OnTimeRate: pointerTo(0.0), ReliabilityScore: pointerTo(100.0)}
		change(cp)
		return cp
	}
	metric := func(change func(*SystemMetric)) *SystemMetric {
		m := &SystemMetric{ErrorRate: pointerTo(0.0), P95ResponseTimeMs: pointerTo(5.0), P99ResponseTimeMs: pointerTo(5.0), CacheHitRate: pointerTo(100.0)}
		change(m)
		return m
	}
	tests := []struct {
		name string
		err  error
		want []string
	}{
		{"summary at the edges", summary(func(*AnalyticsSummary) {}).Validate(), nil},
		{"summary without date and period", summary(func(a *AnalyticsSummary) { a.Date, a.Period = Date{}, "" }).Validate(),
			[]string{"date", "period"}},
		{"summary outcomes over total", summary(func(a *AnalyticsSummary) { a.FailedShipments = 4 }).Validate(),
			[]string{"successful_shipments"}},
		{"summary negative total only", summary(func(a *AnalyticsSummary) { a.TotalShipments = -1 }).Validate(),
			[]string{"total_shipments"}},
		{"summary money and rate", summary(func(a *AnalyticsSummary) {
			a.TotalCost, a.AverageCostPerShipment, a.OnTimeDeliveryRate, a.Currency = -1, pointerTo(Money(-1)), pointerTo(100.001), "US"
		}).Validate(), []string{"average_cost_per_shipment", "currency", "on_time_delivery_rate", "total_cost"}},
		{"summary money over numeric(12,2)", summary(func(a *AnalyticsSummary) { a.TotalCost = maxMoney + 1 }).Validate(),
			[]string{"total_cost"}},
		{"carrier at the edges", carrier(func(*CarrierPerformance) {}).Validate(), nil},
		{"carrier without carrier, service, date", carrier(func(cp *CarrierPerformance) { cp.Carrier, cp.Service, cp.Date = "", "\t", Date{} }).Validate(),
			[]string{"carrier", "date", "service"}},
		{"carrier outcomes over total", carrier(func(cp *CarrierPerformance) { cp.TotalShipments = 2 }).Validate(),
			[]string{"total_shipments"}},
		{"carrier min over max", carrier(func(cp *CarrierPerformance) { cp.MinDeliveryDays = pointerTo(3) }).Validate(),
			[]string{"min_delivery_days"}},
		{"carrier rates", carrier(func(cp *CarrierPerformance) { cp.OnTimeRate, cp.ReliabilityScore = pointerTo(-0.01), pointerTo(100.01) }).Validate(),
			[]string{"on_time_rate", "reliability_score"}},
		{"metric at the edges", metric(func(*SystemMetric) {}).Validate(), nil},
		{"metric p95 over p99", metric(func(m *SystemMetric) { m.P95ResponseTimeMs = pointerTo(5.5) }).Validate(),
			[]string{"p95_response_time_ms"}},
		{"metric negatives", metric(func(m *SystemMetric) { m.DBSlowQueries, m.MemoryUsageMb = -1, pointerTo(-1.0) }).Validate(),
			[]string{"db_slow_queries", "memory_usage_mb"}},
		{"metric percentages", metric(func(m *SystemMetric) { m.ErrorRate, m.CacheHitRate = pointerTo(-1.0), pointerTo(101.0) }).Validate(),
			[]string{"cache_hit_rate", "error_rate"}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, analyticsFields(t, tt.err)); diff != "" {
			t.Errorf("%s: fields (-want +got):\n%s", tt.name, diff)
		}
	}
}
