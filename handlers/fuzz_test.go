package handlers

import (
	"errors"
	"net/url"
	"testing"

	"github.com/waybill/waybill/models"
)

// decodeSeeds are the seed corpus of FuzzDecode, run by every go test.
var decodeSeeds = []string{
	`{}`, `null`, `[]`, `"x"`, `{"reference": "a"}`, `{"reference": 5}`, `{"Reference": "a"}`, `{"id": "x"}`,
	`{"from_address": {"street1": "a", "city": "b", "zip": "c"}, "to_address_id": "00000000-0000-0000-0000-000000000001"}`,
	`{"parcel": {"weight": 1e400}}`, `{"base_cost": 1.005}`, `{"base_cost": "1.00"}`, `{"base_cost": -0}`,
	`{"delivery_date": "2026-02-30T00:00:00Z"}`, `{"metadata": {"a": [1, 2, {"b": null}]}}`, `{"rates": "\u0000"}`,
	`{} {}`, `{"a":`, "{\"reference\": \"\xff\"}", `{"reference": "x' OR 1=1 --"}`, `{"parcel": [1, 2]}`,
	`{"customs_info": {"customs_items": [{"value": "12.10"}]}, "status": "delivered"}`,
}

// FuzzDecode feeds arbitrary bodies to the request decoder and the
// shipment validation behind it: they must never panic, and every refusal
// must be a 400 or a 422 naming fields, never an internal error.
func FuzzDecode(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var in models.Shipment
		_, err := decodeBytes(body, bodyContracts["POST /v1/shipments"], &in, false)
		if err == nil {
			err = in.Validate()
		}
		checkClientError(t, err)
		var patch mergePatch[models.Shipment]
		_, err = decodeBytes(body, bodyContracts["PATCH /v1/shipments/{id}"], &patch.value, true)
		checkClientError(t, err)
	})
}

// querySeeds are the seed corpus of FuzzQuery.
var querySeeds = []string{
	"", "page_size=20", "page_size=0", "page_size=-1", "page_size=99999999999999999999", "status=delivered,failure",
	"status=", "status=,", "before_id=00000000-0000-0000-0000-000000000001&after_id=00000000-0000-0000-0000-000000000002",
	"start_datetime=2026-11-28T17:39:55.123456+05:30&end_datetime=2026-11-28T00:00:00Z", "carrier=%27%3B+DROP+TABLE+shipments%3B--",
	"unknown=1", "carrier=a&carrier=b", "mode=test", "start_date=2026-02-29", "%zz",
}

// FuzzQuery feeds arbitrary query strings to the list-parameter parser:
// it must never panic, and its only complaint is a 400.
func FuzzQuery(f *testing.F) {
	for _, s := range querySeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return // Echo answers an unparseable query itself
		}
		q := newQuery(v, append(listParams, "status", "carrier", "mode", "start_date")...)
		q.page()
		q.listOf("status", models.Statuses)
		q.str("carrier")
		q.oneOf("mode", models.Modes)
		q.date("start_date")
		if err := q.Err(); err != nil {
			var api *apiError
			if !errors.As(err, &api) || api.code != "bad_request" {
				t.Fatalf("query %q: %v, want a bad_request", raw, err)
			}
		}
	})
}

// checkClientError fails unless err is nil, a 400 or a 422 with fields.
func checkClientError(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	p := toProblem(err)
	if p.Status != 400 && p.Status != 422 && p.Status != 415 {
		t.Fatalf("error %v maps to %d %s, want a client error", err, p.Status, p.Code)
	}
	if p.Status == 422 && len(p.Errors) == 0 {
		t.Fatalf("422 without field errors: %v", err)
	}
}
