// Package seed generates realistic demo shipments — addresses in real
// cities, carriers and services, costs, a plausible status lifecycle with
// its tracking events — and loads them with COPY. The same seed gives the
// same data.
package seed

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Options controls a generation.
type Options struct {
	Shipments int
	// Seed makes the data reproducible: the same seed, count and
	// database clock give the same rows.
	Seed uint64
	// Days is how far back created_at spreads (default 90).
	Days int
	// Now, if not zero, replaces the database's now() as the time the
	// data leads up to (for reproducible tests).
	Now time.Time
	// Progress, if not nil, is called with the number of shipments
	// loaded so far.
	Progress func(done int)
}

// batch is how many shipments are generated and copied at a time: large
// enough for COPY's speed, small enough to keep memory flat.
const batch = 10_000

// Load generates o.Shipments shipments with their parcels and events, over
// a shared set of addresses, and copies them into the database on conn in
// one transaction. Times are relative to the database's now(), never the
// Go clock.
func Load(ctx context.Context, conn *pgx.Conn, o Options) error {
	if o.Shipments < 0 {
		return fmt.Errorf("shipments must not be negative")
	}
	if o.Days <= 0 {
		o.Days = 90
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	now := o.Now
	if now.IsZero() {
		if err := tx.QueryRow(ctx, "SELECT date_trunc('second', now())").Scan(&now); err != nil {
			return err
		}
	}
	g := newGenerator(o.Seed, now.UTC(), o.Days)

	addresses := g.addresses(max(10, min(o.Shipments/20, 20_000)))
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"addresses"},
		[]string{"id", "name", "street1", "city", "state", "zip", "country", "is_residential", "created_at", "updated_at"},
		pgx.CopyFromSlice(len(addresses), func(i int) ([]any, error) { return addresses[i].row(), nil })); err != nil {
		return fmt.Errorf("copy addresses: %w", err)
	}
	// Generate the next batch while the database takes this one: the
	// generator and PostgreSQL each keep a core busy.
	batches := make(chan [3][][]any, 1)
	genCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		defer close(batches)
		for left := o.Shipments; left > 0; left -= batch {
			parcels, shipments, events := g.shipments(min(batch, left), addresses)
			select {
			case batches <- [3][][]any{parcels, shipments, events}:
			case <-genCtx.Done():
				return
			}
		}
	}()
	done := 0
	for b := range batches {
		for i, c := range []struct {
			table string
			cols  []string
		}{{"parcels", parcelColumns}, {"shipments", shipmentColumns}, {"shipment_events", eventColumns}} {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{c.table}, c.cols, pgx.CopyFromRows(b[i])); err != nil {
				return fmt.Errorf("copy %s: %w", c.table, err)
			}
		}
		done += len(b[1])
		if o.Progress != nil {
			o.Progress(done)
		}
	}
	return tx.Commit(ctx)
}

type place struct{ city, state, zip, country string }

// location is the place as a tracking_location document.
func (p place) location() string {
	return fmt.Sprintf(`{"city": %q, "state": %q, "country": %q}`, p.city, p.state, p.country)
}

// places are real cities; most traffic is domestic (US), some
// international.
var places = []place{
	{"New York", "NY", "10001", "US"}, {"Los Angeles", "CA", "90012", "US"}, {"Chicago", "IL", "60601", "US"},
	{"Houston", "TX", "77002", "US"}, {"Phoenix", "AZ", "85004", "US"}, {"Philadelphia", "PA", "19103", "US"},
	{"San Antonio", "TX", "78205", "US"}, {"San Diego", "CA", "92101", "US"}, {"Dallas", "TX", "75201", "US"},
	{"Austin", "TX", "78701", "US"}, {"Seattle", "WA", "98101", "US"}, {"Denver", "CO", "80202", "US"},
	{"Boston", "MA", "02108", "US"}, {"Atlanta", "GA", "30303", "US"}, {"Miami", "FL", "33131", "US"},
	{"Portland", "OR", "97204", "US"}, {"Minneapolis", "MN", "55401", "US"}, {"Nashville", "TN", "37219", "US"},
	{"Salt Lake City", "UT", "84111", "US"}, {"Springfield", "IL", "62701", "US"},
	{"Toronto", "ON", "M5H 2N2", "CA"}, {"Vancouver", "BC", "V6B 1A1", "CA"}, {"London", "", "EC1A 1BB", "GB"},
	{"Paris", "", "75001", "FR"}, {"Berlin", "", "10117", "DE"}, {"Amsterdam", "", "1012 JS", "NL"},
	{"Mexico City", "CDMX", "06000", "MX"}, {"Tokyo", "", "100-0005", "JP"}, {"Sydney", "NSW", "2000", "AU"},
}

var (
	firstNames = []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Tim", "Hedy", "Linus"}
	lastNames  = []string{"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Perlman", "Berners-Lee", "Lamarr", "Torvalds"}
	streets    = []string{"Main St", "Oak Ave", "Maple Dr", "Cedar Ln", "Pine St", "Elm St", "Washington Blvd", "Lake Rd", "Hill St", "Park Ave"}
)

// service is a carrier's service with its speed and price.
type service struct {
	carrier, name string
	days          int     // promised transit days
	base, perLb   float64 // dollars
	intl          bool    // usable abroad
}

var services = []service{
	{"USPS", "GroundAdvantage", 5, 5.40, 0.55, false}, {"USPS", "Priority", 3, 8.70, 0.90, false},
	{"USPS", "Express", 1, 28.75, 1.80, false}, {"UPS", "Ground", 4, 9.20, 0.70, false},
	{"UPS", "2ndDayAir", 2, 19.60, 1.40, false}, {"UPS", "NextDayAir", 1, 36.10, 2.30, false},
	{"FedEx", "FEDEX_GROUND", 4, 9.05, 0.68, false}, {"FedEx", "FEDEX_2_DAY", 2, 20.40, 1.45, false},
	{"FedEx", "PRIORITY_OVERNIGHT", 1, 39.90, 2.50, false}, {"DHLExpress", "ExpressWorldwide", 4, 42.00, 3.10, true},
	{"USPS", "PriorityMailInternational", 8, 45.50, 2.20, true},
}

type generator struct {
	rng  *rand.Rand
	now  time.Time
	days int
}

func newGenerator(seed uint64, now time.Time, days int) *generator {
	return &generator{rng: rand.New(rand.NewPCG(seed, seed^0x9E3779B97F4A7C15)), now: now, days: days}
}

// id is a version-4 UUID drawn from the generator, so ids repeat with the seed.
func (g *generator) id() uuid.UUID {
	var u uuid.UUID
	binary.LittleEndian.PutUint64(u[:8], g.rng.Uint64())
	binary.LittleEndian.PutUint64(u[8:], g.rng.Uint64())
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}

func pick[T any](g *generator, xs []T) T { return xs[g.rng.IntN(len(xs))] }

type address struct {
	id          uuid.UUID
	name        string
	street      string
	p           place
	residential bool
	at          time.Time
}

func (a address) row() []any {
	var state any
	if a.p.state != "" {
		state = a.p.state
	}
	return []any{a.id, a.name, a.street, a.p.city, state, a.p.zip, a.p.country, a.residential, a.at, a.at}
}

func (g *generator) addresses(n int) []address {
	out := make([]address, n)
	earliest := g.now.AddDate(0, 0, -g.days-30)
	for i := range out {
		p := places[g.rng.IntN(20)] // mostly US
		if g.rng.IntN(10) == 0 {
			p = pick(g, places)
		}
		out[i] = address{
			id: g.id(), name: pick(g, firstNames) + " " + pick(g, lastNames),
			street: fmt.Sprintf("%d %s", 1+g.rng.IntN(9999), pick(g, streets)),
			p:      p, residential: g.rng.IntN(3) > 0,
			at: earliest.Add(time.Duration(g.rng.Int64N(int64(30 * 24 * time.Hour)))),
		}
	}
	return out
}

var (
	parcelColumns   = []string{"id", "length", "width", "height", "weight", "mass_unit", "distance_unit", "created_at", "updated_at"}
	shipmentColumns = []string{"id", "mode", "reference", "status", "tracking_code", "carrier", "service", "from_address_id",
		"to_address_id", "parcel_id", "base_cost", "total_cost", "currency", "delivery_days", "delivery_date",
		"est_delivery_date", "weight", "created_at", "updated_at"}
	eventColumns = []string{"id", "shipment_id", "status", "message", "carrier_status", "tracking_location", "event_datetime", "created_at"}
)

// shipments generates n shipments, each with a parcel and the tracking
// events of its lifecycle so far.
func (g *generator) shipments(n int, addrs []address) (parcels, shipments, events [][]any) {
	span := time.Duration(g.days) * 24 * time.Hour
	for range n {
		created := g.now.Add(-time.Duration(g.rng.Int64N(int64(span)))).Truncate(time.Microsecond)
		from := addrs[g.rng.IntN(len(addrs))]
		to := addrs[g.rng.IntN(len(addrs))]
		for to.id == from.id {
			to = addrs[g.rng.IntN(len(addrs))]
		}
		intl := from.p.country != to.p.country
		svc := pick(g, services)
		for svc.intl != intl {
			svc = pick(g, services)
		}
		weightOz := math.Round((2+g.rng.ExpFloat64()*30)*10) / 10
		parcelID := g.id()
		parcels = append(parcels, []any{parcelID, float64(4 + g.rng.IntN(20)), float64(4 + g.rng.IntN(16)),
			float64(1 + g.rng.IntN(12)), weightOz, "oz", "in", created, created})

		base := svc.base + svc.perLb*weightOz/16
		total := base * (1.05 + g.rng.Float64()*0.15) // fuel surcharge and fees
		currency := "USD"
		if intl && to.p.country != "CA" && g.rng.IntN(4) == 0 {
			currency = "EUR"
		}
		est := created.Add(time.Duration(svc.days)*24*time.Hour + 18*time.Hour).Truncate(time.Hour)
		status, delivered, evs := g.lifecycle(created, est, to.p)
		var deliveryDate, deliveryDays any
		if delivered != nil {
			deliveryDate = *delivered
			deliveryDays = int(math.Ceil(delivered.Sub(created).Hours() / 24))
		}
		id := g.id()
		shipments = append(shipments, []any{id, "production", fmt.Sprintf("order-%08d", g.rng.IntN(1e8)), status,
			fmt.Sprintf("9400%018d", g.rng.Int64N(1e18)), svc.carrier, svc.name, from.id, to.id, parcelID,
			money(base), money(total), currency, deliveryDays, deliveryDate, est, weightOz, created, lastTime(created, evs)})
		for _, e := range evs {
			events = append(events, []any{g.id(), id, e.status, e.message, e.status, e.location, e.at, e.at})
		}
	}
	return parcels, shipments, events
}

type event struct {
	status, message string
	location        string
	at              time.Time
}

// lifecycle decides how far a shipment created at created has come by
// now: its status, when it was delivered (if it was), and its events.
// Older shipments are mostly delivered, about 85 % of them on time; a few
// fail, return or are cancelled; recent ones are still on their way.
func (g *generator) lifecycle(created, est time.Time, to place) (string, *time.Time, []event) {
	loc := to.location()
	at := func(d time.Duration) time.Time { return created.Add(d).Truncate(time.Microsecond) }
	labelAt := at(time.Hour)
	if labelAt.After(g.now) {
		return "unknown", nil, nil
	}
	evs := []event{{"pre_transit", "Shipping label created", loc, labelAt}}
	if cancelAt := at(5 * time.Hour); g.rng.IntN(100) < 2 && cancelAt.Before(g.now) {
		return "cancelled", nil, append(evs, event{"cancelled", "Shipment cancelled by sender", loc, cancelAt})
	}
	transitAt := at(20 * time.Hour)
	if transitAt.After(g.now) {
		return "pre_transit", nil, evs
	}
	evs = append(evs, event{"in_transit", "Departed shipping partner facility", loc, transitAt})
	// Delivery: usually by the promised date, sometimes a day or three late.
	deliverAt := est.Add(-time.Duration(g.rng.IntN(20)) * time.Hour)
	if g.rng.IntN(100) < 15 {
		deliverAt = est.Add(time.Duration(1+g.rng.IntN(3)) * 24 * time.Hour)
	}
	deliverAt = deliverAt.Truncate(time.Microsecond)
	outAt := deliverAt.Add(-4 * time.Hour)
	switch roll := g.rng.IntN(100); {
	case roll < 2:
		failAt := at(40 * time.Hour)
		if failAt.Before(g.now) {
			return "failure", nil, append(evs, event{"failure", "Delivery exception: address not found", loc, failAt})
		}
	case roll < 4:
		retAt := deliverAt.Add(24 * time.Hour)
		if retAt.Before(g.now) {
			return "return_to_sender", nil, append(evs, event{"return_to_sender", "Returned to sender", loc, retAt})
		}
	case roll < 6:
		if deliverAt.Before(g.now) {
			return "available_for_pickup", nil, append(evs, event{"available_for_pickup", "Available for pickup at the post office", loc, deliverAt})
		}
	}
	if outAt.After(g.now) {
		return "in_transit", nil, evs
	}
	evs = append(evs, event{"out_for_delivery", "Out for delivery", loc, outAt})
	if deliverAt.After(g.now) {
		return "out_for_delivery", nil, evs
	}
	return "delivered", &deliverAt, append(evs, event{"delivered", "Delivered, front door", loc, deliverAt})
}

func lastTime(created time.Time, evs []event) time.Time {
	last := created
	for _, e := range evs {
		if e.at.After(last) {
			last = e.at
		}
	}
	return last
}

// money rounds dollars to the cent, as numeric(12,2) text.
func money(dollars float64) string { return fmt.Sprintf("%.2f", math.Round(dollars*100)/100) }
