package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/waybill/waybill/handlers"
	"github.com/waybill/waybill/models"
	"github.com/waybill/waybill/testdb"
)

const (
	allowedOrigin = "https://ops.example.com"
	otherOrigin   = "https://evil.example.com"
)

// preflight sends the OPTIONS request a browser sends before a PATCH with
// a key and a JSON body from origin.
func preflight(f *fixture, path, origin string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodOptions, path, nil)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", "PATCH")
	req.Header.Set("Access-Control-Request-Headers", "authorization,content-type,if-match,idempotency-key")
	rec := httptest.NewRecorder()
	f.e.ServeHTTP(rec, req)
	return rec
}

// corsHeaders lists the Access-Control-* headers of h.
func corsHeaders(h http.Header) []string {
	var out []string
	for name := range h {
		if strings.HasPrefix(name, "Access-Control-") {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// headerList splits a comma-separated header into its items.
func headerList(h http.Header, name string) []string {
	var out []string
	for _, v := range h.Values(name) {
		for _, item := range strings.Split(v, ",") {
			out = append(out, strings.TrimSpace(item))
		}
	}
	return out
}

func TestCORSClosedByDefault(t *testing.T) {
	f := newFixture(t, true)
	_, key := f.key(t, models.ScopeRead)
	rec := preflight(f, "/v1/shipments", allowedOrigin)
	// The router answers OPTIONS itself (204 with Allow), but without
	// Access-Control-Allow-Origin a browser refuses to go on.
	if got := corsHeaders(rec.Header()); len(got) != 0 {
		t.Errorf("preflight without CORS_ORIGINS: %d with %v, want no CORS header", rec.Code, got)
	}
	rec, _ = f.send(t, http.MethodGet, "/v1/shipments", key, "", "Origin", allowedOrigin)
	if got := corsHeaders(rec.Header()); rec.Code != http.StatusOK || len(got) != 0 {
		t.Errorf("GET with an Origin: %d with %v, want 200 and no CORS header", rec.Code, got)
	}
	if slices.Contains(headerList(rec.Header(), "Vary"), "Origin") {
		t.Errorf("Vary: Origin without CORS_ORIGINS")
	}
}

func TestCORSOrigins(t *testing.T) {
	store := openStore(t, testdb.New(t), models.PoolOptions{MaxOpenConns: 4, MaxIdleConns: 4})
	f := fixtureOf(store, func(o *handlers.Options) {
		o.CORSOrigins = []string{allowedOrigin, "http://localhost:5173"}
	})
	_, key := f.key(t, models.ScopeWrite)
	shipment := "/v1/shipments/00000000-0000-0000-0000-000000000001"

	t.Run("allowed preflight", func(t *testing.T) {
		for _, path := range []string{"/v1/shipments", shipment, "/v1/no-such-route"} {
			rec := preflight(f, path, allowedOrigin)
			h := rec.Header()
			if rec.Code != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != allowedOrigin {
				t.Errorf("%s: %d, Allow-Origin %q; want 204 and %s", path, rec.Code, h.Get("Access-Control-Allow-Origin"), allowedOrigin)
			}
			if got, want := headerList(h, "Access-Control-Allow-Headers"),
				[]string{"Authorization", "Content-Type", "If-Match", "Idempotency-Key", "X-Waybill-Min-LSN"}; !slices.Equal(got, want) {
				t.Errorf("%s: Allow-Headers %q, want %q", path, got, want)
			}
			if got := headerList(h, "Access-Control-Allow-Methods"); !slices.Contains(got, "PATCH") || !slices.Contains(got, "DELETE") {
				t.Errorf("%s: Allow-Methods %q", path, got)
			}
			if h.Get("Access-Control-Max-Age") != "600" || h.Get("Access-Control-Allow-Credentials") != "" {
				t.Errorf("%s: Max-Age %q, Allow-Credentials %q; want 600 and none", path,
					h.Get("Access-Control-Max-Age"), h.Get("Access-Control-Allow-Credentials"))
			}
			if !slices.Contains(headerList(h, "Vary"), "Origin") {
				t.Errorf("%s: Vary %q lacks Origin", path, h.Values("Vary"))
			}
		}
		// The other listed origin is answered with its own.
		if got := preflight(f, "/v1/shipments", "http://localhost:5173").Header().Get("Access-Control-Allow-Origin"); got != "http://localhost:5173" {
			t.Errorf("second origin: Allow-Origin %q", got)
		}
	})

	t.Run("allowed requests", func(t *testing.T) {
		for _, c := range []struct {
			method, path, key, body string
			status                  int
		}{
			{http.MethodGet, "/v1/shipments", key, "", http.StatusOK},
			{http.MethodPost, "/v1/shipments", key, minimalShipment, http.StatusCreated},
			{http.MethodGet, "/v1/shipments", "", "", http.StatusUnauthorized}, // a problem is readable too
			{http.MethodGet, shipment, key, "", http.StatusNotFound},
		} {
			rec, _ := f.send(t, c.method, c.path, c.key, c.body, "Origin", allowedOrigin)
			h := rec.Header()
			if rec.Code != c.status || h.Get("Access-Control-Allow-Origin") != allowedOrigin {
				t.Errorf("%s %s: %d, Allow-Origin %q; want %d and %s", c.method, c.path, rec.Code,
					h.Get("Access-Control-Allow-Origin"), c.status, allowedOrigin)
			}
			if got, want := headerList(h, "Access-Control-Expose-Headers"),
				[]string{"ETag", "Location", "Retry-After", "X-Request-Id", "X-Waybill-LSN"}; !slices.Equal(got, want) {
				t.Errorf("%s %s: Expose-Headers %q, want %q", c.method, c.path, got, want)
			}
			if !slices.Contains(headerList(h, "Vary"), "Origin") {
				t.Errorf("%s %s: Vary %q lacks Origin", c.method, c.path, h.Values("Vary"))
			}
		}
	})

	t.Run("refused origins", func(t *testing.T) {
		// Not listed, or listed but not byte for byte: no CORS header at
		// all, so the browser refuses to hand the answer to the page.
		for _, origin := range []string{otherOrigin, "https://OPS.example.com", allowedOrigin + "/", "http://ops.example.com",
			"https://ops.example.com:8443", "null", ""} {
			rec := preflight(f, "/v1/shipments", origin)
			if got := corsHeaders(rec.Header()); len(got) != 0 {
				t.Errorf("preflight from %q: %d with %v, want no CORS header", origin, rec.Code, got)
			}
			rec, _ = f.send(t, http.MethodGet, "/v1/shipments", key, "", "Origin", origin)
			if got := corsHeaders(rec.Header()); rec.Code != http.StatusOK || len(got) != 0 {
				t.Errorf("GET from %q: %d with %v, want 200 and no CORS header", origin, rec.Code, got)
			}
			if !slices.Contains(headerList(rec.Header(), "Vary"), "Origin") {
				t.Errorf("GET from %q: Vary %q lacks Origin (the answer depends on it)", origin, rec.Header().Values("Vary"))
			}
		}
	})

	t.Run("only /v1", func(t *testing.T) {
		for _, path := range []string{"/health", "/openapi.json", "/console/"} {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.Header.Set("Origin", allowedOrigin)
			rec := httptest.NewRecorder()
			f.e.ServeHTTP(rec, req)
			if got := corsHeaders(rec.Header()); len(got) != 0 {
				t.Errorf("GET %s from an allowed origin: %v, want no CORS header", path, got)
			}
			if got := corsHeaders(preflight(f, path, allowedOrigin).Header()); len(got) != 0 {
				t.Errorf("preflight of %s: %v, want no CORS header", path, got)
			}
		}
	})
}
