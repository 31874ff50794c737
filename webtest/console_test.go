package webtest

import (
	"encoding/csv"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// testKeyPrompt: a refused key sends the user back to the prompt, with a
// message; the key is never in the page's URL; Enter submits the prompt.
func testKeyPrompt(t *testing.T, s *site) {
	tb := s.newTab(t)
	tb.open("/console/shipments?status=delivered")
	tb.expect(401, "/v1/")
	tb.do(
		chromedp.WaitVisible(chromedp.ID("api-key")),
		chromedp.SendKeys(chromedp.ID("api-key"), "wb_not_a_key\n"),
		chromedp.WaitVisible(chromedp.CSS(`.key-prompt [role="alert"]`)),
	)
	if msg := tb.text(`.key-prompt [role="alert"]`); !strings.Contains(msg, "refused") {
		t.Errorf("after a refused key the prompt says %q", msg)
	}
	if stored := eval[string](tb, `sessionStorage.getItem("waybill.apiKey") ?? ""`); stored != "" {
		t.Errorf("a refused key stays in sessionStorage: %q", stored)
	}
	tb.do(chromedp.SendKeys(chromedp.ID("api-key"), s.key+"\n"),
		chromedp.WaitVisible(chromedp.CSS(`table.list tbody tr`)))
	if loc := tb.location(); strings.Contains(loc, s.key) || strings.Contains(loc, "wb_") {
		t.Errorf("the key is in the URL: %s", loc)
	}
	if got := eval[string](tb, `document.cookie`); got != "" {
		t.Errorf("the console set cookies: %q", got)
	}
}

// kpi returns the text of a dashboard card.
func (tb *tab) kpi(name string) string {
	return tb.text(fmt.Sprintf(`.kpi[data-kpi=%q] .kpi-value`, name))
}

// money formats an amount as the console does: two decimals; a
// DashboardCost of several currencies as "EUR 1.00 · USD 2.00".
func money(v any) string {
	switch v := v.(type) {
	case nil:
		return "—"
	case float64:
		return fmt.Sprintf("%.2f", v)
	case map[string]any:
		var parts []string
		for c, a := range v {
			parts = append(parts, c+" "+money(a))
		}
		sort.Strings(parts)
		return strings.Join(parts, " · ")
	}
	return fmt.Sprint(v)
}

func percent(v any) string {
	if v == nil {
		return "—"
	}
	return fmt.Sprintf("%.2f %%", v.(float64))
}

// testDashboard compares every figure of the dashboard with the API's
// answer for the same range.
func testDashboard(t *testing.T, s *site) {
	tb := s.newTab(t)
	tb.login()
	end := time.Now().UTC()
	q := url.Values{"start_date": {end.AddDate(0, 0, -29).Format(time.DateOnly)}, "end_date": {end.Format(time.DateOnly)}}.Encode()
	_, _, d := s.api(t, "GET", "/v1/analytics/dashboard?"+q, nil)
	tb.open("/console/?" + q)
	tb.do(chromedp.WaitVisible(chromedp.CSS("#per-day canvas")))

	sum := d["summary"].(map[string]any)
	for name, want := range map[string]string{
		"total_shipments": fmt.Sprint(sum["total_shipments"]),
		"delivered":       fmt.Sprint(sum["delivered"]),
		"in_transit":      fmt.Sprint(sum["in_transit"]),
		"failed":          fmt.Sprint(sum["failed"]),
		"delivery_rate":   percent(sum["delivery_rate"]),
		"on_time_rate":    percent(sum["on_time_rate"]),
		"total_cost":      money(sum["total_cost"]),
		"average_cost":    money(sum["average_cost"]),
	} {
		if got := tb.kpi(name); got != want {
			t.Errorf("card %s shows %q, the API says %q", name, got, want)
		}
	}
	if sum["total_shipments"].(float64) == 0 {
		t.Fatal("the dashboard's range has no shipments: the comparison proves little")
	}

	// Carriers: one row each, in the API's order.
	rows := eval[[][]string](tb, `[...document.querySelectorAll("[data-carrier]")].map(r => [...r.cells].map(c => c.textContent))`)
	carriers := d["by_carrier"].([]any)
	if len(rows) != len(carriers) {
		t.Fatalf("%d carrier rows, the API has %d", len(rows), len(carriers))
	}
	for i, c := range carriers {
		c := c.(map[string]any)
		name := "(no carrier)"
		if c["carrier"] != nil {
			name = c["carrier"].(string)
		}
		want := []string{name, fmt.Sprint(c["shipments"]), fmt.Sprint(c["delivered"]), percent(c["on_time_rate"]),
			money(c["total_cost"]), money(c["average_cost"])}
		if fmt.Sprint(rows[i]) != fmt.Sprint(want) {
			t.Errorf("carrier row %d: %q, the API says %q", i, rows[i], want)
		}
	}

	// Shipments per day: the chart's table has every date of the range,
	// with its count by status group.
	days := eval[[][]string](tb, `[...document.querySelectorAll("#per-day-table tbody tr")].map(r => [...r.cells].map(c => c.textContent))`)
	byDate := d["by_date"].([]any)
	if len(days) != len(byDate) {
		t.Fatalf("%d days in the chart, the API has %d", len(days), len(byDate))
	}
	for i, p := range byDate {
		p := p.(map[string]any)
		want := []string{p["date"].(string), fmt.Sprint(p["shipments"])}
		for _, g := range []string{"delivered", "in_transit", "failed", "other"} {
			want = append(want, fmt.Sprint(p[g]))
		}
		if fmt.Sprint(days[i]) != fmt.Sprint(want) {
			t.Errorf("day %d: %q, the API says %q", i, days[i], want)
		}
	}

	// The chart stacks the four groups: its legend has each, and, on the
	// busiest day, each group's own count.
	if got := eval[[]string](tb, `[...document.querySelectorAll("#per-day .u-legend .u-series .u-label")].map(e => e.textContent)`); fmt.Sprint(got) != fmt.Sprint([]string{"date", "Other", "Failed", "In transit", "Delivered"}) {
		t.Errorf("the chart's series are %q", got)
	}
	busiest := 0
	for i, p := range byDate {
		if p.(map[string]any)["shipments"].(float64) > byDate[busiest].(map[string]any)["shipments"].(float64) {
			busiest = i
		}
	}
	// The pointer over the busiest day's bar: the legend shows that day's
	// counts (each group's own, not the stacked sums).
	tb.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => {
		const o = document.querySelector("#per-day .u-over"), r = o.getBoundingClientRect();
		o.dispatchEvent(new MouseEvent("mousemove", {bubbles: true,
			clientX: r.left + r.width * (%d + 0.5) / %d, clientY: r.top + r.height / 2}));
	})()`, busiest, len(byDate))))
	p := byDate[busiest].(map[string]any)
	wantLegend := fmt.Sprint([]string{p["date"].(string), fmt.Sprint(p["other"]), fmt.Sprint(p["failed"]),
		fmt.Sprint(p["in_transit"]), fmt.Sprint(p["delivered"])})
	legend := `[...document.querySelectorAll("#per-day .u-legend .u-series .u-value")].map(e => e.textContent)`
	if _, err := chromedp.Run(tb.ctx, chromedp.Poll[bool](fmt.Sprintf("String(%s) === %q", legend,
		strings.Trim(strings.ReplaceAll(wantLegend, " ", ","), "[]")), chromedp.WithPollingTimeout(5*time.Second))); err != nil {
		t.Errorf("over the busiest day the legend says %q, the API %s", eval[[]string](tb, legend), wantLegend)
	}

	// Hiding a group from the legend restacks the others, without an
	// error (the harness fails on any), and showing it again restores it.
	failed := `#per-day .u-legend .u-series:nth-child(3)`
	tb.do(chromedp.Click(chromedp.CSS(failed + " .u-label")))
	tb.waitFor(`document.querySelector("` + failed + `").classList.contains("u-off")`)
	tb.do(chromedp.Click(chromedp.CSS(failed + " .u-label")))
	tb.waitFor(`!document.querySelector("` + failed + `").classList.contains("u-off")`)

	// Top routes.
	routes := eval[[]string](tb, `[...document.querySelectorAll("#dashboard section:last-child tbody tr")].map(r => r.cells[2].textContent)`)
	var want []string
	for _, r := range d["top_routes"].([]any) {
		want = append(want, fmt.Sprint(r.(map[string]any)["shipments"]))
	}
	if fmt.Sprint(routes) != fmt.Sprint(want) {
		t.Errorf("top routes' shipments %q, the API says %q", routes, want)
	}
}

// ids lists the shipment ids of an API list answer.
func ids(list map[string]any) []string {
	var out []string
	for _, s := range list["shipments"].([]any) {
		out = append(out, s.(map[string]any)["id"].(string))
	}
	return out
}

// shownIDs lists the ids of the shipments table's rows.
func (tb *tab) shownIDs() []string {
	tb.do(chromedp.WaitVisible(chromedp.CSS("#list-status")))
	return eval[[]string](tb, `[...document.querySelectorAll("table.list tbody tr")].map(r => r.dataset.id)`)
}

// waitList waits until the list shows the answer to a URL (the status
// line says how many rows).
func (tb *tab) waitList(wantURL string) {
	tb.t.Helper()
	tb.waitFor(fmt.Sprintf(`location.pathname + location.search === %q && document.querySelector("#list-status")?.textContent.endsWith("shown")`, wantURL))
}

// testShipments filters the list through the form (the filter goes into
// the URL), then pages forward and back with the cursors.
func testShipments(t *testing.T, s *site) {
	tb := s.newTab(t)
	tb.login()
	tb.open("/console/shipments")
	tb.do(chromedp.WaitVisible(chromedp.CSS("table.list tbody tr")),
		chromedp.SetValue(chromedp.CSS(`form.filters select[name="status"]`), "delivered"),
		chromedp.SetValue(chromedp.CSS(`form.filters input[name="carrier"]`), "UPS"),
		chromedp.Click(chromedp.CSS(`form.filters button[type="submit"]`)))
	tb.waitList("/console/shipments?status=delivered&carrier=UPS")
	_, _, want := s.api(t, "GET", "/v1/shipments?status=delivered&carrier=UPS", nil)
	if got := tb.shownIDs(); fmt.Sprint(got) != fmt.Sprint(ids(want)) || len(got) == 0 {
		t.Errorf("filtered list shows %v, the API has %v", got, ids(want))
	}
	// The URL alone gives the same view (a shared link).
	tb.open("/console/shipments?status=delivered&carrier=UPS")
	tb.waitList("/console/shipments?status=delivered&carrier=UPS")
	if got := tb.shownIDs(); fmt.Sprint(got) != fmt.Sprint(ids(want)) {
		t.Errorf("the shared URL shows %v, the API has %v", got, ids(want))
	}
	if v := eval[string](tb, `document.querySelector('form.filters select[name="status"]').value`); v != "delivered" {
		t.Errorf("the status filter shows %q after a reload, want delivered", v)
	}

	// Paging: 10 a page, forward then back.
	_, _, page1 := s.api(t, "GET", "/v1/shipments?page_size=10", nil)
	_, _, page2 := s.api(t, "GET", "/v1/shipments?page_size=10&cursor="+page1["next_cursor"].(string), nil)
	tb.open("/console/shipments?page_size=10")
	tb.waitList("/console/shipments?page_size=10")
	if got := tb.shownIDs(); fmt.Sprint(got) != fmt.Sprint(ids(page1)) {
		t.Errorf("page 1 shows %v, the API has %v", got, ids(page1))
	}
	if n := eval[int](tb, `document.querySelectorAll('a[rel="prev"]').length`); n != 0 {
		t.Errorf("the first page links to a previous page")
	}
	tb.do(chromedp.Click(chromedp.CSS(`a[rel="next"]`)))
	tb.waitFor(`location.search.includes("cursor=") && document.querySelector("#list-status")?.textContent.endsWith("shown")`)
	if got := tb.shownIDs(); fmt.Sprint(got) != fmt.Sprint(ids(page2)) {
		t.Errorf("page 2 shows %v, the API has %v", got, ids(page2))
	}
	tb.do(chromedp.Click(chromedp.CSS(`a[rel="prev"]`)))
	tb.waitFor(fmt.Sprintf(`document.querySelector("table.list tbody tr")?.dataset.id === %q`, ids(page1)[0]))
	if got := tb.shownIDs(); fmt.Sprint(got) != fmt.Sprint(ids(page1)) {
		t.Errorf("back on page 1: %v, the API has %v", got, ids(page1))
	}
	// The browser's Back button returns to page 2.
	tb.do(chromedp.Evaluate[chromedp.Void](`history.back()`))
	tb.waitFor(fmt.Sprintf(`document.querySelector("table.list tbody tr")?.dataset.id === %q`, ids(page2)[0]))

	// CSV of the current filter: the server's export of it, byte for byte,
	// one record per shipment.
	tb.open("/console/shipments?status=delivered")
	tb.waitList("/console/shipments?status=delivered")
	_, _, delivered := s.api(t, "GET", "/v1/shipments?status=delivered&page_size=100", nil)
	eval[chromedp.Void](tb, `window.csvBlob = new Promise(resolve => {
		const create = URL.createObjectURL;
		URL.createObjectURL = (b) => { resolve(b); return create(b); };
	}); undefined`)
	tb.do(chromedp.Click(chromedp.ID("csv")))
	got := run(tb, chromedp.Evaluate[string](`window.csvBlob.then(b => b.text())`, chromedp.EvalAwaitPromise))
	export := s.raw(t, "/v1/shipments.csv?status=delivered")
	records, err := csv.NewReader(strings.NewReader(got)).ReadAll()
	if got != export || err != nil || len(records) != len(ids(delivered))+1 || records[0][0] == "" {
		t.Errorf("the console's CSV (%d bytes, %d records, %v) is not the server's export of the filter (%d bytes), "+
			"a header and %d shipments", len(got), len(records), err, len(export), len(ids(delivered)))
	}
}

// testStates checks the empty and error states: a range with no
// shipments, a range the API refuses, an unknown shipment, a filter that
// matches nothing, and a read-only key that tries to edit.
func testStates(t *testing.T, s *site) {
	tb := s.newTab(t)
	tb.login()
	tb.open("/console/?start_date=2001-01-01&end_date=2001-01-31")
	tb.do(chromedp.WaitVisible(chromedp.CSS(`#dashboard .empty`)))
	if got := tb.kpi("total_shipments"); got != "0" {
		t.Errorf("an empty range shows %q shipments", got)
	}

	tb.expect(400, "/v1/analytics/dashboard")
	tb.open("/console/?start_date=2001-01-31&end_date=2001-01-01")
	if msg := tb.text(`#dashboard [role="alert"]`); msg == "" {
		t.Error("a refused range shows no error")
	}

	tb.expect(404, "/v1/shipments/00000000-0000-4000-8000-000000000000")
	tb.open("/console/shipments/00000000-0000-4000-8000-000000000000")
	if msg := tb.text(`main .empty`); !strings.Contains(msg, "no such shipment") {
		t.Errorf("an unknown shipment shows %q", msg)
	}

	tb.open("/console/shipments?carrier=NoSuchCarrier")
	if msg := tb.text(`#shipments .empty`); !strings.Contains(msg, "No shipments match") {
		t.Errorf("an empty list shows %q", msg)
	}

	tb.open("/console/nowhere")
	if h1 := tb.text("h1"); h1 != "Page not found" {
		t.Errorf("an unknown console page shows %q", h1)
	}

	// A read key can look but is not offered the forms (GET /v1/me says
	// its scope); each page says why.
	_, _, list := s.api(t, "GET", "/v1/shipments?page_size=1", nil)
	tb.do(chromedp.Click(chromedp.ID("forget")), chromedp.WaitVisible(chromedp.ID("api-key")),
		chromedp.SendKeys(chromedp.ID("api-key"), s.readKey+"\n"))
	tb.open("/console/shipments/" + ids(list)[0])
	for _, id := range []string{"read-only-events", "read-only-edit"} {
		if msg := tb.text("#" + id); !strings.Contains(msg, "write scope") || !strings.Contains(msg, "browser-read") {
			t.Errorf("a read key's shipment page says %q in #%s", msg, id)
		}
	}
	if n := eval[int](tb, `document.querySelectorAll("#add-event, #edit-shipment").length`); n != 0 {
		t.Errorf("a read key is offered %d shipment forms", n)
	}
	tb.open("/console/new")
	if msg := tb.text("#read-only-create"); !strings.Contains(msg, "write scope") {
		t.Errorf("a read key's create page says %q", msg)
	}
	if n := eval[int](tb, `document.querySelectorAll("#create-shipment").length`); n != 0 {
		t.Error("a read key is offered the create form")
	}
}
