package webtest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// fetchResult is what a page of another origin could read of an answer.
type fetchResult struct {
	OK        bool   `json:"ok"` // false: the browser refused the answer
	Error     string `json:"error"`
	Status    int    `json:"status"`
	ETag      string `json:"etag"`
	RequestID string `json:"request_id"`
	Body      string `json:"body"`
}

// testCORS calls the API from pages of other origins in the browser: the
// origin CORS_ORIGINS lists reads answers (preflights pass before
// authentication, the exposed headers are readable, a problem too); the
// same page under another name (localhost for 127.0.0.1, so another
// origin) gets nothing. Its tab has no error listener: a refused call is
// an error in the console, on purpose.
func testCORS(t *testing.T, s *site) {
	ctx, cancel := chromedp.NewContext(s.browser)
	defer cancel()
	ctx, stop := context.WithTimeout(ctx, 3*stepTimeout)
	defer stop()
	_, _, list := s.api(t, "GET", "/v1/shipments?page_size=1", nil)
	id := ids(list)[0]

	fetch := func(origin, method, path string, headers map[string]string) fetchResult {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Navigate(origin+"/")); err != nil {
			t.Fatal(err)
		}
		h := map[string]string{"Authorization": "Bearer " + s.key}
		for k, v := range headers {
			h[k] = v
		}
		hj, _ := json.Marshal(h)
		expr := fmt.Sprintf(`(async () => {
			try {
				const r = await fetch(%q, {method: %q, headers: %s, body: %s, credentials: "omit"});
				return {ok: true, status: r.status, etag: r.headers.get("ETag") || "",
					request_id: r.headers.get("X-Request-Id") || "", body: await r.text()};
			} catch (e) { return {ok: false, error: String(e)}; }
		})()`, s.url+path, method, hj, map[bool]string{true: `'{"reference": "CORS"}'`, false: "undefined"}[method == "PATCH"])
		res, err := chromedp.Run(ctx, chromedp.Evaluate[fetchResult](expr, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		return res
	}

	allowed := s.elsewhere
	if r := fetch(allowed, "GET", "/v1/shipments/"+id, nil); !r.OK || r.Status != 200 || r.ETag == "" || r.RequestID == "" ||
		!strings.Contains(r.Body, id) {
		t.Errorf("GET from the listed origin: %+v; want 200 with its ETag and X-Request-Id readable", r)
	}
	// A PATCH with If-Match, a JSON body and an Idempotency-Key needs a
	// preflight for each header; a stale ETag makes it a 412 problem
	// (nothing changes), which the page can read.
	r := fetch(allowed, "PATCH", "/v1/shipments/"+id, map[string]string{"If-Match": `"stale"`,
		"Content-Type": "application/merge-patch+json", "Idempotency-Key": "cors-" + id})
	if !r.OK || r.Status != 412 || !strings.Contains(r.Body, "precondition_failed") {
		t.Errorf("PATCH with a stale If-Match from the listed origin: %+v; want a readable 412", r)
	}

	other := strings.Replace(s.elsewhere, "127.0.0.1", "localhost", 1)
	if r := fetch(other, "GET", "/v1/shipments/"+id, nil); r.OK {
		t.Errorf("GET from an origin not listed (%s) was readable: %+v", other, r)
	}
}
