package handlers_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/sirupsen/logrus"

	"github.com/waybill/waybill/handlers"
	"github.com/waybill/waybill/models"
)

// series returns the number of series in a /metrics scrape through the
// router.
func series(t *testing.T, e *echo.Echo) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics = %d", rec.Code)
	}
	n := 0
	for line := range strings.SplitSeq(rec.Body.String(), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			n++
		}
	}
	return n, rec.Body.String()
}

// TestMetricsBounded sends requests with made-up methods and paths (and
// the common methods on made-up paths, made-up methods on real routes)
// through the router: after the first batch, which meets every kind,
// /metrics must not gain a single series over the rest (10,000 requests
// in all, or ten batches if that is more).
func TestMetricsBounded(t *testing.T) {
	f := newFixture(t, false)
	var routes []string
	for _, r := range f.e.Routes() {
		if r.Method != echo.RouteNotFound && r.Path != "/metrics" {
			routes = append(routes, strings.ReplaceAll(r.Path, ":id", "00000000-0000-0000-0000-000000000001"))
		}
	}
	odd := []string{"//x%d", "/v1/../%d", "/v1/shipments/../../x%d", "/%%00%d", "/%%ff%d", "/v1/shipments/%d/nope",
		"/v1/nope%d", "/%d/" + strings.Repeat("a", 300), "/v1//shipments%d", "/problems/%d/x"}
	common := []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
	request := func(i int) *http.Request {
		var path string
		if (i/8)%2 == 0 {
			path = routes[(i/16)%len(routes)]
		} else {
			path = fmt.Sprintf(odd[(i/16)%len(odd)], i)
		}
		method := fmt.Sprintf("X%dMADEUP", i)
		if i%8 < len(common) {
			method = common[i%8]
		}
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Method, req.URL.Path, req.URL.RawPath, req.RequestURI = method, path, "", path
		return req
	}
	// The first batch meets every route and every odd path with every kind
	// of method; nine times as many follow.
	batch := 16 * max(len(routes), len(odd))
	total := max(10000, 10*batch)
	var first int
	var before string
	for i := range total {
		if i == batch {
			series(t, f.e) // the first scrape adds the series of /metrics itself
			first, before = series(t, f.e)
		}
		f.e.ServeHTTP(httptest.NewRecorder(), request(i))
	}
	after, scrape := series(t, f.e)
	if after != first {
		t.Errorf("/metrics grew from %d to %d series over %d more made-up requests", first, after, total-batch)
		old := map[string]bool{}
		for _, l := range strings.Split(before, "\n") {
			old[strings.Fields(l + " x")[0]] = true
		}
		for _, l := range strings.Split(scrape, "\n") {
			if !old[strings.Fields(l + " x")[0]] {
				t.Logf("new: %s", l)
			}
		}
	}
	for _, want := range []string{`method="other",route="unmatched",status="404"`, `method="other",route="/livez",status="405"`,
		`method="GET",route="unmatched",status="404"`} {
		if !strings.Contains(scrape, want) {
			t.Errorf("no series with %s", want)
		}
	}
	if strings.Contains(scrape, "MADEUP") || strings.Contains(scrape, "//x") {
		t.Error("a made-up method or path is a label value")
	}
	if strings.Contains(f.logs.String(), "MADEUP") {
		t.Error("a made-up method is in the log")
	}
}

// TestRequestID checks that a client's X-Request-Id is used only if it is
// 1–128 characters of [A-Za-z0-9._:-]; any other is replaced by a new id
// and appears nowhere: not in the response, not in the log.
func TestRequestID(t *testing.T) {
	long := strings.Repeat("a", 128)
	tests := []struct {
		name, sent string
		accepted   bool
	}{
		{"uuid", "0f8c5b1e-9a4d-4b8e-8f6a-1c2d3e4f5a6b", true},
		{"all allowed characters", "Az09._:-", true},
		{"128 characters", long, true},
		{"129 characters", long + "b", false},
		{"quotes", `abc","level":"error`, false},
		{"newline", "abc\nlevel=error", false},
		{"carriage return", "abc\rdef", false},
		{"space", "abc def", false},
		{"slash", "abc/def", false},
		{"non-ASCII", "abcdé", false},
		{"NUL", "abc\x00def", false},
		{"empty", "", false},
	}
	generated := map[string]bool{}
	for _, tt := range tests {
		f := newFixture(t, false)
		req := httptest.NewRequest(http.MethodGet, "/nope", nil)
		if tt.sent != "" {
			req.Header[echo.HeaderXRequestID] = []string{tt.sent}
		}
		rec := httptest.NewRecorder()
		f.e.ServeHTTP(rec, req)
		handlers.CheckAgainstSpec(t, req, nil, rec)
		got := rec.Header().Get(echo.HeaderXRequestID)
		body, logs := rec.Body.String(), f.logs.String()
		if !strings.Contains(body, `"request_id":"`+got+`"`) || !strings.Contains(logs, `"request_id":"`+got+`"`) {
			t.Errorf("%s: the response's id %q is not the one in the body and the log:\n%s\n%s", tt.name, got, body, logs)
		}
		if tt.accepted {
			if got != tt.sent {
				t.Errorf("%s: X-Request-Id %q, want the client's %q", tt.name, got, tt.sent)
			}
			continue
		}
		if len(got) != 24 || strings.Trim(got, "0123456789abcdef") != "" || generated[got] {
			t.Errorf("%s: X-Request-Id %q, want a new id of 24 hex digits", tt.name, got)
		}
		generated[got] = true
		if tt.sent == "" {
			continue
		}
		for _, where := range []string{body, logs, fmt.Sprint(rec.Header())} {
			// JSON escapes the newline; look for the raw and the escaped.
			if strings.Contains(where, tt.sent) || strings.Contains(where, strconv.Quote(tt.sent)[1:len(strconv.Quote(tt.sent))-1]) {
				t.Errorf("%s: the refused id appears in the response or the log: %s", tt.name, where)
			}
		}
	}
}

// TestHeadOnGetRoutes walks every GET route over a real server: HEAD
// answers the GET's status and headers (ETag, Content-Type,
// Content-Length) with no body, and authentication applies to it.
func TestHeadOnGetRoutes(t *testing.T) {
	f := newFixture(t, true)
	_, key := f.key(t, models.ScopeRead)
	_, writeKey := f.key(t, models.ScopeWrite)
	sh := createShipment(t, f, writeKey, newShipment)
	if rec, _ := f.send(t, http.MethodPut, "/v1/shipments/"+sh["id"].(string)+"/metrics", writeKey, `{"carrier": "USPS"}`); rec.Code != 200 && rec.Code != 201 {
		t.Fatalf("PUT metrics: %d %s", rec.Code, rec.Body)
	}
	srv := httptest.NewServer(f.e)
	defer srv.Close()
	do := func(method, path, key string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		// Go's client asks for gzip on GET, not on HEAD, and drops the
		// Content-Length of what it unzips (the console's files are sent
		// gzipped): ask both for the same encoding.
		req.Header.Set("Accept-Encoding", "identity")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}
	checked := 0
	for _, r := range f.e.Routes() {
		if r.Method != http.MethodGet {
			continue
		}
		path := strings.ReplaceAll(r.Path, ":id", sh["id"].(string))
		path = strings.ReplaceAll(path, ":code", "not_found")
		get, getBody := do(http.MethodGet, path, key)
		head, headBody := do(http.MethodHead, path, key)
		checked++
		if head.StatusCode == http.StatusMethodNotAllowed || head.StatusCode != get.StatusCode {
			t.Errorf("HEAD %s = %d, GET = %d", r.Path, head.StatusCode, get.StatusCode)
			continue
		}
		if len(headBody) != 0 {
			t.Errorf("HEAD %s has a body: %q", r.Path, headBody)
		}
		names := []string{"Content-Type", "ETag"}
		// /health and /metrics change from one call to the next. An error
		// answer to HEAD may omit Content-Length: the error handler
		// writes no body for HEAD, so net/http cannot count it.
		if r.Path != "/health" && r.Path != "/metrics" && (get.StatusCode < 400 || head.Header.Get("Content-Length") != "") {
			names = append(names, "Content-Length")
		}
		for _, name := range names {
			if g, h := get.Header.Get(name), head.Header.Get(name); g != h {
				t.Errorf("%s: HEAD %s %q, GET %q", r.Path, name, h, g)
			}
		}
		if cl := get.Header.Get("Content-Length"); cl != "" && cl != strconv.Itoa(len(getBody)) {
			t.Errorf("GET %s: Content-Length %s for %d bytes", r.Path, cl, len(getBody))
		}
		if strings.HasPrefix(r.Path, "/v1/") {
			if resp, _ := do(http.MethodHead, path, ""); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("HEAD %s without a key = %d, want 401", r.Path, resp.StatusCode)
			}
		}
	}
	if checked < 15 {
		t.Errorf("only %d GET routes", checked)
	}
	if resp, _ := do(http.MethodHead, "/v1/shipments/"+sh["id"].(string), key); resp.Header.Get("ETag") == "" || resp.StatusCode != 200 {
		t.Errorf("HEAD of a shipment: %d, ETag %q", resp.StatusCode, resp.Header.Get("ETag"))
	}
	if resp, _ := do(http.MethodPost, "/livez", ""); !strings.Contains(resp.Header.Get("Allow"), "HEAD") {
		t.Errorf("405 Allow: %q, want HEAD listed", resp.Header.Get("Allow"))
	}
}

// slowFixture is a fixture whose requests time out after timeout, served
// by a real TCP server.
func slowFixture(t *testing.T, timeout time.Duration, bodyLimit int64) (*fixture, *httptest.Server) {
	t.Helper()
	f := newFixture(t, true)
	log := logrus.New()
	log.SetOutput(f.logs)
	log.SetFormatter(&logrus.JSONFormatter{})
	f.e = handlers.New(handlers.Options{Store: f.store, Log: log, RequestTimeout: timeout, BodyLimit: bodyLimit,
		Draining: func() bool { return false }})
	srv := httptest.NewServer(f.e)
	t.Cleanup(srv.Close)
	return f, srv
}

// rawRequest writes head (the request line and headers, without the blank
// line) and the first part of the body to addr, waits pause, writes rest
// (unless pause is negative: then it never does), and returns the response
// and how long after the head was sent it arrived.
func rawRequest(t *testing.T, addr, head, first string, pause time.Duration, rest string) (*http.Response, []byte, time.Duration) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, strings.ReplaceAll(head, "\n", "\r\n")+"\r\n"+first); err != nil {
		t.Fatal(err)
	}
	if pause >= 0 {
		go func() {
			time.Sleep(pause)
			_, _ = io.WriteString(conn, rest)
		}()
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no response: %v", err)
	}
	elapsed := time.Since(start)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, body, elapsed
}

// TestSlowBodyIs408 sends half a body and stalls: the answer is 408
// request_timeout within REQUEST_TIMEOUT + 100 ms, with and without
// Content-Length, with and without an Idempotency-Key, and is logged and
// counted as 408 (not as a client that went away). A body that arrives
// slowly but in time is served.
func TestSlowBodyIs408(t *testing.T) {
	const timeout = 500 * time.Millisecond
	f, srv := slowFixture(t, timeout, 1<<20)
	_, key := f.key(t, models.ScopeWrite)
	addr := srv.Listener.Addr().String()
	body := `{"street1": "1 Main St", "city": "Springfield", "zip": "62701"}`
	half := body[:20]
	headers := func(extra string) string {
		return "POST /v1/addresses HTTP/1.1\nHost: waybill\nAuthorization: Bearer " + key +
			"\nContent-Type: application/json\n" + extra
	}
	chunk := func(s string) string { return fmt.Sprintf("%x\r\n%s\r\n", len(s), s) }
	tests := []struct{ name, head, first string }{
		{"Content-Length", headers("Content-Length: " + strconv.Itoa(len(body)) + "\n"), half},
		{"chunked", headers("Transfer-Encoding: chunked\n"), chunk(half)},
		{"Idempotency-Key", headers("Idempotency-Key: slow-1\nContent-Length: " + strconv.Itoa(len(body)) + "\n"), half},
		{"no byte of the body", headers("Content-Length: " + strconv.Itoa(len(body)) + "\n"), ""},
	}
	for _, tt := range tests {
		resp, raw, elapsed := rawRequest(t, addr, tt.head, tt.first, -1, "")
		if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(raw), `"code":"request_timeout"`) ||
			resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %s, want 408 request_timeout", tt.name, resp.StatusCode, raw)
		}
		if elapsed < timeout || elapsed > timeout+100*time.Millisecond {
			t.Errorf("%s: answered after %s, want within %s + 100 ms", tt.name, elapsed, timeout)
		}
		if !resp.Close {
			t.Errorf("%s: the connection stays open after a cut body", tt.name)
		}
	}
	if n := strings.Count(f.logs.String(), `"status":408`); n != len(tests) {
		t.Errorf("%d requests logged with status 408, want %d:\n%s", n, len(tests), f.logs)
	}
	if n, scrape := series(t, f.e); n == 0 || !strings.Contains(scrape, `waybill_http_requests_total{method="POST",route="/v1/addresses",status="408"} 4`) {
		t.Errorf("the 408s are not counted as such:\n%s", scrape)
	}

	// In time, though slowly: served, on both framings.
	resp, raw, _ := rawRequest(t, addr, headers("Content-Length: "+strconv.Itoa(len(body))+"\n"), half, timeout/3, body[20:])
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("a slow body in time: %d %s, want 201", resp.StatusCode, raw)
	}
	resp, raw, _ = rawRequest(t, addr, headers("Transfer-Encoding: chunked\n"), chunk(half), timeout/3, chunk(body[20:])+"0\r\n\r\n")
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("a slow chunked body in time: %d %s, want 201", resp.StatusCode, raw)
	}
}

// TestDeadlineNotClientGone checks that the body's read deadline does not
// pass for a client that went away: a request whose handler waits on the
// database until REQUEST_TIMEOUT answers 503 database_unavailable, not
// 499, with a body (read before the wait) and without one.
func TestDeadlineNotClientGone(t *testing.T) {
	const timeout = 500 * time.Millisecond
	f, srv := slowFixture(t, timeout, 1<<20)
	_, key := f.key(t, models.ScopeWrite)
	ctx := context.Background()
	tx, err := f.store.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`LOCK TABLE addresses IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ method, body string }{
		{http.MethodPost, `{"street1": "1 Main St", "city": "Springfield", "zip": "62701"}`},
		{http.MethodGet, ""},
	} {
		req, _ := http.NewRequest(tt.method, srv.URL+"/v1/addresses", strings.NewReader(tt.body))
		req.Header.Set("Authorization", "Bearer "+key)
		if tt.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		start := time.Now()
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatalf("%s: no answer: %v", tt.method, err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(raw), "database_unavailable") {
			t.Errorf("%s waiting past the deadline: %d %s, want 503 database_unavailable", tt.method, resp.StatusCode, raw)
		}
		// What this test is about is the status; the promise of an answer
		// within REQUEST_TIMEOUT + 100 ms is held by the fault suite at a
		// 2 s timeout. At 500 ms, on two busy cores, pgx's cancel request
		// to the server alone took 140 ms once.
		if elapsed := time.Since(start); elapsed > timeout+300*time.Millisecond {
			t.Errorf("%s: answered after %s", tt.method, elapsed)
		}
	}
}

// chunked hides a reader's length, so the client sends it chunked.
type chunked struct{ r io.Reader }

func (c chunked) Read(p []byte) (int, error) { return c.r.Read(p) }

// TestBodyOverLimitIs413 sends bodies over BODY_LIMIT with a
// Content-Length and chunked, with and without an Idempotency-Key: each is
// 413 payload_too_large; a body of exactly the limit is read.
func TestBodyOverLimitIs413(t *testing.T) {
	const limit = 1024
	f, srv := slowFixture(t, 5*time.Second, limit)
	_, key := f.key(t, models.ScopeWrite)
	body := func(size int) string {
		prefix := `{"street1": "1 Main St", "city": "Springfield", "zip": "62701", "name": "`
		return prefix + strings.Repeat("x", size-len(prefix)-2) + `"}`
	}
	for _, tt := range []struct {
		name    string
		size    int
		chunked bool
		idem    string
		want    int
	}{
		{"Content-Length", limit + 1, false, "", 413},
		{"chunked", limit + 1, true, "", 413},
		{"much larger, chunked", 64 * limit, true, "", 413},
		{"chunked, Idempotency-Key", limit + 1, true, "big-1", 413},
		{"Content-Length, Idempotency-Key", limit + 1, false, "big-2", 413},
		{"exactly the limit, chunked", limit, true, "", 422}, // name is too long: the body was read
		{"exactly the limit", limit, false, "", 422},
	} {
		var r io.Reader = strings.NewReader(body(tt.size))
		if tt.chunked {
			r = chunked{r}
		}
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/addresses", r)
		if tt.chunked {
			req.TransferEncoding = []string{"chunked"}
		}
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		if tt.idem != "" {
			req.Header.Set("Idempotency-Key", tt.idem)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.want || tt.want == 413 && !strings.Contains(string(raw), `"code":"payload_too_large"`) {
			t.Errorf("%s: %d %s, want %d", tt.name, resp.StatusCode, raw, tt.want)
		}
	}
}

// TestQueryBadBytes checks that NUL bytes and invalid UTF-8 in a query
// parameter are 400 naming the parameter, before any query runs.
func TestQueryBadBytes(t *testing.T) {
	f := newFixture(t, true)
	_, key := f.key(t, models.ScopeRead)
	for _, tt := range []struct{ path, param string }{
		{"/v1/shipments?carrier=%00", "carrier"},
		{"/v1/shipments?carrier=%ff", "carrier"},
		{"/v1/shipments?reference=a%00b", "reference"},
		{"/v1/shipments?status=%c3%28", "status"},
		{"/v1/addresses?city=%00", "city"},
		{"/v1/analytics/carrier-performance?service=%fe", "service"},
		{"/v1/shipments?page_size=%00", "page_size"},
	} {
		status, h, body := f.do(t, http.MethodGet, tt.path, key)
		checkProblem(t, status, h, body, http.StatusBadRequest, "bad_request")
		if detail, _ := body["detail"].(string); !strings.Contains(detail, "query parameter "+tt.param+" ") {
			t.Errorf("GET %s: detail %q does not name %s", tt.path, detail, tt.param)
		}
	}
	// Valid UTF-8 beyond ASCII is text like any other.
	if status, _, body := f.do(t, http.MethodGet, "/v1/addresses?city="+url.QueryEscape("Zürich"), key); status != http.StatusOK {
		t.Errorf("city=Zürich: %d %v", status, body)
	}
}

// TestMalformedUUID checks that a malformed UUID, in the path, the query
// or a body field, says "must be a UUID" and never the library's text.
func TestMalformedUUID(t *testing.T) {
	f := newFixture(t, true)
	_, key := f.key(t, models.ScopeWrite)
	sh := createShipment(t, f, key, newShipment)
	id := sh["id"].(string)
	check := func(what string, rec *httptest.ResponseRecorder, body map[string]any, status int, field string) {
		t.Helper()
		raw := rec.Body.String()
		if rec.Code != status || !strings.Contains(raw, "must be a UUID") {
			t.Errorf("%s: %d %s, want %d saying must be a UUID", what, rec.Code, raw, status)
		}
		if strings.Contains(strings.ToLower(raw), "invalid uuid") || strings.Contains(raw, "length") {
			t.Errorf("%s: library text in %s", what, raw)
		}
		if field != "" {
			errs, _ := body["errors"].([]any)
			if len(errs) != 1 || errs[0].(map[string]any)["field"] != field || errs[0].(map[string]any)["message"] != "must be a UUID" {
				t.Errorf("%s: errors %v, want %s: must be a UUID", what, body["errors"], field)
			}
		}
	}
	rec, body := f.send(t, http.MethodGet, "/v1/shipments/garbage", key, "")
	check("path", rec, body, 400, "")
	rec, body = f.send(t, http.MethodGet, "/v1/addresses/0f8c5b1e-9a4d", key, "")
	check("short path id", rec, body, 400, "")
	rec, body = f.send(t, http.MethodGet, "/v1/shipments?before_id=garbage", key, "")
	check("query", rec, body, 400, "")
	create := strings.Replace(newShipment, `"from_address": {"name": "Ada", "street1": "1 Main St", "city": "Springfield", "state": "IL", "zip": "62701"}`,
		`"from_address_id": "garbage"`, 1)
	if create == newShipment {
		t.Fatal("the test's shipment has changed")
	}
	rec, body = f.send(t, http.MethodPost, "/v1/shipments", key, create)
	check("create body", rec, body, 422, "from_address_id")
	rec, body = f.send(t, http.MethodPatch, "/v1/shipments/"+id, key, `{"to_address_id": "garbage"}`)
	check("patch body", rec, body, 422, "to_address_id")
	rec, body = f.send(t, http.MethodPost, "/v1/shipments", key, strings.Replace(create, `"garbage"`, `5`, 1))
	check("a number", rec, body, 400, "")
	rec, body = f.send(t, http.MethodPatch, "/v1/shipments/"+id, key, `{"to_address_id": 5}`)
	check("a number in a patch", rec, body, 400, "")
}
