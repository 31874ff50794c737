package webtest

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// fill sets the create form's input of a JSON path.
func fill(path, value string) chromedp.Action[chromedp.Void] {
	return chromedp.SetValue(chromedp.CSS(fmt.Sprintf(`#create-shipment [name=%q]`, path)), value)
}

// fieldError returns the message shown under the create form's field.
func (tb *tab) fieldError(path string) string {
	return tb.text(fmt.Sprintf(`#create-shipment [data-field=%q] .field-error`, path))
}

// testCreate submits the create form with two mistakes, checks each
// problem shows next to its field, fixes them and lands on the new
// shipment's page; then adds a tracking event there.
func testCreate(t *testing.T, s *site) {
	tb := s.newTab(t)
	tb.login()
	tb.open("/console/new")
	tb.expect(422, "/v1/shipments")
	tb.do(chromedp.WaitVisible(chromedp.ID("create-shipment")),
		fill("reference", "BROWSER-CREATE-1"),
		fill("carrier", "USPS"),
		fill("service", "Priority"),
		fill("total_cost", "12.50"),
		fill("from_address.street1", "1 Main St"),
		fill("from_address.city", "Springfield"),
		fill("from_address.zip", "62701"),
		fill("to_address.street1", "2 Side St"),
		fill("to_address.city", "Portland"),
		fill("to_address.zip", "97201"),
		fill("to_address.country", "usa"),
		fill("parcel.weight", "-3"),
		chromedp.Click(chromedp.CSS(`#create-shipment button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#create-shipment [data-field="parcel.weight"] .field-error`)))
	for _, path := range []string{"parcel.weight", "to_address.country"} {
		if msg := tb.fieldError(path); msg == "" {
			t.Errorf("no message next to %s", path)
		}
		sel := fmt.Sprintf(`#create-shipment [name=%q]`, path)
		if v := eval[string](tb, fmt.Sprintf(`document.querySelector(%q).getAttribute("aria-invalid") ?? ""`, sel)); v != "true" {
			t.Errorf("%s is not marked aria-invalid", path)
		}
	}
	if n := eval[int](tb, `document.querySelectorAll("#create-shipment .field-error:not([hidden])").length`); n != 2 {
		t.Errorf("%d field messages shown, want 2 (parcel.weight, to_address.country)", n)
	}
	if loc := tb.location(); !strings.HasSuffix(loc, "/console/new") {
		t.Errorf("after a 422 the page is %s", loc)
	}

	tb.do(fill("parcel.weight", "16"), fill("to_address.country", "US"),
		chromedp.Click(chromedp.CSS(`#create-shipment button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("shipment-reference")))
	if got := tb.text("#shipment-reference"); got != "BROWSER-CREATE-1" {
		t.Errorf("the new shipment's page shows reference %q", got)
	}
	id := strings.TrimPrefix(tb.location(), s.url+"/console/shipments/")
	code, _, sh := s.api(t, "GET", "/v1/shipments/"+id, nil)
	if code != 200 || sh["reference"] != "BROWSER-CREATE-1" || sh["parcel"].(map[string]any)["weight"] != 16.0 ||
		sh["total_cost"] != 12.5 || sh["to_address"].(map[string]any)["country"] != "US" {
		t.Fatalf("GET the created shipment %s: %d %v", id, code, sh)
	}

	// Add a tracking event on the shipment's page.
	tb.do(chromedp.SetValue(chromedp.CSS(`#add-event [name="status"]`), "out_for_delivery"),
		chromedp.SendKeys(chromedp.CSS(`#add-event [name="message"]`), "Left the depot"),
		chromedp.Click(chromedp.CSS(`#add-event button[type="submit"]`)))
	tb.waitFor(`document.querySelector("#timeline")?.textContent.includes("Left the depot")`)
	_, _, events := s.api(t, "GET", "/v1/shipments/"+id+"/events", nil)
	evs := events["events"].([]any)
	if len(evs) != 1 || evs[0].(map[string]any)["message"] != "Left the depot" || evs[0].(map[string]any)["status"] != "out_for_delivery" {
		t.Errorf("the API's events after adding one: %v", evs)
	}
	if got := tb.text("#shipment-status"); got != "out for delivery" {
		t.Errorf("status after the event: %q, want out for delivery", got)
	}
}

// testConflict edits a shipment that someone else changed since the page
// loaded: the If-Match fails (412) and the page says so; after a reload
// the edit goes through.
func testConflict(t *testing.T, s *site) {
	tb := s.newTab(t)
	tb.login()
	_, _, list := s.api(t, "GET", "/v1/shipments?status=in_transit&page_size=1", nil)
	id := ids(list)[0]
	tb.open("/console/shipments/" + id)
	tb.do(chromedp.WaitVisible(chromedp.ID("edit-shipment")))

	code, _, _ := s.api(t, "PATCH", "/v1/shipments/"+id, map[string]any{"reference": "CHANGED-ELSEWHERE"},
		"Content-Type", "application/merge-patch+json")
	if code != 200 {
		t.Fatalf("PATCH from elsewhere: %d", code)
	}
	tb.expect(412, "/v1/shipments/"+id)
	tb.do(chromedp.SetValue(chromedp.CSS(`#edit-shipment [name="reference"]`), "MINE"),
		chromedp.Click(chromedp.CSS(`#edit-shipment button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("conflict")))
	if msg := tb.text("#conflict"); !strings.Contains(msg, "changed by someone else") || !strings.Contains(msg, "reload") {
		t.Errorf("the 412 shows %q", msg)
	}
	_, _, sh := s.api(t, "GET", "/v1/shipments/"+id, nil)
	if sh["reference"] != "CHANGED-ELSEWHERE" {
		t.Errorf("the 412 changed the shipment: reference %v", sh["reference"])
	}

	tb.do(chromedp.Click(chromedp.CSS(`#conflict button`)))
	tb.waitFor(`document.querySelector("#shipment-reference")?.textContent === "CHANGED-ELSEWHERE"`)
	tb.do(chromedp.SetValue(chromedp.CSS(`#edit-shipment [name="reference"]`), "MINE"),
		chromedp.Click(chromedp.CSS(`#edit-shipment button[type="submit"]`)))
	tb.waitFor(`document.querySelector("#shipment-reference")?.textContent === "MINE"`)
	if _, _, sh := s.api(t, "GET", "/v1/shipments/"+id, nil); sh["reference"] != "MINE" {
		t.Errorf("after the reload the edit did not take: reference %v", sh["reference"])
	}
}

// xss is markup an attacker would put in a shipment's fields.
const xss = `<img src=x onerror=alert(1)>`

// testXSS shows a shipment whose fields are markup: the list, the page and
// the dashboard show the characters; no element is made of them, nothing
// runs (the tab fails its test on a dialog or on a request for "x").
func testXSS(t *testing.T, s *site) {
	code, _, sh := s.api(t, "POST", "/v1/shipments", map[string]any{
		"reference": xss, "carrier": `<script>alert(2)</script>`, "service": `"><svg onload=alert(3)>`,
		"from_address": map[string]any{"street1": xss, "city": "<b>Bold</b>", "zip": "1"},
		"to_address":   map[string]any{"street1": "x", "city": "y", "zip": "2", "name": xss},
	})
	if code != 201 {
		t.Fatalf("POST the shipment: %d %v", code, sh)
	}
	id := sh["id"].(string)
	tb := s.newTab(t)
	tb.login()
	tb.open("/console/shipments?reference=" + url.QueryEscape(xss))
	tb.do(chromedp.WaitVisible(chromedp.CSS(`table.list tbody tr`)))
	if got := tb.text(`table.list tbody tr td.reference`); got != xss {
		t.Errorf("the list shows the reference as %q, want the characters %q", got, xss)
	}
	tb.open("/console/shipments/" + id)
	tb.do(chromedp.WaitVisible(chromedp.ID("shipment-reference")))
	if got := tb.text("#shipment-reference"); got != xss {
		t.Errorf("the shipment page shows the reference as %q", got)
	}
	if got := tb.text("h1"); got != xss {
		t.Errorf("the heading is %q", got)
	}
	if got := tb.text("address"); !strings.Contains(got, xss) || !strings.Contains(got, "<b>Bold</b>") {
		t.Errorf("the address shows %q", got)
	}
	tb.open("/console/")
	tb.do(chromedp.WaitVisible(chromedp.CSS(`[data-carrier]`)))
	if n := eval[int](tb, `[...document.querySelectorAll("[data-carrier] td:first-child")].filter(td => td.textContent === "<script>alert(2)</script>").length`); n != 1 {
		t.Errorf("the dashboard's carriers show the carrier's characters %d times, want 1", n)
	}
	for _, path := range []string{"/console/shipments/" + id, "/console/", "/console/shipments?reference=" + url.QueryEscape(xss)} {
		tb.open(path)
		tb.do(chromedp.WaitVisible(chromedp.CSS(`main h1`)), chromedp.Sleep(100*time.Millisecond))
		if n := eval[int](tb, `document.querySelectorAll("main img, main svg:not(.u-over *), main script, main b").length`); n != 0 {
			t.Errorf("%s: %d elements were made of the shipment's markup", path, n)
		}
	}
}
