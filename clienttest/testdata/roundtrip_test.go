package client

// TestRoundTrip is copied beside the client oapi-codegen generated and run
// by clienttest's TestClientRoundTrip, which starts the server and names
// it in WAYBILL_URL, with a write key in WAYBILL_KEY. It creates, reads,
// lists and deletes a shipment through the generated client. Money goes
// as the float64 the document's format: double gives it: 1234567.89 comes
// back exact (a float32 client lost a cent), and ten shipments of 0.10 add
// up to exactly 1.00 more on the dashboard, summed by the server in
// numeric, not by the client in floating point.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	c, err := NewClient(os.Getenv("WAYBILL_URL"), WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+os.Getenv("WAYBILL_KEY"))
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}

	address := func(street string) *AddressCreate {
		return &AddressCreate{Street1: street, City: "Springfield", Zip: "62701"}
	}
	create := func(cost float64) Shipment {
		t.Helper()
		body := ShipmentCreate{FromAddress: address("1 Main St"), ToAddress: address("2 Elm St"), TotalCost: &cost}
		resp, err := c.CreateShipment(ctx, nil, body)
		return decode[Shipment](t, resp, err, http.StatusCreated)
	}

	created := create(1234567.89)
	if created.Id == nil || created.TotalCost == nil || *created.TotalCost != 1234567.89 {
		t.Fatalf("created: id %v, total_cost %v; want 1234567.89", created.Id, created.TotalCost)
	}
	id := *created.Id

	resp, err := c.GetShipment(ctx, id, nil)
	raw := body(t, resp, err, http.StatusOK)
	var got Shipment
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if got.TotalCost == nil || *got.TotalCost != 1234567.89 || !bytes.Contains(raw, []byte(`"total_cost":1234567.89`)) {
		t.Errorf("GET: total_cost %v in %s; want exactly 1234567.89", got.TotalCost, raw)
	}

	for range 10 {
		create(0.10)
	}
	resp, err = c.GetDashboard(ctx, nil)
	dash := decode[Dashboard](t, resp, err, http.StatusOK)
	total, err := dash.Summary.TotalCost.AsMoney()
	if err != nil || total != 1234568.89 {
		t.Errorf("dashboard total_cost = %v (%v), want 1234567.89 + 10 × 0.10 = 1234568.89 exactly", total, err)
	}

	pageSize := 100
	resp, err = c.ListShipments(ctx, &ListShipmentsParams{PageSize: &pageSize})
	list := decode[ShipmentList](t, resp, err, http.StatusOK)
	if n := len(list.Shipments); n != 11 || list.HasMore {
		t.Fatalf("list: %d shipments, has_more %v; want 11, false", n, list.HasMore)
	}
	if last := list.Shipments[len(list.Shipments)-1]; last.Id == nil || *last.Id != id {
		t.Errorf("list: the oldest is %v, want the first created, %v", last.Id, id)
	}

	resp, err = c.DeleteShipment(ctx, id, nil)
	body(t, resp, err, http.StatusNoContent)
	resp, err = c.GetShipment(ctx, id, nil)
	body(t, resp, err, http.StatusNotFound)
}

// body reads a response that must have status want.
func body(t *testing.T, resp *http.Response, err error, want int) []byte {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != want {
		t.Fatalf("%s %s = %d %s, want %d", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, b, want)
	}
	return b
}

// decode reads a response that must have status want into the generated
// type T.
func decode[T any](t *testing.T, resp *http.Response, err error, want int) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(body(t, resp, err, want), &v); err != nil {
		t.Fatalf("decoding into %T: %v", v, err)
	}
	return v
}
