package handlers_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/waybill/waybill/models"
)

// TestDeleteAddressInUse: an address a shipment uses cannot be deleted; the
// 409 says which kind of resource uses it, in the API's words, and names
// no constraint or table.
func TestDeleteAddressInUse(t *testing.T) {
	f := newFixture(t, true)
	_, key := f.key(t, models.ScopeWrite)
	rec, sh := f.send(t, http.MethodPost, "/v1/shipments", key, minimalShipment)
	if rec.Code != 201 {
		t.Fatalf("create: %d %v", rec.Code, sh)
	}
	addr := sh["from_address_id"].(string)
	rec, body := f.send(t, http.MethodDelete, "/v1/addresses/"+addr, key, "")
	checkProblem(t, rec.Code, rec.Header(), body, 409, "conflict")
	if detail, _ := body["detail"].(string); detail != "it is still used by one or more shipments" {
		t.Errorf("detail %q, want it to say shipments still use it", detail)
	}
	if raw := rec.Body.String(); strings.Contains(raw, "fkey") || strings.Contains(raw, "from_address_id") {
		t.Errorf("the answer names the schema: %s", raw)
	}
	if rec, _ := f.send(t, http.MethodGet, "/v1/addresses/"+addr, key, ""); rec.Code != 200 {
		t.Errorf("the address is gone after a refused delete: %d", rec.Code)
	}
}
