package models

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
)

// demoShipments is how many shipments SeedDemo creates.
const demoShipments = 20

// lockShipments and anyShipment let one demo load at a time see whether
// the shipments table is empty.
var (
	lockShipments = statement{name: "lock shipments", sql: `LOCK TABLE shipments IN SHARE ROW EXCLUSIVE MODE`}
	anyShipment   = statement{name: "any shipment", sql: `SELECT EXISTS (SELECT 1 FROM shipments)`}
)

// SeedDemo loads a small demo data set for local development: five
// addresses, five parcels and twenty shipments with varied statuses,
// carriers, services and costs. It runs in one transaction and does
// nothing if the shipments table already has rows. It returns the number
// of shipments it created (0 when it did nothing).
func (s *Store) SeedDemo(ctx context.Context) (int, error) {
	created := 0
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// Two dev runs starting at once: the second waits here and then
		// sees the first one's rows.
		if err := exec(ctx, tx.Statement.ConnPool, lockShipments); err != nil {
			return err
		}
		exists, err := queryRow[bool](ctx, tx.Statement.ConnPool, anyShipment)
		if err != nil {
			return err
		}
		if exists {
			return nil
		}
		addresses, parcels := demoAddresses(), demoParcels()
		if err := tx.Create(&addresses).Error; err != nil {
			return err
		}
		if err := tx.Create(&parcels).Error; err != nil {
			return err
		}
		shipments := demoShipmentRows(addresses, parcels, time.Now().UTC())
		if err := tx.Create(&shipments).Error; err != nil {
			return err
		}
		created = len(shipments)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("seed demo data: %w", classify(err))
	}
	return created, nil
}

// DemoShipmentID returns the id of the oldest shipment, for examples that
// need a real one. It returns ErrNotFound if there are no shipments.
func (s *Store) DemoShipmentID(ctx context.Context) (uuid.UUID, error) {
	var sh Shipment
	err := s.db.WithContext(ctx).Select("id").Order("created_at, id").Take(&sh).Error
	if err != nil {
		return uuid.Nil, fmt.Errorf("demo shipment: %w", classify(err))
	}
	return sh.ID, nil
}

func demoAddresses() []Address {
	addr := func(name, company, street, city, state, zip, country string, residential bool) Address {
		return Address{
			Name: &name, Company: optional(company), Street1: street, City: city,
			State: optional(state), Zip: zip, Country: country, Residential: &residential,
		}
	}
	return []Address{
		addr("Shipping Dept", "Waybill Demo Warehouse", "417 Montgomery St", "San Francisco", "CA", "94104", "US", false),
		addr("Ada Lovelace", "", "1 Infinite Loop Apt 4", "Cupertino", "CA", "95014", "US", true),
		addr("Grace Hopper", "Navy Yard Books", "1200 5th Ave", "New York", "NY", "10029", "US", false),
		addr("Alan Turing", "", "30 Bletchley Rd", "Milton Keynes", "", "MK3 6EB", "GB", true),
		addr("Returns", "Waybill Demo Warehouse", "2200 N Stemmons Fwy", "Dallas", "TX", "75207", "US", false),
	}
}

func demoParcels() []Parcel {
	parcel := func(l, w, h, weight float64, predefined string) Parcel {
		return Parcel{Length: &l, Width: &w, Height: &h, Weight: weight, PredefinedPackage: optional(predefined), MassUnit: "oz", DistanceUnit: "in"}
	}
	return []Parcel{
		parcel(6, 4, 2, 8, ""),
		parcel(10, 8, 4, 24, ""),
		parcel(12.5, 9.5, 0.75, 12, "FlatRateEnvelope"),
		parcel(16, 12, 8, 80, ""),
		parcel(24, 18, 12, 240, ""),
	}
}

// demoService is a carrier's service with a base rate (cents) and a
// promised delivery time.
type demoService struct {
	carrier, service string
	baseCents        Money
	days             int
}

var demoServices = []demoService{
	{"USPS", "Priority", 895, 2},
	{"USPS", "GroundAdvantage", 545, 4},
	{"UPS", "Ground", 1210, 4},
	{"UPS", "NextDayAir", 4650, 1},
	{"FedEx", "FEDEX_2_DAY", 2380, 2},
	{"FedEx", "FEDEX_GROUND", 1135, 3},
	{"DHLExpress", "ExpressWorldwide", 5875, 3},
}

var demoStatuses = []string{
	StatusDelivered, StatusInTransit, StatusDelivered, StatusPreTransit, StatusOutForDelivery,
	StatusDelivered, StatusInTransit, StatusAvailableForPickup, StatusReturnToSender, StatusFailure,
	StatusDelivered, StatusCancelled, StatusInTransit, StatusDelivered, StatusUnknown,
	StatusPreTransit, StatusDelivered, StatusError, StatusOutForDelivery, StatusDelivered,
}

// demoShipmentRows builds the shipments: all from the warehouse, to the
// other addresses in turn, with costs that vary by service and weight.
func demoShipmentRows(addresses []Address, parcels []Parcel, now time.Time) []Shipment {
	returnTo := addresses[4].ID
	rows := make([]Shipment, demoShipments)
	for i := range rows {
		svc := demoServices[i%len(demoServices)]
		to := addresses[1+i%3]
		if svc.carrier == "DHLExpress" {
			to = addresses[3] // the international one
		}
		parcel := parcels[i%len(parcels)]
		base := svc.baseCents + Money(parcel.Weight)*3
		total := base + base/10 // fuel surcharge and fees
		reference := fmt.Sprintf("DEMO-%04d", i+1)
		tracking := fmt.Sprintf("9400%018d", 111200000000000000+i)
		days := svc.days
		est := Time{now.Add(time.Duration(days) * 24 * time.Hour).Truncate(time.Microsecond)}
		weight := parcel.Weight
		sh := Shipment{
			Mode: "test", Reference: &reference, Status: demoStatuses[i%len(demoStatuses)],
			TrackingCode: &tracking, Carrier: &svc.carrier, Service: &svc.service,
			FromAddressID: addresses[0].ID, ToAddressID: to.ID, ReturnAddressID: &returnTo,
			ParcelID: &parcel.ID, BaseCost: &base, TotalCost: &total, Currency: "USD",
			DeliveryDays: &days, EstDeliveryDate: &est, Weight: &weight,
			Metadata: JSON(`{"demo": true}`),
		}
		if sh.Status == StatusDelivered {
			sh.DeliveryDate = &est
			signer := *to.Name
			sh.SignedBy = &signer
		}
		rows[i] = sh
	}
	return rows
}

// optional returns nil for "" and a pointer to s otherwise.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
