package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/waybill/waybill/models"
)

// scenario is one line of the table: an HTTP load, and the pgbench script
// that sends the same SQL.
type scenario struct {
	name  string // as -scenarios names it
	title string // as the table shows it
	// dashboard scenarios run on the larger dataset (-dashboard-shipments).
	dashboard bool
	// load returns the requests the workers send.
	load func(f *fixtures) requestFunc
	// probe, if set, is sent from one more connection, every probePause,
	// while the workers run load; the line reports the probe.
	probe func(f *fixtures) requestFunc
	// probeRoute is the probe's route template: its latency as the server
	// timed it over the measured window is reported too.
	probeRoute string
	// script is the pgbench script in pgbench/ that sends the server's
	// statements, "" for none; simplest is the one with the simplest SQL
	// that returns the same data, the ceiling the target is judged
	// against. vars are the variables of both (pgbench -D).
	script, simplest string
	vars             func(f *fixtures) map[string]string
	// lookups is how many statements the script sends that the server
	// does not: the lookups of random ids in the helper tables.
	lookups int
	// coalesced says the server may answer concurrent requests with one
	// computation (the dashboard: models/coalesce.go), so that it runs
	// fewer statements than it answers requests: its SQL is compared with
	// the script's per statement executed, not per request (see
	// compareWork).
	coalesced bool
	target    target
}

// target is what a scenario must reach (SPEC.md section 11;
// docs/benchmarks.md lists the targets and why): a ratio to pgbench's rate
// on the simplest SQL, latency bounds; zero fields ask nothing.
type target struct {
	minRatio       float64 // of pgbench's rate on the simplest script
	maxP50, maxP99 time.Duration
	// maxAllocs and maxKiB are the route's budget of heap allocations
	// and bytes allocated per request, from the server's runtime.
	maxAllocs, maxKiB float64
}

// probePause spaces the /readyz probes: about a hundred a second, a
// thousand samples in a 10 s run, without the probe becoming load itself.
const probePause = 10 * time.Millisecond

// listStatus is the status filter of the list scenario. Most seeded
// shipments are delivered, so its pages are full and its cursors many.
const listStatus = models.StatusDelivered

// scenarios are every scenario, in the order of the table.
var scenarios = []scenario{
	{
		name: "get", title: "get one shipment",
		load: getOne, script: "get_one.sql", simplest: "get_one.simplest.sql", lookups: 1,
		vars: func(f *fixtures) map[string]string {
			return map[string]string{"nids": fmt.Sprint(len(f.ids))}
		},
		target: target{minRatio: 0.45, maxAllocs: 200, maxKiB: 32},
	},
	{
		name: "list", title: "list 20, status filter",
		load: func(f *fixtures) requestFunc {
			return func(ctx context.Context, rng *rand.Rand) *http.Request {
				dir := "before_id"
				if rng.IntN(2) == 0 {
					dir = "after_id"
				}
				q := url.Values{"status": {listStatus}, "page_size": {"20"}, dir: {f.listIDs[rng.IntN(len(f.listIDs))]}}
				return f.get(ctx, "/v1/shipments?"+q.Encode())
			}
		},
		script: "list_page.sql", simplest: "list_page.simplest.sql", lookups: 1,
		vars: func(f *fixtures) map[string]string {
			return map[string]string{"nlist": fmt.Sprint(len(f.listIDs)), "status": listStatus}
		},
		target: target{minRatio: 0.45, maxP99: 30 * time.Millisecond, maxAllocs: 2100, maxKiB: 96},
	},
	{
		name: "create", title: "create with addresses + parcel",
		load: func(f *fixtures) requestFunc {
			return func(ctx context.Context, rng *rand.Rand) *http.Request {
				n := rng.Uint64()
				req := f.request(ctx, http.MethodPost, "/v1/shipments", fmt.Sprintf(createBody, n))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Idempotency-Key", fmt.Sprintf("bench-%016x", n))
				return req
			}
		},
		script: "create.sql", simplest: "create.simplest.sql", lookups: 1,
		vars: func(f *fixtures) map[string]string {
			// What the idempotency record stores: the hash of the request,
			// the response's headers and body, as large as the server's.
			hash := sha256.Sum256([]byte(createBody))
			headers, _ := json.Marshal(map[string]string{
				"Content-Type": "application/json", "ETag": `"0123456789abcdef0123456789abcdef"`,
				"Location": "/v1/shipments/00000000-0000-0000-0000-000000000000",
			})
			return map[string]string{
				"api_key_id": f.keyID, "req_hash": `\x` + hex.EncodeToString(hash[:]),
				"resp_headers": string(headers), "resp_body": `\x` + hex.EncodeToString(f.createResponse),
			}
		},
		target: target{minRatio: 0.65, maxAllocs: 1600, maxKiB: 112},
	},
	{
		name: "dashboard", title: "dashboard, 30 days", dashboard: true,
		load: func(f *fixtures) requestFunc {
			return func(ctx context.Context, _ *rand.Rand) *http.Request {
				return f.get(ctx, "/v1/analytics/dashboard?start_date="+f.dashStart.Format(time.DateOnly)+"&end_date="+f.dashEnd.Format(time.DateOnly))
			}
		},
		script: "dashboard.sql", simplest: "dashboard.simplest.sql", coalesced: true,
		vars: func(f *fixtures) map[string]string {
			return map[string]string{
				"start_date": f.dashStart.Format(time.DateOnly), "end_date": f.dashEnd.Format(time.DateOnly),
			}
		},
		target: target{minRatio: 0.90, maxP50: 50 * time.Millisecond},
	},
	{
		name: "readyz", title: "/readyz under get-one load",
		load: getOne,
		probe: func(f *fixtures) requestFunc {
			return func(ctx context.Context, _ *rand.Rand) *http.Request {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.base+"/readyz", nil)
				return req
			}
		},
		probeRoute: "/readyz",
		target:     target{maxP99: 5 * time.Millisecond},
	},
}

func getOne(f *fixtures) requestFunc {
	return func(ctx context.Context, rng *rand.Rand) *http.Request {
		return f.get(ctx, "/v1/shipments/"+f.ids[rng.IntN(len(f.ids))])
	}
}

// createBody is the body of the create scenario, %d a random reference;
// pgbench/create.sql inserts the same values.
const createBody = `{"reference": "bench-%d", "carrier": "USPS", "service": "Priority",
 "from_address": {"name": "Ada Lovelace", "company": "Analytical Engines", "street1": "1 Main St",
                  "city": "Springfield", "state": "IL", "zip": "62701", "country": "US", "phone": "+12175550100"},
 "to_address": {"name": "Charles Babbage", "street1": "2 Rue de Rivoli", "city": "Paris", "zip": "75001",
                "country": "FR", "residential": true},
 "parcel": {"length": 10, "width": 8, "height": 4, "weight": 16.5},
 "total_cost": 12.10}`

func scenarioNames() []string {
	var names []string
	for _, s := range scenarios {
		names = append(names, s.name)
	}
	return names
}

// pickScenarios returns the scenarios named in the comma-separated list,
// in table order.
func pickScenarios(list string) ([]scenario, error) {
	want := map[string]bool{}
	for _, n := range strings.Split(list, ",") {
		if n = strings.TrimSpace(n); n != "" {
			want[n] = true
		}
	}
	var out []scenario
	for _, s := range scenarios {
		if want[s.name] {
			out = append(out, s)
			delete(want, s.name)
		}
	}
	for n := range want {
		return nil, fmt.Errorf("-scenarios: unknown scenario %q (have %s)", n, strings.Join(scenarioNames(), ", "))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-scenarios: none given")
	}
	return out, nil
}

// fixtures are what the requests and the pgbench scripts of a run draw on.
type fixtures struct {
	base  string // the server, http://127.0.0.1:port
	key   string // the API key
	keyID string
	// ids are every shipment's id and listIDs those with listStatus, in
	// the order of the helper tables bench_ids and bench_list_ids.
	ids, listIDs []string
	// dashStart and dashEnd are the dashboard's 30 days, ending on the day
	// of the newest seeded shipment: a cached template ages, but its last
	// 30 days always hold the same shipments.
	dashStart, dashEnd time.Time
	// createResponse is the body of a create, to size pgbench's stored
	// idempotent response like the server's.
	createResponse []byte
}

func (f *fixtures) request(ctx context.Context, method, path, body string) *http.Request {
	req, err := http.NewRequestWithContext(ctx, method, f.base+path, strings.NewReader(body))
	if err != nil {
		panic(err) // only a malformed method or URL, which are ours
	}
	req.Header.Set("Authorization", "Bearer "+f.key)
	return req
}

func (f *fixtures) get(ctx context.Context, path string) *http.Request {
	return f.request(ctx, http.MethodGet, path, "")
}

// prepareFixtures reads the key's id and the dashboard's range from the
// run database and, when ids is set, creates the helper tables of random
// ids that the pgbench scripts pick from and loads the same ids for the
// HTTP load.
func prepareFixtures(ctx context.Context, dbURL, key string, ids bool) (*fixtures, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	hash := models.HashKey(key)
	f := &fixtures{key: key}
	if err := conn.QueryRow(ctx, "SELECT id::text FROM api_keys WHERE key_hash = $1", hash).Scan(&f.keyID); err != nil {
		return nil, fmt.Errorf("the bench API key: %w", err)
	}
	if err := conn.QueryRow(ctx, "SELECT (max(created_at) AT TIME ZONE 'UTC')::date FROM shipments").Scan(&f.dashEnd); err != nil {
		return nil, err
	}
	f.dashStart = f.dashEnd.AddDate(0, 0, -29)
	if !ids {
		return f, nil
	}
	for _, t := range []struct {
		table string
		where string
		dst   *[]string
	}{{"bench_ids", "true", &f.ids}, {"bench_list_ids", "status = '" + listStatus + "'", &f.listIDs}} {
		_, err := conn.Exec(ctx, fmt.Sprintf(`
			CREATE TABLE %[1]s (n integer PRIMARY KEY, id uuid NOT NULL);
			INSERT INTO %[1]s SELECT row_number() OVER (ORDER BY id), id FROM shipments WHERE %[2]s;
			ANALYZE %[1]s`, t.table, t.where))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.table, err)
		}
		rows, err := conn.Query(ctx, "SELECT id::text FROM "+t.table+" ORDER BY n")
		if err != nil {
			return nil, err
		}
		if *t.dst, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return nil, err
		}
		if len(*t.dst) == 0 {
			return nil, fmt.Errorf("%s is empty: the seed made no such shipments", t.table)
		}
	}
	return f, nil
}
