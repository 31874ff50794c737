package webtest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowser runs every browser test on one server and one browser, each
// in a tab of its own.
func TestBrowser(t *testing.T) {
	start := time.Now()
	s := newSite(t)
	t.Logf("server and browser up in %v; screenshots in %s", time.Since(start).Round(time.Millisecond), s.shots)
	t.Run("Harness", func(t *testing.T) { testHarness(t, s) })
	t.Run("Pages", func(t *testing.T) { testPages(t, s) })
	t.Run("KeyPrompt", func(t *testing.T) { testKeyPrompt(t, s) })
	t.Run("Dashboard", func(t *testing.T) { testDashboard(t, s) })
	t.Run("Shipments", func(t *testing.T) { testShipments(t, s) })
	t.Run("States", func(t *testing.T) { testStates(t, s) })
	t.Run("Create", func(t *testing.T) { testCreate(t, s) })
	t.Run("Conflict", func(t *testing.T) { testConflict(t, s) })
	t.Run("XSS", func(t *testing.T) { testXSS(t, s) })
	t.Run("Health", func(t *testing.T) { testHealth(t, s) })
	t.Run("Docs", func(t *testing.T) { testDocs(t, s) })
	t.Run("CORS", func(t *testing.T) { testCORS(t, s) })
	t.Logf("browser suite: %v", time.Since(start).Round(time.Millisecond))
}

// testPages loads every page of the console, checks it shows what it is
// for, and takes its screenshots.
func testPages(t *testing.T, s *site) {
	tb := s.newTab(t)
	tb.login()
	_, _, list := s.api(t, "GET", "/v1/shipments?page_size=1", nil)
	id := list["shipments"].([]any)[0].(map[string]any)["id"].(string)
	for _, p := range []struct{ name, path, ready string }{
		{"dashboard", "/console", "#per-day canvas"}, // redirected to /console/
		{"shipments", "/console/shipments", "table.list tbody tr"},
		{"shipment", "/console/shipments/" + id, "#edit-shipment"},
		{"create", "/console/new", "#create-shipment"},
		{"health", "/console/health", "#pool-used"},
	} {
		tb.open(p.path)
		tb.do(chromedp.WaitVisible(chromedp.CSS(p.ready)))
		if h1 := tb.text("h1"); h1 == "" || strings.Contains(h1, "Paste your API key") {
			t.Errorf("%s: heading %q", p.path, h1)
		}
		tb.screenshots(p.name, p.ready, true)
	}

	// The navigation works from the keyboard: Enter on a focused link.
	tb.open("/console/")
	tb.do(chromedp.WaitVisible(chromedp.CSS("#per-day canvas")),
		chromedp.SendKeys(chromedp.CSS(`a[data-nav="shipments"]`), "\r"),
		chromedp.WaitVisible(chromedp.CSS("table.list tbody tr")))
	if cur := eval[string](tb, `document.querySelector('[aria-current="page"]')?.dataset.nav ?? ""`); cur != "shipments" {
		t.Errorf("after Enter on Shipments the current page is %q", cur)
	}
}

// testDocs loads the API reference and checks that it lists the API's
// operations from /openapi.json.
func testDocs(t *testing.T, s *site) {
	tb := s.newTab(t)
	tb.open("/docs")
	tb.do(chromedp.WaitVisible(chromedp.CSS(`#operations-shipments-listShipments`)))
	tb.screenshots("docs", "#operations-shipments-listShipments", false)

	// Try a route: paste the key in Authorize, run GET /v1/shipments.
	tb.do(
		chromedp.Click(chromedp.CSS(`.swagger-ui .btn.authorize`)),
		chromedp.WaitVisible(chromedp.CSS(`.swagger-ui .auth-container input`)),
		chromedp.SendKeys(chromedp.CSS(`.swagger-ui .auth-container input`), s.key),
		chromedp.Click(chromedp.CSS(`.swagger-ui .auth-btn-wrapper .modal-btn.auth`)),
		chromedp.Click(chromedp.CSS(`.swagger-ui .btn-done`)),
		chromedp.Click(chromedp.CSS(`#operations-shipments-listShipments .opblock-summary-control`)),
		chromedp.WaitVisible(chromedp.CSS(`#operations-shipments-listShipments .btn.execute`)),
		chromedp.Click(chromedp.CSS(`#operations-shipments-listShipments .btn.execute`)),
	)
	tb.waitFor(`document.querySelector("#operations-shipments-listShipments .live-responses-table tbody .response-col_status")?.textContent.trim() === "200"`)
	if body := tb.text(`#operations-shipments-listShipments .live-responses-table tbody .response-col_description`); !strings.Contains(body, `"has_more"`) {
		t.Errorf("the response shown is %.200q", body)
	}
}

// testHarness checks that a tab notices what the other tests rely on it
// to notice: a console error, an uncaught exception, a 404, a request
// the CSP blocks and an alert; and lets an expected answer through.
func testHarness(t *testing.T, s *site) {
	tb := s.newTab(t)
	tb.open("/console/")
	tb.do(chromedp.WaitVisible(chromedp.ID("api-key")))
	tb.expect(404, "/expected-404")
	eval[chromedp.Void](tb, `fetch("/expected-404").then(() => {
		console.error("boom");
		setTimeout(() => { throw new Error("uncaught"); });
		fetch("/unexpected-404");
		fetch("https://example.invalid/").catch(() => {});
		setTimeout(() => alert("hi"), 10);
	}); undefined`)
	tb.do(chromedp.Sleep(500 * time.Millisecond))
	tb.mu.Lock()
	got := strings.Join(tb.bad, "\n")
	tb.bad = nil
	tb.mu.Unlock()
	for _, want := range []string{"console.error: \"boom\"", "uncaught exception", "/unexpected-404 answered 404",
		"example.invalid", "a dialog opened: alert \"hi\""} {
		if !strings.Contains(got, want) {
			t.Errorf("the tab did not notice %q; it saw:\n%s", want, got)
		}
	}
	if strings.Contains(got, "/expected-404 answered") {
		t.Errorf("an expected 404 was reported:\n%s", got)
	}
}

// testHealth checks the gauges show /health's pool figures and refresh by
// themselves.
func testHealth(t *testing.T, s *site) {
	tb := s.newTab(t)
	tb.login()
	tb.open("/console/health")
	tb.do(chromedp.WaitVisible(chromedp.ID("pool-used")))
	_, _, h := s.api(t, "GET", "/health", nil)
	db := h["database"].(map[string]any)
	if got, want := eval[float64](tb, `document.querySelector("#pool-used").max`), db["pool_max"].(float64); got != want {
		t.Errorf("the pool gauge's maximum is %v, /health says pool_max %v", got, want)
	}
	if got := tb.text("#health-status"); got != h["status"] {
		t.Errorf("status %q, /health says %v", got, h["status"])
	}
	first := tb.text(`main [role="status"]`)
	tb.waitFor(fmt.Sprintf(`document.querySelector('main [role="status"]').textContent !== %q`, first))
}
