package handlers_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/waybill/waybill/handlers"
	"github.com/waybill/waybill/models"
	"github.com/waybill/waybill/testdb"
)

// batchShipment is a valid create body; n makes its reference unique.
func batchShipment(n int) string {
	return fmt.Sprintf(`{"reference": "ORD-%d", "carrier": "USPS", "service": "Priority",
		"from_address": {"street1": "1 Main St", "city": "Springfield", "zip": "12345"},
		"to_address": {"street1": "2 Side St", "city": "Portland", "state": "OR", "zip": "97201"},
		"parcel": {"weight": 16.5}}`, n)
}

func batchBody(rows ...string) string { return `{"shipments": [` + strings.Join(rows, ",") + `]}` }

// count returns the number of rows of table.
func count(t *testing.T, s *models.Store, table string) int {
	t.Helper()
	var n int
	if err := s.DB().QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// postCSV posts a CSV body to /v1/batches.
func (f *fixture) postCSV(t *testing.T, key, body string, headers ...string) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	return f.send(t, http.MethodPost, "/v1/batches", key, body, append([]string{"Content-Type", "text/csv"}, headers...)...)
}

// batchOf decodes a batch answer.
func batchOf(t *testing.T, rec *httptest.ResponseRecorder) models.Batch {
	t.Helper()
	var b models.Batch
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		t.Fatalf("batch: %v in %s", err, rec.Body)
	}
	return b
}

func TestBatchJSONInline(t *testing.T) {
	f := newFixture(t, true)
	_, key := f.key(t, models.ScopeWrite)
	bad := `{"reference": "bad", "from_address": {"street1": "1 Main St", "city": "Springfield", "zip": "12345"},
		"to_address": {"city": "Portland", "zip": "97201"}, "parcel": {"weight": 0}, "colour": "red"}`
	wrongType := `{"reference": "typed", "from_address": {"street1": "1 Main St", "city": "S", "zip": "1"},
		"to_address": {"street1": "2", "city": "P", "zip": "2"}, "parcel": {"weight": "heavy"}}`
	rec, _ := f.send(t, http.MethodPost, "/v1/batches", key, batchBody(batchShipment(1), bad, batchShipment(3), wrongType))
	if rec.Code != http.StatusCreated {
		t.Fatalf("POST /v1/batches = %d %s, want 201", rec.Code, rec.Body)
	}
	b := batchOf(t, rec)
	if loc := rec.Header().Get("Location"); loc != "/v1/batches/"+b.ID.String() {
		t.Errorf("Location %q, want /v1/batches/%s", loc, b.ID)
	}
	got := []any{b.Status, b.Source, b.TotalItems, b.ProcessedItems, b.SuccessfulItems, b.FailedItems, b.StartedAt != nil, b.CompletedAt != nil}
	src := "json"
	want := []any{models.BatchCompletedWithErrors, &src, 4, 4, 2, 2, true, true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("batch (-want +got):\n%s", diff)
	}
	wantErrs := models.BatchErrors{
		{Row: 2, Field: "colour", Message: "is not a known field"},
		{Row: 4, Field: "parcel.weight", Message: "must be a number in range"},
	}
	if diff := cmp.Diff(wantErrs, b.Errors); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	if n := count(t, f.store, "shipments"); n != 2 {
		t.Errorf("%d shipments, want 2", n)
	}
	var refs []string
	rows, err := f.store.DB().Query("SELECT reference FROM shipments ORDER BY reference")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var r string
		rows.Scan(&r)
		refs = append(refs, r)
	}
	rows.Close()
	if diff := cmp.Diff([]string{"ORD-1", "ORD-3"}, refs); diff != "" {
		t.Errorf("imported (-want +got):\n%s", diff)
	}

	// GET shows the same batch; a read key may see it.
	_, readKey := f.key(t, models.ScopeRead)
	status, _, body := f.do(t, http.MethodGet, "/v1/batches/"+b.ID.String(), readKey)
	if status != http.StatusOK || body["id"] != b.ID.String() || body["status"] != models.BatchCompletedWithErrors {
		t.Errorf("GET batch = %d %v", status, body)
	}
	status, h, body := f.do(t, http.MethodGet, "/v1/batches/"+uuid.NewString(), readKey)
	checkProblem(t, status, h, body, http.StatusNotFound, "not_found")
	// A read key may not import.
	rec, body = f.send(t, http.MethodPost, "/v1/batches", readKey, batchBody(batchShipment(9)))
	checkProblem(t, rec.Code, rec.Header(), body, http.StatusForbidden, "forbidden")
}

// TestBatchRowConflicts: a row the database refuses (an easypost_id
// taken, by an earlier row or an existing shipment; an address id that
// names nothing) fails alone.
func TestBatchRowConflicts(t *testing.T) {
	f := newFixture(t, true)
	_, key := f.key(t, models.ScopeWrite)
	withID := func(n int, id string) string {
		return strings.Replace(batchShipment(n), `"reference"`, `"easypost_id": "`+id+`", "reference"`, 1)
	}
	missing := `{"from_address_id": "` + uuid.NewString() + `", "to_address": {"street1": "2", "city": "P", "zip": "2"}}`
	rec, _ := f.send(t, http.MethodPost, "/v1/batches", key, batchBody(withID(1, "shp_a"), withID(2, "shp_a"), missing, batchShipment(4)))
	if rec.Code != http.StatusCreated {
		t.Fatalf("POST = %d %s", rec.Code, rec.Body)
	}
	b := batchOf(t, rec)
	if b.SuccessfulItems != 2 || b.FailedItems != 2 || len(b.Errors) != 2 || b.Errors[0].Row != 2 || b.Errors[1].Row != 3 ||
		b.Errors[1].Field != "from_address_id" {
		t.Errorf("batch %+v, want rows 2 and 3 refused", b)
	}
	if n := count(t, f.store, "shipments"); n != 2 {
		t.Errorf("%d shipments, want 2", n)
	}
	if n := count(t, f.store, "addresses"); n != 4 {
		t.Errorf("%d addresses, want 4 (none left by the refused rows)", n)
	}
	// Every row refused: failed.
	rec, _ = f.send(t, http.MethodPost, "/v1/batches", key, batchBody(withID(5, "shp_a")))
	if b := batchOf(t, rec); b.Status != models.BatchFailed || b.FailedItems != 1 {
		t.Errorf("batch of one taken easypost_id: %+v, want failed", b)
	}
}

const csvHeader = "reference,carrier,from_street1,from_city,from_zip,to_street1,to_city,to_state,to_zip,parcel_weight,metadata"

func TestBatchCSV(t *testing.T) {
	f := newFixture(t, true)
	_, key := f.key(t, models.ScopeWrite)
	// A byte order mark, CRLF, a quoted field with a comma, a doubled
	// quote and a line break, JSON in a cell, and two bad rows.
	body := "\xef\xbb\xbf" + csvHeader + "\r\n" +
		`ORD-1,USPS,1 Main St,Springfield,12345,"2 Side St, Apt ""B""` + "\r\n" + `Rear",Portland,OR,97201,16.5,"{""gift"": true}"` + "\r\n" +
		"ORD-2,UPS,1 Main St,Springfield,12345,3 Elm St,Salem,OR,97301,heavy,\r\n" +
		"ORD-3,UPS,1 Main St,Springfield,12345,3 Elm St,Salem,OR,97301,2,{not json\r\n" +
		"ORD-4,FedEx,1 Main St,Springfield,12345,,Salem,OR,97301,2,\r\n" +
		"ORD-5,FedEx,1 Main St,Springfield,12345,4 Oak St,Eugene,OR,97401,0.5,\r\n"
	rec, _ := f.postCSV(t, key, body)
	if rec.Code != http.StatusCreated {
		t.Fatalf("POST CSV = %d %s", rec.Code, rec.Body)
	}
	b := batchOf(t, rec)
	wantErrs := models.BatchErrors{
		{Row: 3, Field: "metadata", Message: "must be JSON text"},
		{Row: 2, Field: "parcel_weight", Message: "must be a number in range"},
		{Row: 4, Field: "to_street1", Message: "is required"},
	}
	if diff := cmp.Diff(wantErrs, b.Errors); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	if b.TotalItems != 5 || b.SuccessfulItems != 2 || b.FailedItems != 3 || b.ProcessedItems != 5 {
		t.Errorf("counts %+v", b)
	}
	// A row with two bad cells is one failed row.
	rec, _ = f.postCSV(t, key, "reference,rates,metadata,from_street1,from_city,from_zip,to_street1,to_city,to_zip,parcel_weight\n"+
		"ORD-6,\"[1\",{x,1 Main St,S,1,2 Side St,P,2,1\n")
	if b := batchOf(t, rec); b.TotalItems != 1 || b.FailedItems != 1 || b.ProcessedItems != 1 || len(b.Errors) != 2 || b.Status != models.BatchFailed {
		t.Errorf("a row with two bad cells: %+v", b)
	}

	var street, meta string
	var weight float64
	err := f.store.DB().QueryRow(`SELECT a.street1, s.extra_metadata::text, p.weight FROM shipments s
		JOIN addresses a ON a.id = s.to_address_id JOIN parcels p ON p.id = s.parcel_id WHERE s.reference = 'ORD-1'`).Scan(&street, &meta, &weight)
	if err != nil {
		t.Fatal(err)
	}
	if street != "2 Side St, Apt \"B\"\nRear" || meta != `{"gift": true}` || weight != 16.5 {
		t.Errorf("ORD-1 imported as %q, %s, %v", street, meta, weight)
	}
}

// TestBatchRefused: a body that is not a well-formed batch is a clear 4xx
// and writes nothing.
func TestBatchRefused(t *testing.T) {
	f := newFixture(t, true)
	_, key := f.key(t, models.ScopeWrite)
	var big strings.Builder
	big.WriteString(csvHeader + "\n")
	for i := range 10_001 {
		fmt.Fprintf(&big, "ORD-%d,USPS,1 Main St,Springfield,12345,2 Side St,Portland,OR,97201,1,\n", i)
	}
	rows := make([]string, 10_001)
	for i := range rows {
		rows[i] = `{}`
	}
	for _, tc := range []struct {
		name, ct, body string
		status         int
		code, detail   string
	}{
		{"unknown column", "text/csv", "reference,colour\nx,red\n", 422, "validation_failed", ""},
		{"repeated column", "text/csv", "reference,reference\nx,y\n", 422, "validation_failed", ""},
		{"empty column name", "text/csv", "reference,\nx,y\n", 422, "validation_failed", ""},
		{"bare quote", "text/csv", csvHeader + "\nORD-1,US\"PS,a,b,c,d,e,f,g,1,\n", 400, "bad_request", "CSV line 2"},
		{"unclosed quote", "text/csv", csvHeader + "\nORD-1,\"USPS,a,b,c,d,e,f,g,1,\n", 400, "bad_request", "CSV line"},
		{"short record", "text/csv", csvHeader + "\nORD-1,USPS\n", 400, "bad_request", "CSV line 2"},
		{"not UTF-8", "text/csv", csvHeader + "\nM\xfcnchen,USPS,a,b,c,d,e,f,g,1,\n", 400, "bad_request", "UTF-8"},
		{"empty", "text/csv", "", 400, "bad_request", "empty"},
		{"header only", "text/csv", csvHeader + "\r\n", 400, "bad_request", "no shipment"},
		{"10,001 CSV rows", "text/csv", big.String(), 413, "payload_too_large", "at most 10000"},
		{"10,001 JSON rows", "application/json", batchBody(rows...), 413, "payload_too_large", "at most 10000"},
		{"no shipments", "application/json", `{"shipments": []}`, 422, "validation_failed", ""},
		{"unknown key", "application/json", `{"shipments": [{}], "x": 1}`, 422, "validation_failed", ""},
		{"not an array", "application/json", `{"shipments": {}}`, 400, "bad_request", "array"},
		{"malformed JSON", "application/json", `{"shipments": [`, 400, "bad_request", "malformed"},
		{"other media type", "text/plain", "reference\nx\n", 415, "unsupported_media", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, body := f.send(t, http.MethodPost, "/v1/batches", key, tc.body, "Content-Type", tc.ct)
			checkProblem(t, rec.Code, rec.Header(), body, tc.status, tc.code)
			if d, _ := body["detail"].(string); !strings.Contains(d, tc.detail) {
				t.Errorf("detail %q, want it to say %q", d, tc.detail)
			}
			for _, table := range []string{"batch_operations", "batch_items", "shipments", "addresses"} {
				if n := count(t, f.store, table); n != 0 {
					t.Errorf("%d rows in %s, want none", n, table)
				}
			}
		})
	}
}

// waitBatch polls GET /v1/batches/{id} until the batch is done.
func waitBatch(t *testing.T, f *fixture, key string, id uuid.UUID) models.Batch {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		rec, _ := f.send(t, http.MethodGet, "/v1/batches/"+id.String(), key, "")
		b := batchOf(t, rec)
		if b.Status != models.BatchPending && b.Status != models.BatchProcessing {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("batch still %s after 20 s: %+v", b.Status, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runWorker runs w until the test ends.
func runWorker(t *testing.T, w *handlers.BatchWorker) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func TestBatchBackground(t *testing.T) {
	store := openStore(t, testdb.New(t), models.PoolOptions{MaxOpenConns: 4, MaxIdleConns: 4})
	w := handlers.NewBatchWorker(store, nil)
	f := fixtureOf(store, func(o *handlers.Options) { o.Batches = w })
	runWorker(t, w)
	_, key := f.key(t, models.ScopeWrite)
	rows := make([]string, 250)
	for i := range rows {
		rows[i] = batchShipment(i)
	}
	rows[7] = `{"reference": "no addresses"}`
	body := batchBody(rows...)
	rec, _ := f.send(t, http.MethodPost, "/v1/batches", key, body, "Idempotency-Key", "batch-1")
	if rec.Code != http.StatusAccepted {
		t.Fatalf("POST = %d %s, want 202", rec.Code, rec.Body)
	}
	b := batchOf(t, rec)
	if b.Status != models.BatchPending || b.TotalItems != 250 || rec.Header().Get("Location") != "/v1/batches/"+b.ID.String() {
		t.Errorf("202 answer %+v, Location %q", b, rec.Header().Get("Location"))
	}
	done := waitBatch(t, f, key, b.ID)
	if done.Status != models.BatchCompletedWithErrors || done.SuccessfulItems != 249 || done.FailedItems != 1 ||
		done.ProcessedItems != 250 || len(done.Errors) != 2 || done.Errors[0].Row != 8 {
		t.Errorf("done %+v", done)
	}
	if n := count(t, f.store, "shipments"); n != 249 {
		t.Errorf("%d shipments, want 249", n)
	}
	if n := count(t, f.store, "batch_items"); n != 0 {
		t.Errorf("%d batch items left", n)
	}
	// The same key and body replay the first answer; nothing is imported again.
	rec, _ = f.send(t, http.MethodPost, "/v1/batches", key, body, "Idempotency-Key", "batch-1")
	if rec.Code != http.StatusAccepted || rec.Header().Get("Idempotent-Replayed") != "true" || batchOf(t, rec).ID != b.ID {
		t.Errorf("replay = %d %s", rec.Code, rec.Body)
	}
	time.Sleep(100 * time.Millisecond)
	if n := count(t, f.store, "batch_operations"); n != 1 {
		t.Errorf("%d batches, want 1", n)
	}
	if n := count(t, f.store, "shipments"); n != 249 {
		t.Errorf("%d shipments after the replay, want 249", n)
	}
}

// TestBatchResume: a worker that dies in the middle of a batch (its lease
// left to expire) leaves it to the next, which imports the rest: every
// row once.
func TestBatchResume(t *testing.T) {
	store := openStore(t, testdb.New(t), models.PoolOptions{MaxOpenConns: 4, MaxIdleConns: 4})
	f := fixtureOf(store) // no worker runs: the batch waits
	_, key := f.key(t, models.ScopeWrite)
	rows := make([]string, 300)
	for i := range rows {
		rows[i] = batchShipment(i)
	}
	rec, _ := f.send(t, http.MethodPost, "/v1/batches", key, batchBody(rows...))
	if rec.Code != http.StatusAccepted {
		t.Fatalf("POST = %d", rec.Code)
	}
	id := batchOf(t, rec).ID
	ctx := context.Background()
	// The first worker takes it, imports one chunk and dies.
	claim, err := store.ClaimBatch(ctx, 2*time.Second)
	if err != nil || claim == nil || claim.ID != id {
		t.Fatalf("claim = %+v, %v", claim, err)
	}
	if done, err := store.ImportBatchChunk(ctx, claim, 120, handlers.ShipmentDecoder(claim.Source)); done || err != nil {
		t.Fatalf("chunk: %v, %v", done, err)
	}
	b, err := store.Batch(ctx, id)
	if err != nil || b.Status != models.BatchProcessing || b.ProcessedItems != 120 {
		t.Fatalf("after one chunk: %+v, %v", b, err)
	}
	// While its lease holds, nobody else takes it; a worker that stops
	// releases it, and the next takes it at once.
	if other, err := store.ClaimBatch(ctx, time.Second); other != nil || err != nil {
		t.Fatalf("claimed a leased batch: %+v, %v", other, err)
	}
	if err := store.ReleaseBatch(ctx, claim); err != nil {
		t.Fatal(err)
	}
	if claim, err = store.ClaimBatch(ctx, 2*time.Second); err != nil || claim == nil || claim.ID != id {
		t.Fatalf("claim after a release = %+v, %v", claim, err)
	}
	if b, err = store.Batch(ctx, id); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(b.LeaseExpiresAt.Time) + 50*time.Millisecond)
	// The next start takes it up and finishes it; the dead worker's lease
	// is no good any more.
	w := handlers.NewBatchWorker(store, nil)
	runWorker(t, w)
	b = waitBatch(t, f, key, id)
	if b.Status != models.BatchCompleted || b.SuccessfulItems != 300 || b.ProcessedItems != 300 {
		t.Errorf("resumed batch %+v", b)
	}
	if n := count(t, f.store, "shipments"); n != 300 {
		t.Errorf("%d shipments, want 300 (each row once)", n)
	}
	if _, err := store.ImportBatchChunk(ctx, claim, 120, handlers.ShipmentDecoder(claim.Source)); err == nil {
		t.Error("the dead worker's lease still works")
	}
}

// TestExportImportRoundTrip exports shipments as CSV, imports the file
// into another database and exports that: the two files are the same.
func TestExportImportRoundTrip(t *testing.T) {
	f := newFixture(t, true)
	_, key := f.key(t, models.ScopeWrite)
	for _, body := range []string{
		batchShipment(1),
		`{"easypost_id": "shp_x", "mode": "production", "reference": "Quotes \"and\", commas", "status": "delivered",
		  "tracking_code": "9400", "carrier": "UPS", "service": "Ground", "rates": [{"rate": "12.10"}], "base_cost": 12.1,
		  "total_cost": 0.1, "currency": "EUR", "delivery_days": 3, "delivery_date": "2026-11-28T17:39:55.123456Z",
		  "weight": 3.25, "metadata": {"k": ["v", 1]},
		  "from_address": {"name": "Zoë Ünal", "street1": "Line 1\nLine 2", "city": "Berlin", "zip": "10115", "country": "DE", "residential": false},
		  "to_address": {"street1": "2 Side St", "city": "Portland", "zip": "97201"},
		  "return_address": {"street1": "R", "city": "Rc", "zip": "1"},
		  "parcel": {"weight": 1.5, "length": 10, "predefined_package": "Box"},
		  "customs_info": {"contents_type": "gift", "customs_certify": false, "customs_items": [{"value": "12.10"}]}}`,
	} {
		rec, _ := f.send(t, http.MethodPost, "/v1/shipments", key, body)
		if rec.Code != http.StatusCreated {
			t.Fatalf("create = %d %s", rec.Code, rec.Body)
		}
	}
	first := export(t, f, key, "/v1/shipments.csv", "")
	if viaAccept := export(t, f, key, "/v1/shipments", "text/csv"); viaAccept != first {
		t.Errorf("Accept: text/csv answers another file than /v1/shipments.csv:\n%s\n%s", viaAccept, first)
	}
	if n := len(records(t, first)); n != 3 {
		t.Errorf("export has %d records, want 3:\n%s", n, first)
	}
	filtered := export(t, f, key, "/v1/shipments.csv?status=delivered", "")
	if recs := records(t, filtered); len(recs) != 2 || recs[1][0] != "shp_x" {
		t.Errorf("filtered export:\n%s", filtered)
	}

	g := newFixture(t, true)
	_, key2 := g.key(t, models.ScopeWrite)
	rec, _ := g.postCSV(t, key2, first)
	if b := batchOf(t, rec); rec.Code != http.StatusCreated || b.Status != models.BatchCompleted {
		t.Fatalf("import of the export = %d %s", rec.Code, rec.Body)
	}
	// The import creates them in row order, and one transaction gives
	// them the same created_at: compared as sets of records.
	second := export(t, g, key2, "/v1/shipments.csv", "")
	if diff := cmp.Diff(sortedLines(t, first), sortedLines(t, second)); diff != "" {
		t.Errorf("export → import → export differs (-first +second):\n%s", diff)
	}
}

// export GETs path as CSV and returns the body.
func export(t *testing.T, f *fixture, key, path, accept string) string {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	rec := httptest.NewRecorder()
	f.e.ServeHTTP(rec, req)
	handlers.CheckAgainstSpec(t, req, nil, rec)
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/csv") {
		t.Fatalf("GET %s = %d %s %s", path, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

// records parses a CSV.
func records(t *testing.T, s string) [][]string {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(s)).ReadAll()
	if err != nil {
		t.Fatalf("export is not CSV: %v", err)
	}
	return recs
}

// sortedLines is the CSV's header and its records sorted.
func sortedLines(t *testing.T, s string) [][]string {
	recs := records(t, s)
	slices.SortFunc(recs[1:], func(a, b []string) int { return slices.Compare(a, b) })
	return recs
}

// TestBatchBackgroundConflict: in the background, a chunk whose COPY the
// database refuses (an easypost_id taken) is imported again row by row,
// and only that row fails.
func TestBatchBackgroundConflict(t *testing.T) {
	store := openStore(t, testdb.New(t), models.PoolOptions{MaxOpenConns: 4, MaxIdleConns: 4})
	w := handlers.NewBatchWorker(store, nil)
	f := fixtureOf(store, func(o *handlers.Options) { o.Batches = w })
	runWorker(t, w)
	_, key := f.key(t, models.ScopeWrite)
	rows := make([]string, 150)
	for i := range rows {
		rows[i] = strings.Replace(batchShipment(i), `"reference"`, fmt.Sprintf(`"easypost_id": "shp_%d", "reference"`, i), 1)
	}
	rows[120] = strings.Replace(rows[120], `"shp_120"`, `"shp_7"`, 1)
	rec, _ := f.send(t, http.MethodPost, "/v1/batches", key, batchBody(rows...))
	if rec.Code != http.StatusAccepted {
		t.Fatalf("POST = %d %s", rec.Code, rec.Body)
	}
	b := waitBatch(t, f, key, batchOf(t, rec).ID)
	if b.Status != models.BatchCompletedWithErrors || b.SuccessfulItems != 149 || len(b.Errors) != 1 || b.Errors[0].Row != 121 {
		t.Errorf("batch %+v, want row 121 refused alone", b)
	}
	var n, addrs, parcels int
	if err := store.DB().QueryRow(`SELECT (SELECT count(*) FROM shipments), (SELECT count(*) FROM addresses),
		(SELECT count(*) FROM parcels)`).Scan(&n, &addrs, &parcels); err != nil {
		t.Fatal(err)
	}
	if n != 149 || addrs != 298 || parcels != 149 {
		t.Errorf("%d shipments, %d addresses, %d parcels; want 149, 298, 149", n, addrs, parcels)
	}
	// What COPY wrote reads back as the API wrote it.
	status, _, body := f.do(t, http.MethodGet, "/v1/shipments?reference=ORD-3", key)
	list, _ := body["shipments"].([]any)
	if status != http.StatusOK || len(list) != 1 {
		t.Fatalf("list = %d %v", status, body)
	}
	sh := list[0].(map[string]any)
	to := sh["to_address"].(map[string]any)
	parcel := sh["parcel"].(map[string]any)
	got := []any{sh["easypost_id"], sh["status"], sh["mode"], sh["currency"], to["state"], to["country"], parcel["weight"], parcel["mass_unit"]}
	want := []any{"shp_3", "unknown", "test", "USD", "OR", "US", 16.5, "oz"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("copied shipment (-want +got):\n%s", diff)
	}
}

// TestBatchBadInputCorpus sends the bad-input corpus to POST /v1/batches,
// as JSON and as CSV: each answer is a 4xx problem and nothing is written.
func TestBatchBadInputCorpus(t *testing.T) {
	f := newFixture(t, true)
	_, key := f.key(t, models.ScopeWrite)
	before := snapshot(t, f)
	for name, body := range badBodies() {
		for _, ct := range []string{"application/json", "text/csv"} {
			rec, out := f.send(t, http.MethodPost, "/v1/batches", key, body, "Content-Type", ct, "Idempotency-Key", "corpus-"+ct+name)
			if rec.Code < 400 || rec.Code >= 500 || rec.Header().Get("Content-Type") != "application/problem+json" || out["code"] == nil {
				t.Errorf("%s as %s: %d %.200s; want a 4xx problem", name, ct, rec.Code, rec.Body)
			}
		}
	}
	if after := snapshot(t, f); after != before {
		t.Error("the database changed")
	}
	if n := count(t, f.store, "batch_operations"); n != 0 {
		t.Errorf("%d batches recorded, want none", n)
	}
}
