package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/waybill/waybill/pgcluster"
)

// The bulk part of a run (-scenarios bulk) times what the closed-loop
// scenarios cannot: one batch import of batchRows shipments, from the POST
// until GET /v1/batches/{id} says it is done, and one CSV export of every
// shipment, with the server's peak RSS. It runs on a clone of the CRUD
// dataset, with a server of its own, after the scenarios: the export
// first, on the fresh server, so that the peak RSS read after it is the
// export's, then the imports.

// batchRows is the size of the timed batches: the largest one the API
// takes.
const batchRows = 10_000

// batchTarget is the target for a batch of batchRows valid shipments.
const batchTarget = 5 * time.Second

// bulkRuns is how many JSON batches are timed; the table shows each.
const bulkRuns = 3

// bulkResult is the bulk part's outcome.
type bulkResult struct {
	shipments int // seeded
	// jsonTook and csvTook are the JSON batches' and the CSV batch's times
	// from the POST to completed.
	jsonTook []time.Duration
	csvTook  time.Duration
	// exportRows, exportBytes and exportTook are the export's.
	exportRows  int
	exportBytes int64
	exportTook  time.Duration
	// exportRSS is the server's peak RSS after the export, rss after the
	// imports too.
	exportRSS, rss int64
	err            string
}

// failed reports whether a part failed or missed its target.
func (b *bulkResult) failed() bool {
	return b.err != "" || slices.ContainsFunc(append(slices.Clone(b.jsonTook), b.csvTook), func(d time.Duration) bool {
		return d <= 0 || d > batchTarget
	})
}

// cloneRun clones the CRUD dataset's template into a run database of its
// own for a part run outside the phases (bulk, scale), named for what in
// the log; drop drops it.
func (h *harness) cloneRun(ctx context.Context, what string) (runDB string, drop func(), err error) {
	template, err := h.ensureTemplate(ctx, h.opts.shipments)
	if err != nil {
		return "", nil, err
	}
	runDB = fmt.Sprintf("%srun_%d_0", namePrefix, os.Getpid())
	h.logf("cloning %s into %s for %s", template, runDB, what)
	if err := h.pg.Clone(ctx, runDB, template, pgcluster.CopyFiles); err != nil {
		return "", nil, err
	}
	return runDB, func() {
		if err := h.pg.Drop(runDB); err != nil {
			h.logf("%v", err)
		}
	}, nil
}

// bulk runs the bulk part; an error is the harness's own (the database,
// the server), a failure of the API is in the result.
func (h *harness) bulk(ctx context.Context) (*bulkResult, error) {
	n := h.opts.shipments
	runDB, drop, err := h.cloneRun(ctx, "the batch import and the export")
	if err != nil {
		return nil, err
	}
	defer drop()
	dbURL := h.pg.DatabaseURL(runDB)
	key, err := h.createAPIKey(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	srv, err := h.startServer(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	client := newClient(2)
	client.Timeout = 10 * time.Minute
	defer client.CloseIdleConnections()

	res := &bulkResult{shipments: n}
	fail := func(err error) (*bulkResult, error) {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		res.err = err.Error()
		return res, nil
	}
	h.logf("exporting every shipment as CSV")
	if res.exportRows, res.exportBytes, res.exportTook, err = timeExport(ctx, client, srv.base, key); err != nil {
		return fail(err)
	}
	if res.exportRSS, err = srv.peakRSS(); err != nil {
		return nil, fmt.Errorf("peak RSS: %w", err)
	}
	for run := range bulkRuns {
		h.logf("batch import %d/%d: %d shipments as JSON", run+1, bulkRuns, batchRows)
		took, err := timeBatch(ctx, client, srv.base, key, "application/json", jsonBatch(run))
		if err != nil {
			return fail(err)
		}
		res.jsonTook = append(res.jsonTook, took)
	}
	h.logf("batch import: %d shipments as CSV", batchRows)
	if res.csvTook, err = timeBatch(ctx, client, srv.base, key, "text/csv", csvBatch()); err != nil {
		return fail(err)
	}
	if res.rss, err = srv.peakRSS(); err != nil {
		return nil, fmt.Errorf("peak RSS: %w", err)
	}
	return res, nil
}

// benchShipment is row i of batch run as a create body.
func benchShipment(run, i int) map[string]any {
	return map[string]any{
		"reference": fmt.Sprintf("BATCH-%d-%05d", run, i), "carrier": "USPS", "service": "Priority",
		"tracking_code": fmt.Sprintf("9400%02d%012d", run, i), "total_cost": 7.35,
		"from_address": map[string]any{"name": "Warehouse", "street1": "1 Main St", "city": "Springfield", "state": "IL", "zip": "62701"},
		"to_address": map[string]any{"name": fmt.Sprintf("Customer %d", i), "street1": fmt.Sprintf("%d Side St", i), "city": "Portland",
			"state": "OR", "zip": "97201"},
		"parcel": map[string]any{"weight": 16.5, "length": 10, "width": 8, "height": 4},
	}
}

func jsonBatch(run int) []byte {
	rows := make([]map[string]any, batchRows)
	for i := range rows {
		rows[i] = benchShipment(run, i)
	}
	b, _ := json.Marshal(map[string]any{"shipments": rows})
	return b
}

func csvBatch() []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write([]string{"reference", "carrier", "service", "tracking_code", "total_cost", "from_name", "from_street1", "from_city",
		"from_state", "from_zip", "to_name", "to_street1", "to_city", "to_state", "to_zip", "parcel_weight", "parcel_length",
		"parcel_width", "parcel_height"})
	for i := range batchRows {
		_ = w.Write([]string{fmt.Sprintf("BATCH-CSV-%05d", i), "USPS", "Priority", fmt.Sprintf("9400CSV%012d", i), "7.35",
			"Warehouse", "1 Main St", "Springfield", "IL", "62701", fmt.Sprintf("Customer %d", i), fmt.Sprintf("%d Side St", i),
			"Portland", "OR", "97201", "16.5", "10", "8", "4"})
	}
	w.Flush()
	return buf.Bytes()
}

// batchAnswer is what the bench reads of a batch.
type batchAnswer struct {
	ID              string `json:"id"`
	Status          string `json:"status"`
	SuccessfulItems int    `json:"successful_items"`
	FailedItems     int    `json:"failed_items"`
}

// timeBatch posts body and polls the batch until it is done: the time
// from sending the POST to the answer that says completed.
func timeBatch(ctx context.Context, client *http.Client, base, key, contentType string, body []byte) (time.Duration, error) {
	start := time.Now()
	var b batchAnswer
	if err := call(ctx, client, http.MethodPost, base+"/v1/batches", key, contentType, body, &b); err != nil {
		return 0, err
	}
	for b.Status == "pending" || b.Status == "processing" {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		if err := call(ctx, client, http.MethodGet, base+"/v1/batches/"+b.ID, key, "", nil, &b); err != nil {
			return 0, err
		}
		if time.Since(start) > 5*time.Minute {
			return 0, fmt.Errorf("batch %s still %s after 5 minutes", b.ID, b.Status)
		}
	}
	took := time.Since(start)
	if b.Status != "completed" || b.SuccessfulItems != batchRows {
		return 0, fmt.Errorf("batch %s ended %s with %d imported, %d failed; want completed, %d", b.ID, b.Status,
			b.SuccessfulItems, b.FailedItems, batchRows)
	}
	return took, nil
}

// call sends one request and decodes its 2xx JSON answer into out.
func call(ctx context.Context, client *http.Client, method, url, key, contentType string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, strings.TrimPrefix(url, "http://"), resp.StatusCode, raw)
	}
	return json.Unmarshal(raw, out)
}

// timeExport reads GET /v1/shipments.csv to its end, counting records.
func timeExport(ctx context.Context, client *http.Client, base, key string) (rows int, size int64, took time.Duration, err error) {
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/shipments.csv", nil)
	if err != nil {
		return 0, 0, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(resp.Body)
		return 0, 0, 0, fmt.Errorf("GET /v1/shipments.csv: %d %s", resp.StatusCode, raw)
	}
	cr := &countingReader{r: resp.Body}
	r := csv.NewReader(cr)
	r.ReuseRecord = true
	for {
		_, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, 0, 0, fmt.Errorf("GET /v1/shipments.csv: record %d: %w", rows, err)
		}
		rows++
	}
	return rows - 1, cr.n, time.Since(start), nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// markdown is the bulk part's table and notes.
func (b *bulkResult) markdown() string {
	var s strings.Builder
	fmt.Fprintf(&s, "CSV export and batch import, on a clone of the %s-shipment dataset with a server of its own (the export first):\n\n", thousands(float64(b.shipments)))
	s.WriteString("| operation | time | rows/s | target |\n|---|--:|--:|---|\n")
	for i, d := range b.jsonTook {
		fmt.Fprintf(&s, "| batch import, %s shipments as JSON (run %d) | %s | %s | ≤ %s %s |\n", thousands(batchRows), i+1,
			secs(d), thousands(float64(batchRows)/d.Seconds()), secs(batchTarget), mark(d <= batchTarget))
	}
	if b.csvTook > 0 {
		fmt.Fprintf(&s, "| batch import, %s shipments as CSV | %s | %s | ≤ %s %s |\n", thousands(batchRows),
			secs(b.csvTook), thousands(float64(batchRows)/b.csvTook.Seconds()), secs(batchTarget), mark(b.csvTook <= batchTarget))
	}
	if b.exportTook > 0 {
		fmt.Fprintf(&s, "| CSV export of every shipment (%s rows, %.1f MiB) | %s | %s | — |\n", thousands(float64(b.exportRows)),
			float64(b.exportBytes)/(1<<20), secs(b.exportTook), thousands(float64(b.exportRows)/b.exportTook.Seconds()))
	}
	s.WriteString("\n")
	if b.exportRSS > 0 {
		fmt.Fprintf(&s, "That server's peak RSS (VmHWM) after the export: %.1f MiB (target ≤ 64 MiB %s)", float64(b.exportRSS)/(1<<20),
			mark(b.exportRSS <= rssTarget))
		if b.rss > 0 {
			fmt.Fprintf(&s, "; after the imports too: %.1f MiB", float64(b.rss)/(1<<20))
		}
		s.WriteString(".\n\n")
	}
	if b.err != "" {
		fmt.Fprintf(&s, "bulk failed: `%s`\n\n", oneLine(b.err))
	}
	return s.String()
}

// secs writes d in seconds with two decimals.
func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
