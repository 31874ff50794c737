//go:build linux

package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Pacing of the load's clients: a pause between requests, so that the
// clients, the server and PostgreSQL share the machine's two cores, and a
// shorter one before a retry, so that recovery is seen as soon as it
// happens (the clients do not wait the Retry-After's seconds).
const (
	pace       = 5 * time.Millisecond
	retryPause = 20 * time.Millisecond
	// keyGiveUp is how long after the load stops a keyed writer goes on
	// retrying its last key.
	keyGiveUp = 15 * time.Second
)

// Routes as the recorder labels them.
const (
	routeKeyed   = "POST /v1/shipments (keyed)"
	routeUnkeyed = "POST /v1/shipments (unkeyed)"
	routeEvent   = "POST /v1/shipments/{id}/events"
	routePatch   = "PATCH /v1/shipments/{id}"
	routeGet     = "GET /v1/shipments/{id}"
	routeList    = "GET /v1/shipments"
)

// shipmentBody is a shipment to create, told apart by its reference.
func shipmentBody(reference string) string {
	return `{"reference": "` + reference + `", "carrier": "USPS", "service": "Priority",
		"from_address": {"name": "Ada", "street1": "1 Main St", "city": "Springfield", "state": "IL", "zip": "62701"},
		"to_address": {"street1": "2 Rue de Rivoli", "city": "Paris", "zip": "75001", "country": "FR"},
		"parcel": {"weight": 16.5}, "base_cost": 12.10, "total_cost": 13.45}`
}

// answer is what one request got.
type answer struct {
	route       string
	status      int   // 0: no answer
	err         error // why there was no answer
	code        string
	id          string
	replayed    bool
	retryAfter  string
	problemJSON bool
	start, end  time.Time
}

func (a answer) took() time.Duration { return a.end.Sub(a.start) }

// client sends the load's requests and records every answer.
type client struct {
	base, key string
	http      *http.Client
	rec       *recorder
}

func newClient(s *server, rec *recorder) *client {
	tr := &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}
	return &client{base: s.base, key: s.key, rec: rec, http: &http.Client{Timeout: clientTimeout, Transport: tr}}
}

// close closes the client's idle connections, so that the server's
// goroutines for them end.
func (c *client) close() { c.http.CloseIdleConnections() }

// do sends one request (with Idempotency-Key idemKey if not empty),
// records its answer under route and returns it.
func (c *client) do(route, method, path, body, idemKey string) answer {
	a := answer{route: route}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		panic(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	a.start = time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		a.end, a.err = time.Now(), err
		c.rec.record(a)
		return a
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	a.end = time.Now()
	if err != nil {
		a.err = err
		c.rec.record(a)
		return a
	}
	a.status = resp.StatusCode
	a.retryAfter = resp.Header.Get("Retry-After")
	a.replayed = resp.Header.Get("Idempotent-Replayed") == "true"
	a.problemJSON = strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json")
	var doc struct {
		ID   string `json:"id"`
		Code string `json:"code"`
	}
	_ = json.Unmarshal(b, &doc)
	a.id, a.code = doc.ID, doc.Code
	c.rec.record(a)
	return a
}

// examples counts occurrences of one kind of failure and keeps the first
// few, so that a failing run prints a short, precise summary.
type examples struct {
	n     int
	first []string
}

func (e *examples) add(format string, args ...any) {
	e.n++
	if len(e.first) < 5 {
		e.first = append(e.first, fmt.Sprintf(format, args...))
	}
}

func (e *examples) String() string {
	s := fmt.Sprintf("%d times", e.n)
	for _, f := range e.first {
		s += "\n\t" + f
	}
	if e.n > len(e.first) {
		s += "\n\t…"
	}
	return s
}

// routeStats is what the recorder knows of one route.
type routeStats struct {
	statuses map[string]int // by status, and problem code for errors
	noAnswer int
	max      time.Duration
}

// recorder checks every answer against the promises that hold whatever
// the fault: no 5xx but 503, a 503 with Retry-After and a problem document
// of an expected code, no answer later than answerLimit, no 4xx that a
// correct request cannot earn. It keeps figures per route and when each
// 2xx arrived.
type recorder struct {
	t0 time.Time
	// codes503 are the problem codes a 503 may carry.
	codes503 []string

	mu       sync.Mutex
	routes   map[string]*routeStats
	answers  []answer
	failures map[string]*examples
	noAnswer examples
}

func newRecorder(codes503 ...string) *recorder {
	return &recorder{t0: time.Now(), codes503: codes503, routes: map[string]*routeStats{}, failures: map[string]*examples{}}
}

func (r *recorder) at(t time.Time) string { return fmt.Sprintf("+%.2fs", t.Sub(r.t0).Seconds()) }

func (r *recorder) fail(kind, format string, args ...any) {
	e := r.failures[kind]
	if e == nil {
		e = &examples{}
		r.failures[kind] = e
	}
	e.add(format, args...)
}

func (r *recorder) record(a answer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.routes[a.route]
	if st == nil {
		st = &routeStats{statuses: map[string]int{}}
		r.routes[a.route] = st
	}
	took := a.took()
	st.max = max(st.max, took)
	r.answers = append(r.answers, a)
	what := fmt.Sprintf("%s: %d %s after %s (sent at %s)", a.route, a.status, a.code, took.Round(time.Millisecond), r.at(a.start))
	if took > answerLimit {
		r.fail("answered later than REQUEST_TIMEOUT + 100 ms", "%s", what)
	}
	if a.err != nil {
		st.noAnswer++
		r.noAnswer.add("%s: %v after %s (sent at %s)", a.route, shortErr(a.err), took.Round(time.Millisecond), r.at(a.start))
		return
	}
	outcome := fmt.Sprint(a.status)
	if a.code != "" {
		outcome += " " + a.code
	}
	st.statuses[outcome]++
	switch s := a.status; {
	case s >= 200 && s < 300:
	case s == http.StatusServiceUnavailable:
		if a.retryAfter == "" {
			r.fail("503 without Retry-After", "%s", what)
		}
		if !a.problemJSON {
			r.fail("503 without an application/problem+json body", "%s", what)
		}
		if !slices.Contains(r.codes503, a.code) {
			r.fail(fmt.Sprintf("503 with a code other than %s", strings.Join(r.codes503, " or ")), "%s", what)
		}
	case s >= 500:
		r.fail("5xx other than 503", "%s", what)
	case s == http.StatusConflict && a.route == routeKeyed && a.code == "idempotency_in_flight":
		// the first request with the key still runs; retried
	default:
		r.fail("a status a correct request cannot earn", "%s", what)
	}
}

// check reports every failure the recorder saw; unanswered requests are
// failures unless mayGoUnanswered.
func (r *recorder) check(t *testing.T, mayGoUnanswered bool) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	kinds := make([]string, 0, len(r.failures))
	for k := range r.failures {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		t.Errorf("%s: %s", k, r.failures[k])
	}
	if r.noAnswer.n > 0 && !mayGoUnanswered {
		t.Errorf("no answer: %s", &r.noAnswer)
	}
}

// summary is one line per route: answers by status, unanswered, slowest.
func (r *recorder) summary() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	routes := make([]string, 0, len(r.routes))
	for k := range r.routes {
		routes = append(routes, k)
	}
	sort.Strings(routes)
	var b strings.Builder
	for _, route := range routes {
		st := r.routes[route]
		outcomes := make([]string, 0, len(st.statuses))
		for o := range st.statuses {
			outcomes = append(outcomes, o)
		}
		sort.Strings(outcomes)
		fmt.Fprintf(&b, "\n\t%-32s", route)
		for i, o := range outcomes {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, " %s ×%d", o, st.statuses[o])
		}
		if st.noAnswer > 0 {
			fmt.Fprintf(&b, " unanswered×%d", st.noAnswer)
		}
		fmt.Fprintf(&b, "; slowest %s", st.max.Round(time.Millisecond))
	}
	return b.String()
}

// firstOKAfter returns how long after t the first 2xx answer arrived.
func (r *recorder) firstOKAfter(t time.Time) (time.Duration, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var first time.Time
	for _, a := range r.answers {
		if a.status >= 200 && a.status < 300 && a.end.After(t) && (first.IsZero() || a.end.Before(first)) {
			first = a.end
		}
	}
	return first.Sub(t), !first.IsZero()
}

// where returns the answers for which keep is true.
// createForReads creates n shipments (references prefix-0, prefix-1, …)
// for readers to read, and returns their ids; then it closes c's idle
// connections, so that the load starts from none.
func (c *client) createForReads(t *testing.T, prefix string, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		a := c.do(routeUnkeyed, http.MethodPost, "/v1/shipments", shipmentBody(fmt.Sprintf("%s-%d", prefix, i)), "")
		if a.status != http.StatusCreated {
			t.Fatalf("create a shipment to read: %d %s %v", a.status, a.code, a.err)
		}
		ids = append(ids, a.id)
	}
	c.close()
	return ids
}

// checkOutage checks the reads of an outage from start to end (named by
// what, e.g. "while PostgreSQL was frozen"): at least minReads were sent
// and answered within it, each 503; after end (told as since, e.g. "after
// SIGCONT"), a read succeeds within recoveryLimit, and every read sent
// later than that succeeds. It returns how many reads were answered within
// the outage and how long after it the first read succeeded.
func (r *recorder) checkOutage(t *testing.T, start, end time.Time, minReads int, during, since string) (answered int, first time.Duration) {
	t.Helper()
	within := r.where(func(a answer) bool { return a.start.After(start) && a.end.Before(end) })
	if len(within) < minReads {
		t.Errorf("only %d reads were sent and answered %s; the test proves nothing", len(within), during)
	}
	var served examples
	for _, a := range within {
		if a.status != http.StatusServiceUnavailable {
			served.add("%s: %d %s after %s (sent at %s)", a.route, a.status, a.code, a.took().Round(time.Millisecond), r.at(a.start))
		}
	}
	if served.n > 0 {
		t.Errorf("a read sent %s was not answered 503: %s", during, &served)
	}
	first, ok := r.firstOKAfter(end)
	switch {
	case !ok:
		t.Errorf("no read succeeded in the %s %s", recoveryLimit+time.Second, since)
	case first > recoveryLimit:
		t.Errorf("first read succeeded %s %s, want ≤ %s", first.Round(time.Millisecond), since, recoveryLimit)
	}
	var notRecovered examples
	for _, a := range r.where(func(a answer) bool { return a.start.After(end.Add(recoveryLimit)) }) {
		if a.status != http.StatusOK {
			notRecovered.add("%s: %d %s (sent at %s)", a.route, a.status, a.code, r.at(a.start))
		}
	}
	if notRecovered.n > 0 {
		t.Errorf("a read sent more than %s %s failed: %s", recoveryLimit, since, &notRecovered)
	}
	return len(within), first
}

func (r *recorder) where(keep func(answer) bool) []answer {
	r.mu.Lock()
	defer r.mu.Unlock()
	var as []answer
	for _, a := range r.answers {
		if keep(a) {
			as = append(as, a)
		}
	}
	return as
}

// maxTook returns the slowest answer on any route.
func (r *recorder) maxTook() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	var m time.Duration
	for _, st := range r.routes {
		m = max(m, st.max)
	}
	return m
}

func shortErr(err error) string {
	s := err.Error()
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

// ledger is what the writers were told: for each Idempotency-Key the ids
// its 2xx answers named, for each unkeyed shipment and event its id.
type ledger struct {
	mu      sync.Mutex
	keys    map[string]*keyRecord // by key, which is also the shipment's reference
	unkeyed map[string]string     // reference → id
	events  []string
	ids     []string // acknowledged shipments, for the readers
	retries int
}

type keyRecord struct {
	ids      []string // distinct ids of its 2xx answers
	replays  int
	attempts int
	last     string // the last answer, as the recorder words it
}

func newLedger() *ledger {
	return &ledger{keys: map[string]*keyRecord{}, unkeyed: map[string]string{}}
}

// attempt notes that key was sent, and got a.
func (l *ledger) attempt(key string, a answer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := l.keys[key]
	if k == nil {
		k = &keyRecord{}
		l.keys[key] = k
	}
	if k.attempts++; k.attempts > 1 {
		l.retries++
	}
	if a.err != nil {
		k.last = shortErr(a.err)
	} else {
		k.last = strings.TrimSpace(fmt.Sprintf("%d %s", a.status, a.code))
	}
}

func (l *ledger) ack(key string, a answer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := l.keys[key]
	if !slices.Contains(k.ids, a.id) {
		k.ids = append(k.ids, a.id)
	}
	if a.replayed {
		k.replays++
	}
	l.ids = append(l.ids, a.id)
}

func (l *ledger) ackUnkeyed(reference, id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.unkeyed[reference] = id
	l.ids = append(l.ids, id)
}

func (l *ledger) ackEvent(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, id)
}

// someID returns an acknowledged shipment's id, "" if there is none yet.
func (l *ledger) someID() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.ids) == 0 {
		return ""
	}
	// Recent ones mostly, so reads meet the rows being written.
	return l.ids[max(0, len(l.ids)-1-rand.IntN(min(len(l.ids), 50)))]
}

// figures are the ledger's counts for the log and docs/reliability.md.
func (l *ledger) figures() (keys, acked, retries, replays, unkeyed, events int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range l.keys {
		if len(k.ids) > 0 {
			acked++
		}
		replays += k.replays
	}
	return len(l.keys), acked, l.retries, replays, len(l.unkeyed), len(l.events)
}

// verify compares the ledger with the database: no key has two
// shipments, no key's 2xx answers named two ids, every acknowledged
// shipment and event exists (and is the one row of its reference). With
// allSettled, every key must have been answered 2xx: the database was up
// for the writers' last keyGiveUp of retries.
func (l *ledger) verify(t *testing.T, c *cluster, prefix string, allSettled bool) {
	t.Helper()
	conn, err := c.connect(5 * time.Second)
	if err != nil {
		t.Fatalf("connect to check the writes: %v", err)
	}
	defer conn.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := conn.Query(ctx, `SELECT reference, array_agg(id::text ORDER BY id) FROM shipments
		WHERE reference LIKE $1 GROUP BY reference`, prefix+"-%")
	if err != nil {
		t.Fatalf("read the shipments: %v", err)
	}
	stored := map[string][]string{}
	for rows.Next() {
		var ref string
		var ids []string
		if err := rows.Scan(&ref, &ids); err != nil {
			t.Fatal(err)
		}
		stored[ref] = ids
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read the shipments: %v", err)
	}
	var events []string
	if err := conn.QueryRow(ctx, `SELECT coalesce(array_agg(id::text), '{}') FROM shipment_events WHERE id::text = ANY($1)`,
		l.events).Scan(&events); err != nil {
		t.Fatalf("read the events: %v", err)
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	var dup, twoIDs, lost, unsettled, lostUnkeyed, lostEvents examples
	for key, k := range l.keys {
		if len(k.ids) == 0 && allSettled {
			unsettled.add("key %s: no 2xx in %d attempts, the last answered %s; the database has %v", key, k.attempts, k.last, stored[key])
		}
		got := stored[key]
		if len(got) > 1 {
			dup.add("key %s: %d shipments %v (its answers: %d attempts, 2xx ids %v)", key, len(got), got, k.attempts, k.ids)
		}
		if len(k.ids) > 1 {
			twoIDs.add("key %s: 2xx answers named %v", key, k.ids)
		}
		if len(k.ids) > 0 && !slices.Contains(got, k.ids[0]) {
			lost.add("key %s: answered 2xx with id %s, the database has %v", key, k.ids[0], got)
		}
	}
	for ref, id := range l.unkeyed {
		if got := stored[ref]; !slices.Contains(got, id) || len(got) > 1 {
			lostUnkeyed.add("reference %s: answered 201 with id %s, the database has %v", ref, id, got)
		}
	}
	for _, id := range l.events {
		if !slices.Contains(events, id) {
			lostEvents.add("event %s: answered 201, not in shipment_events", id)
		}
	}
	for _, f := range []struct {
		what string
		e    *examples
	}{
		{"an Idempotency-Key produced more than one shipment", &dup},
		{"an Idempotency-Key's 2xx answers named different shipments", &twoIDs},
		{"an acknowledged keyed write is lost", &lost},
		{"a key never answered 2xx, retried until " + keyGiveUp.String() + " after the load", &unsettled},
		{"an acknowledged unkeyed create is lost or doubled", &lostUnkeyed},
		{"an acknowledged event is lost", &lostEvents},
	} {
		if f.e.n > 0 {
			t.Errorf("%s: %s", f.what, f.e)
		}
	}
}

// load is a set of clients writing and reading through one server:
// keyed writers that retry each key until it is answered 2xx, unkeyed
// writers (create, then an event and a PATCH of what they created) that
// never retry, and readers.
type load struct {
	cl     *client
	ledger *ledger
	prefix string
	srv    *server

	stop     chan struct{}
	stopOnce sync.Once
	stopped  time.Time
	wg       sync.WaitGroup
	mu       sync.Mutex
	maxConns int // the most sessions of the server's pool seen in pg_stat_activity
}

// startLoad starts the clients, stopped by finish or when the test ends;
// prefix starts every reference they write.
func startLoad(t *testing.T, s *server, c *cluster, rec *recorder, prefix string, keyed, unkeyed, readers int) *load {
	l := &load{cl: newClient(s, rec), ledger: newLedger(), prefix: prefix, srv: s, stop: make(chan struct{})}
	t.Cleanup(l.finish)
	for i := range keyed {
		l.wg.Add(1)
		go l.keyedWriter(i)
	}
	for i := range unkeyed {
		l.wg.Add(1)
		go l.unkeyedWriter(i)
	}
	for range readers {
		l.wg.Add(1)
		go l.reader()
	}
	l.wg.Add(1)
	go l.sampleConns(c)
	return l
}

func (l *load) stopping() bool {
	select {
	case <-l.stop:
		return true
	default:
		return false
	}
}

// givingUp reports whether a keyed writer should leave its key unsettled:
// the load stopped keyGiveUp ago, or the server is gone.
func (l *load) givingUp() bool {
	if l.srv.hasExited() {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.stopped.IsZero() && time.Since(l.stopped) > keyGiveUp
}

// finish stops the clients, lets the keyed writers settle their last
// keys, and closes the client's connections.
func (l *load) finish() {
	l.stopOnce.Do(func() {
		l.mu.Lock()
		l.stopped = time.Now()
		l.mu.Unlock()
		close(l.stop)
		l.wg.Wait()
		l.cl.close()
	})
}

func (l *load) keyedWriter(n int) {
	defer l.wg.Done()
	for i := 0; !l.stopping(); i++ {
		key := fmt.Sprintf("%s-k%d-%d", l.prefix, n, i)
		body := shipmentBody(key)
		for {
			a := l.cl.do(routeKeyed, http.MethodPost, "/v1/shipments", body, key)
			l.ledger.attempt(key, a)
			if a.status == http.StatusCreated || a.status == http.StatusOK {
				l.ledger.ack(key, a)
				break
			}
			retry := a.err != nil || a.status == http.StatusServiceUnavailable || a.status == http.StatusConflict
			if !retry || l.givingUp() {
				break
			}
			time.Sleep(retryPause)
		}
		time.Sleep(pace)
	}
}

func (l *load) unkeyedWriter(n int) {
	defer l.wg.Done()
	for i := 0; !l.stopping(); i++ {
		ref := fmt.Sprintf("%s-u%d-%d", l.prefix, n, i)
		a := l.cl.do(routeUnkeyed, http.MethodPost, "/v1/shipments", shipmentBody(ref), "")
		if a.status == http.StatusCreated {
			l.ledger.ackUnkeyed(ref, a.id)
			e := l.cl.do(routeEvent, http.MethodPost, "/v1/shipments/"+a.id+"/events", `{"status": "in_transit", "message": "faults"}`, "")
			if e.status == http.StatusCreated {
				l.ledger.ackEvent(e.id)
			}
			l.cl.do(routePatch, http.MethodPatch, "/v1/shipments/"+a.id, `{"carrier": "UPS"}`, "")
		}
		time.Sleep(pace)
	}
}

func (l *load) reader() {
	defer l.wg.Done()
	for !l.stopping() {
		if id := l.ledger.someID(); id != "" {
			l.cl.do(routeGet, http.MethodGet, "/v1/shipments/"+id, "", "")
		}
		l.cl.do(routeList, http.MethodGet, "/v1/shipments?page_size=5", "", "")
		time.Sleep(pace)
	}
}

// sampleConns counts the server pool's sessions every 250 ms.
func (l *load) sampleConns(c *cluster) {
	defer l.wg.Done()
	for !l.stopping() {
		if n, err := c.serverConns(); err == nil {
			l.mu.Lock()
			l.maxConns = max(l.maxConns, n)
			l.mu.Unlock()
		}
		select {
		case <-l.stop:
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// seenConns returns the most sessions of the server's pool seen.
func (l *load) seenConns() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.maxConns
}
