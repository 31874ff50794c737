package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/waybill/waybill/models"
	"github.com/waybill/waybill/testdb"
)

// batchRows returns n shipment create bodies.
func batchRows(n int) []models.BatchItem {
	items := make([]models.BatchItem, n)
	for i := range items {
		items[i] = models.BatchItem{Row: i + 1, Shipment: models.JSON(fmt.Sprintf(`{"reference": "R-%d",
			"from_address": {"street1": "1 Main St", "city": "Springfield", "zip": "12345"},
			"to_address": {"street1": "2 Side St", "city": "Portland", "zip": "97201"}, "parcel": {"weight": 2}}`, i))}
	}
	return items
}

// TestServeResumesBatches: batches a previous server acknowledged and did
// not finish (one never started, one cut in the middle, its worker dead)
// are imported by the next `waybill serve` as it starts, each row once;
// and a batch posted to it is imported in the background.
func TestServeResumesBatches(t *testing.T) {
	dbURL := testdb.New(t)
	ctx := context.Background()
	store, err := models.Open(dbURL, models.PoolOptions{MaxOpenConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	pending, _, err := store.CreateBatch(ctx, models.NewBatch{Source: "json", Total: 150, Items: batchRows(150)}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	cut, claim, err := store.CreateBatch(ctx, models.NewBatch{Source: "json", Total: 150, Items: batchRows(150), Claim: true},
		time.Second)
	if err != nil {
		t.Fatal(err)
	}
	claim.Source = "json"
	decode := func(body []byte) (*models.Shipment, error) {
		var sh models.Shipment
		if err := json.Unmarshal(body, &sh); err != nil {
			return nil, err
		}
		sh.Status, sh.Mode, sh.Currency, sh.FromAddress.Country, sh.ToAddress.Country = "unknown", "test", "USD", "US", "US"
		sh.Parcel.MassUnit, sh.Parcel.DistanceUnit = "oz", "in"
		return &sh, sh.Validate()
	}
	if done, err := store.ImportBatchChunk(ctx, claim, 100, decode); done || err != nil {
		t.Fatalf("first chunk: %v, %v", done, err)
	}
	time.Sleep(1100 * time.Millisecond) // the dead worker's lease runs out

	key := apiKeyFor(t, dbURL, models.ScopeWrite)
	s := startWaybill(t, map[string]string{"DATABASE_URL": dbURL})
	for _, id := range []uuid.UUID{pending, cut} {
		waitCompleted(t, s, key, id.String(), 150)
	}
	var n int
	if err := store.DB().QueryRow(`SELECT count(*) FROM shipments`).Scan(&n); err != nil || n != 300 {
		t.Errorf("%d shipments (%v), want 300: each row once", n, err)
	}

	var body strings.Builder
	body.WriteString(`{"shipments": [`)
	for i, it := range batchRows(150) {
		if i > 0 {
			body.WriteString(",")
		}
		body.Write(it.Shipment)
	}
	body.WriteString("]}")
	req, _ := http.NewRequest(http.MethodPost, s.base+"/v1/batches", bytes.NewReader([]byte(body.String())))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var b struct {
		ID string `json:"id"`
	}
	err = json.NewDecoder(resp.Body).Decode(&b)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /v1/batches = %d, %v", resp.StatusCode, err)
	}
	waitCompleted(t, s, key, b.ID, 150)
	if code := s.stop(t); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
}

// waitCompleted waits until the batch id is completed with want rows.
func waitCompleted(t *testing.T, s *server, key, id string, want int) {
	t.Helper()
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		r := s.get(t, "/v1/batches/"+id, key)
		if r.status != http.StatusOK {
			t.Fatalf("GET batch: %d %v", r.status, r.body)
		}
		if r.body["status"] == models.BatchCompleted && r.body["successful_items"] == float64(want) {
			return
		}
		if time.Since(start) > 20*time.Second {
			t.Fatalf("batch %s not completed after 20 s: %v", id, r.body)
		}
	}
}
