package models

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/waybill/waybill/testdb"
)

// BenchmarkAuditedWrite is the audit row's cost: a create without an
// actor (nothing recorded) and with one (its row in the same
// transaction).
//
//	go test ./models -run '^$' -bench AuditedWrite
func BenchmarkAuditedWrite(b *testing.B) {
	s := benchStore(b)
	id := uuid.New()
	for _, bb := range []struct {
		name string
		ctx  context.Context
	}{
		{"plain", context.Background()},
		{"audited", WithActor(context.Background(), Actor{APIKeyID: &id, APIKeyName: "k", RequestID: "r",
			ClientIP: "192.0.2.1", Method: "POST", Endpoint: "/v1/addresses"})},
	} {
		b.Run(bb.name, func(b *testing.B) {
			for b.Loop() {
				if err := s.CreateAddress(bb.ctx, &Address{Street1: "a", City: "b", Zip: "c", Country: "US"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkActivities lists 100 rows of an audit trail of 1,000,000 rows
// (200 days, 10 keys), the first page, a deep one and filtered ones, and
// prunes it past 90 days. Loading takes about 40 s.
//
//	go test ./models -run '^$' -bench Activities -timeout 30m
func BenchmarkActivities(b *testing.B) {
	s := benchStore(b)
	if _, err := s.DB().Exec(`INSERT INTO user_activities (created_at, "timestamp", api_key_id, api_key_name, action,
			resource, resource_id, method, endpoint, status_code)
		SELECT now() - g * interval '17 seconds', now() - g * interval '17 seconds',
			('00000000-0000-0000-0000-00000000000' || (g % 10))::uuid, 'k',
			CASE WHEN g % 3 = 0 THEN 'shipment.create' ELSE 'address.update' END,
			'shipment', gen_random_uuid()::text, 'POST', '/v1/shipments', 201
		FROM generate_series(1, 1000000) g`); err != nil {
		b.Fatal(err)
	}
	if _, err := s.DB().Exec(`ANALYZE user_activities`); err != nil {
		b.Fatal(err)
	}
	deep := Key{At: time.Now().Add(-150 * 24 * time.Hour), ID: uuid.Max}
	action, key := "shipment.create", uuid.MustParse("00000000-0000-0000-0000-000000000003")
	rt, rid := "shipment", "none"
	for _, bb := range []struct {
		name string
		f    ActivityFilter
	}{
		{"first page", ActivityFilter{}},
		{"150 days deep", ActivityFilter{Page: Page{Before: &deep}}},
		{"action", ActivityFilter{Action: &action}},
		{"api key", ActivityFilter{APIKeyID: &key}},
		{"resource", ActivityFilter{ResourceType: &rt, ResourceID: &rid}},
	} {
		b.Run(bb.name, func(b *testing.B) {
			bb.f.Size = 100
			for b.Loop() {
				if _, _, err := s.Activities(context.Background(), bb.f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("prune 1000", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.PruneActivities(context.Background(), 90*24*time.Hour, 1000); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchStore is newStore for a benchmark.
func benchStore(b *testing.B) *Store {
	b.Helper()
	s, err := Open(testdb.New(b), PoolOptions{MaxOpenConns: 4, MaxIdleConns: 4, ConnectTimeout: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}
