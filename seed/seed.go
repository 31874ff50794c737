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
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/waybill/waybill/models"
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
	// loaded so far, after each batch: from Load's goroutines, but one
	// call at a time.
	Progress func(done int)
}

// batch is how many shipments are generated and copied at a time: large
// enough for COPY's speed, small enough to keep memory flat.
const batch = 10_000

// Load generates o.Shipments shipments with their parcels and events, over
// a shared set of addresses, and copies them into the database. Times are
// relative to the database's now(), never the Go clock.
//
// The addresses are committed first. The shipments then go in over two
// connections, conn and a second one that Load opens with conn's
// configuration, each in a transaction of its own, so that the database
// works on two cores; the two commit one after the other at the end. If
// anything fails before that, both roll back and the addresses are deleted
// again, leaving the database as it was. Only a failure between the two
// commits leaves part of the shipments, and the error says how many.
func Load(ctx context.Context, conn *pgx.Conn, o Options) error {
	if o.Shipments < 0 {
		return fmt.Errorf("shipments must not be negative")
	}
	if o.Days <= 0 {
		o.Days = 90
	}
	now := o.Now
	if now.IsZero() {
		var err error
		if now, err = models.DatabaseNow(ctx, conn); err != nil {
			return err
		}
	}
	g := newGenerator(o.Seed, now.UTC(), o.Days, o.Shipments)
	addresses, rows := g.addresses(max(10, min(o.Shipments/20, 20_000)))
	if err := rows.copyTo(ctx, conn.PgConn()); err != nil {
		return err
	}
	committed, err := loadShipments(ctx, conn, g, addresses, o)
	switch {
	case err != nil && committed > 0:
		return fmt.Errorf("%w (%d of the %d shipments were committed)", err, committed, o.Shipments)
	case err != nil:
		if derr := deleteAddresses(ctx, conn.Config(), addresses); derr != nil {
			return fmt.Errorf("%w (and the %d addresses loaded before stay: %v)", err, len(addresses), derr)
		}
	}
	return err
}

// loadShipments generates the shipments and copies them over conn and a
// second connection, and returns how many it committed.
func loadShipments(ctx context.Context, conn *pgx.Conn, g *generator, addresses []address, o Options) (int, error) {
	other, err := pgx.ConnectConfig(ctx, conn.Config())
	if err != nil {
		return 0, fmt.Errorf("second connection: %w", err)
	}
	defer other.Close(context.WithoutCancel(ctx))
	loaders := []*loader{{conn: conn}, {conn: other}}
	for _, l := range loaders {
		if l.tx, err = l.conn.Begin(ctx); err != nil {
			return 0, err
		}
		defer l.tx.Rollback(context.WithoutCancel(ctx))
	}

	eg, gctx := errgroup.WithContext(ctx)
	batches := make(chan *shipmentBatch, 1)
	// One goroutine generates, in order, so the data does not depend on
	// which connection is faster; the loaders take the batches as they
	// come.
	eg.Go(func() error {
		defer close(batches)
		for left := o.Shipments; left > 0; left -= batch {
			select {
			case batches <- g.shipments(min(batch, left), addresses):
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	var (
		mu   sync.Mutex
		done int
	)
	for _, l := range loaders {
		eg.Go(func() error {
			for b := range batches {
				if err := l.copy(gctx, b); err != nil {
					return err
				}
				mu.Lock()
				done += b.shipments.rows
				if o.Progress != nil {
					o.Progress(done)
				}
				mu.Unlock()
			}
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return 0, err
	}
	committed := 0
	for _, l := range loaders {
		if err := l.tx.Commit(ctx); err != nil {
			return committed, fmt.Errorf("commit: %w", err)
		}
		committed += l.shipments
	}
	return committed, nil
}

// A loader copies batches of shipments in one transaction.
type loader struct {
	conn      *pgx.Conn
	tx        pgx.Tx
	shipments int // copied so far
}

func (l *loader) copy(ctx context.Context, b *shipmentBatch) error {
	for _, rows := range []*copyData{&b.parcels, &b.shipments, &b.events} {
		if err := rows.copyTo(ctx, l.tx.Conn().PgConn()); err != nil {
			return err
		}
	}
	l.shipments += b.shipments.rows
	return nil
}

// deleteAddresses deletes the addresses of a load that failed, on a
// connection of its own: the load's may have closed with its context.
func deleteAddresses(ctx context.Context, cfg *pgx.ConnConfig, addresses []address) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	ids := make([]uuid.UUID, len(addresses))
	for i, a := range addresses {
		ids[i] = a.id
	}
	return models.DeleteAddresses(ctx, conn, ids)
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
	rng     *rand.Rand
	now     time.Time
	days    int
	created arrivals // when the shipments are made, oldest first
	// The last order number and label serial: both rise with time.
	order, label int64
}

func newGenerator(seed uint64, now time.Time, days, shipments int) *generator {
	g := &generator{rng: rand.New(rand.NewPCG(seed, seed^0x9E3779B97F4A7C15)), now: now, days: days}
	g.created = g.arrivals(now, time.Duration(days)*24*time.Hour, shipments)
	g.order = g.rng.Int64N(1e7)
	g.label = g.rng.Int64N(1e17)
	return g
}

// arrivals are n times spread uniformly at random over the span that ends
// at end, drawn oldest first.
type arrivals struct {
	rng  *rand.Rand
	end  time.Time
	span time.Duration
	left int
	u    float64 // the last time drawn, as a fraction of span before end
}

func (g *generator) arrivals(end time.Time, span time.Duration, n int) arrivals {
	return arrivals{rng: g.rng, end: end, span: span, left: n, u: 1}
}

// next returns the next time, to the microsecond. Of k uniform draws the
// largest is distributed as V^(1/k) for one uniform V, and the other k-1
// are uniform below it, so the draws come largest first, each the one
// before times V^(1/k), with no sort and no slice (Bentley and Saxe,
// "Generating sorted lists of random numbers", 1980).
func (a *arrivals) next() time.Time {
	a.u *= math.Pow(1-a.rng.Float64(), 1/float64(a.left))
	a.left--
	return a.end.Add(-time.Duration(a.u * float64(a.span))).Truncate(time.Microsecond)
}

// id is a version-7 UUID for a row made at t: 48 bits of t's Unix
// milliseconds, then 12 bits of its fraction of a millisecond (RFC 9562,
// method 3), so ids sort as their times do and rows made in order go to
// the end of their indexes. The 62 random bits come from the generator,
// so ids repeat with the seed.
func (g *generator) id(t time.Time) uuid.UUID {
	var u uuid.UUID
	ms := t.UnixMilli()
	frac := uint64(t.Sub(time.UnixMilli(ms))) * 4096 / uint64(time.Millisecond)
	binary.BigEndian.PutUint64(u[:8], uint64(ms)<<16|7<<12|frac)
	binary.BigEndian.PutUint64(u[8:], g.rng.Uint64()>>2|1<<63)
	return u
}

func pick[T any](g *generator, xs []T) T { return xs[g.rng.IntN(len(xs))] }

type address struct {
	id  uuid.UUID
	p   place
	loc string // p.location()
}

// addresses generates n addresses, made in the 30 days before the first
// shipment, and their rows.
func (g *generator) addresses(n int) ([]address, *copyData) {
	out := make([]address, n)
	rows := &copyData{table: "addresses",
		columns: []string{"id", "name", "street1", "city", "state", "zip", "country", "is_residential", "created_at", "updated_at"}}
	made := g.arrivals(g.now.AddDate(0, 0, -g.days), 30*24*time.Hour, n)
	for i := range out {
		p := places[g.rng.IntN(20)] // mostly US
		if g.rng.IntN(10) == 0 {
			p = pick(g, places)
		}
		at := made.next()
		out[i] = address{id: g.id(at), p: p, loc: p.location()}
		rows.row().uuid(out[i].id).text(pick(g, firstNames) + " " + pick(g, lastNames)).
			text(strconv.Itoa(1+g.rng.IntN(9999)) + " " + pick(g, streets)).
			text(p.city).textOrNull(p.state).text(p.zip).text(p.country).bool(g.rng.IntN(3) > 0).time(at).time(at)
	}
	return out, rows
}

// A shipmentBatch is the rows of some shipments.
type shipmentBatch struct{ parcels, shipments, events copyData }

// shipments generates n shipments, each with a parcel and the tracking
// events of its lifecycle so far.
func (g *generator) shipments(n int, addrs []address) *shipmentBatch {
	b := &shipmentBatch{
		parcels: copyData{table: "parcels",
			columns: []string{"id", "length", "width", "height", "weight", "mass_unit", "distance_unit", "created_at", "updated_at"}},
		shipments: copyData{table: "shipments",
			columns: []string{"id", "mode", "reference", "status", "tracking_code", "carrier", "service", "from_address_id",
				"to_address_id", "parcel_id", "base_cost", "total_cost", "currency", "delivery_days", "delivery_date",
				"est_delivery_date", "weight", "created_at", "updated_at"}},
		events: copyData{table: "shipment_events",
			columns: []string{"id", "shipment_id", "status", "message", "carrier_status", "tracking_location", "event_datetime", "created_at"}},
	}
	// About the bytes a row takes, so that the buffers need not grow.
	b.parcels.grow(n * 110)
	b.shipments.grow(n * 300)
	b.events.grow(n * 4 * 200)
	for range n {
		created := g.created.next()
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
		parcelID := g.id(created)
		b.parcels.row().uuid(parcelID).float(float64(4 + g.rng.IntN(20))).float(float64(4 + g.rng.IntN(16))).
			float(float64(1 + g.rng.IntN(12))).float(weightOz).text("oz").text("in").time(created).time(created)

		base := svc.base + svc.perLb*weightOz/16
		total := base * (1.05 + g.rng.Float64()*0.15) // fuel surcharge and fees
		currency := "USD"
		if intl && to.p.country != "CA" && g.rng.IntN(4) == 0 {
			currency = "EUR"
		}
		est := created.Add(time.Duration(svc.days)*24*time.Hour + 18*time.Hour).Truncate(time.Hour)
		status, delivered, evs := g.lifecycle(created, est, to.loc)
		id := g.id(created)
		// Order numbers and label serials rise as a shop's do, with gaps
		// (orders not shipped from here, labels of other customers), which
		// also keeps their indexes appending.
		g.order += 1 + g.rng.Int64N(3)
		g.label += 1 + g.rng.Int64N(1000)
		s := b.shipments.row().uuid(id).text("production").text(digits("order-", g.order, 8)).text(status).
			text(digits("9400", g.label, 18)).text(svc.carrier).text(svc.name).uuid(from.id).uuid(to.id).uuid(parcelID).
			money(cents(base)).money(cents(total)).text(currency)
		if delivered != nil {
			s.int(int(math.Ceil(delivered.Sub(created).Hours() / 24))).time(*delivered)
		} else {
			s.null().null()
		}
		s.time(est).float(weightOz).time(created).time(lastTime(created, evs))
		for _, e := range evs {
			b.events.row().uuid(g.id(e.at)).uuid(id).text(e.status).text(e.message).text(e.status).jsonb(e.location).time(e.at).time(e.at)
		}
	}
	return b
}

// digits is prefix and n in width digits, with leading zeros.
func digits(prefix string, n int64, width int) string {
	s := strconv.FormatInt(n, 10)
	return prefix + strings.Repeat("0", max(0, width-len(s))) + s
}

// cents rounds dollars to the cent.
func cents(dollars float64) int64 { return int64(math.Round(dollars * 100)) }

type event struct {
	status, message string
	location        string
	at              time.Time
}

// lifecycle decides how far a shipment created at created, bound for the
// tracking location loc, has come by now: its status, when it was
// delivered (if it was), and its events. Older shipments are mostly
// delivered, about 85 % of them on time; a few fail, return or are
// cancelled; recent ones are still on their way.
func (g *generator) lifecycle(created, est time.Time, loc string) (string, *time.Time, []event) {
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
	// Delivery: usually by the promised date, sometimes a day or three
	// late, and never so early that it would go out for delivery (four
	// hours before) before it has departed.
	deliverAt := est.Add(-time.Duration(g.rng.IntN(20)) * time.Hour)
	if g.rng.IntN(100) < 15 {
		deliverAt = est.Add(time.Duration(1+g.rng.IntN(3)) * 24 * time.Hour)
	}
	if earliest := transitAt.Add(6 * time.Hour); deliverAt.Before(earliest) {
		deliverAt = earliest
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
