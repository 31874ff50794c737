package models

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkShipmentPage reads a page of 20 expanded shipments with the
// same statement two ways: GORM's Find over database/sql (how the list was
// read before) and the store's own path (pgx, collect). The difference is
// the scanning: GORM's reflection per row and field against a row plan and
// pgx scan plans made once.
//
//	go test ./models -run '^$' -bench ShipmentPage -benchmem
func BenchmarkShipmentPage(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	from := Address{Street1: "1 Main St", City: "Springfield", Zip: "62701", Country: "US"}
	if err := s.CreateAddress(ctx, &from); err != nil {
		b.Fatal(err)
	}
	total := Money(1210)
	for i := range 20 {
		ref := fmt.Sprint("bench-", i)
		sh := &Shipment{Mode: "test", Status: StatusDelivered, Currency: "USD", Reference: &ref, FromAddressID: from.ID,
			ToAddress: &Address{Street1: "2 Rue de Rivoli", City: "Paris", Zip: "75001", Country: "FR"},
			Parcel:    &Parcel{Weight: 16.5, MassUnit: "oz", DistanceUnit: "in"}, TotalCost: &total,
			Rates: JSON(`[{"id": "rate_1", "rate": "7.10"}]`)}
		if _, err := s.CreateShipment(ctx, sh); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("gorm", func(b *testing.B) {
		for b.Loop() {
			var rows []Shipment
			if err := joined(s.db.WithContext(ctx)).Order("shipments.created_at DESC").Limit(21).Find(&rows).Error; err != nil || len(rows) != 20 {
				b.Fatal(err, len(rows))
			}
		}
	})
	b.Run("pgx", func(b *testing.B) {
		for b.Loop() {
			rows, _, err := s.Shipments(ctx, ShipmentFilter{Page: Page{Size: 20}})
			if err != nil || len(rows) != 20 {
				b.Fatal(err, len(rows))
			}
		}
	})
}
