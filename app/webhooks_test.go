package app

import (
	"context"
	"strings"
	"testing"

	"github.com/waybill/waybill/models"
	"github.com/waybill/waybill/testdb"
)

// TestWebhooksCommand lists stored deliveries and replays one whose
// shipment was created after it arrived.
func TestWebhooksCommand(t *testing.T) {
	dbURL := testdb.New(t)
	env := map[string]string{"DATABASE_URL": dbURL}
	store, err := models.Open(dbURL, models.PoolOptions{MaxOpenConns: 2, MaxIdleConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	payload := `{"object": "Event", "id": "evt_cli", "description": "tracker.updated", "result": {"object": "Tracker",
		"tracking_code": "EZCLI0001", "carrier": "USPS", "tracking_details": [
		{"object": "TrackingDetail", "datetime": "2026-11-28T08:00:00Z", "status": "in_transit", "message": "Arrived"}]}}`
	d, err := store.ReceiveWebhook(ctx, []byte(payload))
	if err != nil || d.Outcome != models.WebhookUnknownTracker {
		t.Fatalf("receive: %+v, %v", d, err)
	}
	if _, err := store.ReceiveWebhook(ctx, []byte(`{"id": "evt_other", "description": "refund.successful"}`)); err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr := run(t, env, "webhooks", "list")
	if code != 0 || !strings.Contains(stdout, d.ID.String()) || !strings.Contains(stdout, "unknown_tracker") ||
		!strings.Contains(stdout, "evt_other") {
		t.Errorf("list: exit %d, %q %q", code, stdout, stderr)
	}
	code, stdout, _ = run(t, env, "webhooks", "list", "--outcome", "unknown_event")
	if code != 0 || strings.Contains(stdout, "evt_cli") || !strings.Contains(stdout, "evt_other") {
		t.Errorf("list --outcome unknown_event: exit %d, %q", code, stdout)
	}

	code2 := "EZCLI0001"
	if _, err := store.CreateShipment(ctx, &models.Shipment{TrackingCode: &code2, Status: "unknown", Mode: "test", Currency: "USD",
		FromAddress: &models.Address{Street1: "1 Main St", City: "Springfield", Zip: "62701", Country: "US"},
		ToAddress:   &models.Address{Street1: "2 Side St", City: "Portland", Zip: "97201", Country: "US"}}); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = run(t, env, "webhooks", "replay", "evt_cli")
	if code != 0 || !strings.Contains(stdout, "applied") {
		t.Errorf("replay: exit %d, %q %q", code, stdout, stderr)
	}
	var status string
	var actions int
	db := testdb.Open(t, dbURL)
	if err := db.QueryRow(`SELECT status FROM shipments WHERE tracking_code = $1`, code2).Scan(&status); err != nil || status != "in_transit" {
		t.Errorf("status after the replay: %q (%v), want in_transit", status, err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM user_activities WHERE action = 'webhook_delivery.replay'
		AND resource_id = $1 AND method = 'CLI' AND api_key_id IS NULL`, d.ID.String()).Scan(&actions); err != nil || actions != 1 {
		t.Errorf("%d webhook_delivery.replay audit rows (%v), want 1", actions, err)
	}

	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"webhooks", "replay", "evt_nothing"}, 1},
		{[]string{"webhooks", "replay"}, 2},
		{[]string{"webhooks", "list", "--outcome", "lost"}, 2},
		{[]string{"webhooks", "list", "--limit", "0"}, 2},
		{[]string{"webhooks", "purge"}, 2},
	} {
		if code, _, stderr := run(t, env, tc.args...); code != tc.code {
			t.Errorf("%v: exit %d, want %d (%s)", tc.args, code, tc.code, stderr)
		}
	}
}
