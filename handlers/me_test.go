package handlers_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/waybill/waybill/models"
)

func TestMe(t *testing.T) {
	f := newFixture(t, true)
	for _, scope := range []string{models.ScopeRead, models.ScopeWrite, models.ScopeAdmin} {
		k, key := f.key(t, scope)
		rec, body := f.send(t, http.MethodGet, "/v1/me", key, "")
		want := map[string]any{"id": k.ID.String(), "name": "test", "scope": scope}
		if rec.Code != http.StatusOK || len(body) != 3 || body["id"] != want["id"] || body["name"] != want["name"] ||
			body["scope"] != want["scope"] {
			t.Errorf("GET /v1/me with a %s key: %d %v, want 200 %v", scope, rec.Code, body, want)
		}
		// Neither the key nor any part of its secret is in the answer.
		secret := strings.TrimPrefix(key, "wb_")
		if strings.Contains(rec.Body.String(), secret[:8]) || strings.Contains(rec.Body.String(), "hash") {
			t.Errorf("GET /v1/me shows the key or its hash: %s", rec.Body)
		}
	}
	rec, body := f.send(t, http.MethodGet, "/v1/me", "", "")
	checkProblem(t, rec.Code, rec.Header(), body, http.StatusUnauthorized, "unauthorized")
	_, key := f.key(t, models.ScopeRead)
	rec, body = f.send(t, http.MethodGet, "/v1/me?x=1", key, "")
	checkProblem(t, rec.Code, rec.Header(), body, http.StatusBadRequest, "bad_request")
	rec, _ = f.send(t, http.MethodPost, "/v1/me", key, "{}")
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /v1/me: %d, want 405", rec.Code)
	}
}
