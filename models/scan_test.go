package models

import (
	"context"
	"math/big"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgtype"
)

// TestScanMatchesGORM reads shipments through the hot path (pgx, collect)
// and through GORM's own loading (expand: one statement per association)
// and wants the same values: a shipment with every column and association
// set, values that stress the scanners (money with and without cents, at
// the column's bound; jsonb; timestamps with microseconds), and a shipment
// with no optional column or association at all. The answer of the create
// itself, built from the RETURNING rows, must be the same too.
func TestScanMatchesGORM(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	str := func(v string) *string { return &v }
	money := func(v string) *Money {
		m, err := ParseMoney(v)
		if err != nil {
			t.Fatal(err)
		}
		return &m
	}
	at := func(v string) *Time {
		tm, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			t.Fatal(err)
		}
		return &Time{tm}
	}
	f := func(v float64) *float64 { return &v }
	yes, days := true, 3
	full := func(name string) *Address {
		return &Address{EasyPostID: str("adr_" + name), Name: str(name), Company: str("Co <&> \u2028"), Street1: "1 Main St",
			Street2: str("Apt 2"), City: "Springfield", State: str("IL"), Zip: "62701", Country: "US", Phone: str("+12175550100"),
			Email: str(name + "@example.com"), Residential: &yes, Verifications: JSON(`{"zip4": {"success": true, "errors": []}}`),
			CarrierFacility: str("ONTARIO"), FederalTaxID: str("12-3456789"), StateTaxID: str("IL-1")}
	}
	existing := Address{Street1: "2 Rue de Rivoli", City: "Paris", Zip: "75001", Country: "FR"}
	if err := s.CreateAddress(ctx, &existing); err != nil {
		t.Fatal(err)
	}
	cases := map[string]*Shipment{
		"everything set": {
			EasyPostID: str("shp_1"), Mode: "production", Reference: str("ref-1"), Status: StatusDelivered,
			TrackingCode: str("9400"), Carrier: str("USPS"), Service: str("Priority"),
			FromAddress: full("from"), ToAddress: full("to"), ReturnAddress: full("return"), BuyerAddress: full("buyer"),
			Parcel: &Parcel{EasyPostID: str("prcl_1"), Length: f(10.5), Width: f(8), Height: f(4.25), Weight: 16.5,
				PredefinedPackage: str("FlatRateEnvelope"), MassUnit: "oz", DistanceUnit: "in"},
			CustomsInfo: &CustomsInfo{EasyPostID: str("cstinfo_1"), ContentsType: "gift", ContentsExplanation: str("a gift"),
				CustomsCertify: false, CustomsSigner: str("Ada"), NonDeliveryOption: "abandon", RestrictionType: "other",
				RestrictionComments: str("none really"), CustomsItems: JSON(`[{"description": "T-shirt", "quantity": 2, "value": 10.1}]`),
				EELPFC: str("NOEEI 30.37(a)")},
			SelectedRateID: str("rate_1"), Rates: JSON(`[{"id": "rate_1", "rate": "7.10"}]`),
			BaseCost: money("7.10"), TotalCost: money("9999999999.99"), Currency: "EUR", DeliveryDays: &days,
			DeliveryDate: at("2026-11-28T17:39:55.123456Z"), EstDeliveryDate: at("2026-11-29T00:00:00Z"),
			TrackingDetails: JSON(`[{"message": "delivered", "status": "delivered"}]`), Weight: f(16.5),
			SignedBy: str("Charles"), BatchID: str("batch_1"), BatchStatus: str("created"), Metadata: JSON(`{"k": "v", "n": 1}`),
		},
		"nothing optional": {Mode: "test", Status: "unknown", Currency: "USD", FromAddressID: existing.ID, ToAddressID: existing.ID, TotalCost: money("100")},
	}
	equalTime := cmp.Comparer(func(a, b Time) bool { return a.Equal(b.Time) })
	for name, sh := range cases {
		t.Run(name, func(t *testing.T) {
			created, err := s.CreateShipment(ctx, sh)
			if err != nil {
				t.Fatal(err)
			}
			var want Shipment
			if err := expand(s.db).Take(&want, idIs(created.ID)).Error; err != nil {
				t.Fatal(err)
			}
			got, err := s.Shipment(ctx, created.ID)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(want, got, equalTime); d != "" {
				t.Errorf("Shipment (pgx) differs from GORM's load (-GORM +pgx):\n%s", d)
			}
			if d := cmp.Diff(want, created, equalTime); d != "" {
				t.Errorf("CreateShipment's answer differs from GORM's load (-GORM +answer):\n%s", d)
			}
			if created.Reference != nil {
				page, _, err := s.Shipments(ctx, ShipmentFilter{Reference: created.Reference, Page: Page{Size: 10}})
				if err != nil {
					t.Fatal(err)
				}
				if d := cmp.Diff([]Shipment{want}, page, equalTime); d != "" {
					t.Errorf("Shipments (pgx) differs from GORM's load (-GORM +pgx):\n%s", d)
				}
				return
			}
			// The associations absent: nil, not zero values.
			if got.Parcel != nil || got.CustomsInfo != nil || got.ReturnAddress != nil || got.BuyerAddress != nil {
				t.Errorf("absent associations read as %+v %+v %+v %+v, want nil", got.Parcel, got.CustomsInfo, got.ReturnAddress, got.BuyerAddress)
			}
		})
	}
}

// TestMoneyScanNumeric scans numerics of every scale pgx may hand over:
// the columns' own (cents), trimmed, whole, and one with too many places.
func TestMoneyScanNumeric(t *testing.T) {
	for _, c := range []struct {
		int  int64
		exp  int32
		want Money
		err  bool
	}{
		{1210, -2, 1210, false},
		{121, -1, 1210, false},
		{-5, 0, -500, false},
		{3, 2, 30000, false},
		{12345, -3, 0, true},
	} {
		var m Money
		err := m.ScanNumeric(pgtype.Numeric{Int: big.NewInt(c.int), Exp: c.exp, Valid: true})
		if (err != nil) != c.err || (!c.err && m != c.want) {
			t.Errorf("ScanNumeric(%de%d) = %v, %v; want %v, error %v", c.int, c.exp, m, err, c.want, c.err)
		}
	}
}
