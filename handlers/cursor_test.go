package handlers_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/waybill/waybill/handlers"
	"github.com/waybill/waybill/models"
)

// cursorPage is one page of shipments read with GET path: its ids in
// order, has_more and its cursors ("" where absent).
type cursorPage struct {
	ids        []string
	more       bool
	next, prev string
}

func getCursorPage(t *testing.T, f *fixture, key, path string) cursorPage {
	t.Helper()
	rec, body := f.send(t, http.MethodGet, path, key, "")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
	}
	var p cursorPage
	for _, it := range body["shipments"].([]any) {
		p.ids = append(p.ids, it.(map[string]any)["id"].(string))
	}
	p.more = body["has_more"] == true
	p.next, _ = body["next_cursor"].(string)
	p.prev, _ = body["previous_cursor"].(string)
	return p
}

// TestCursorSurvivesDeletion pages through shipments with next_cursor,
// then back with previous_cursor, deleting between requests the row each
// cursor came from: every row is seen exactly once, in order, where
// before_id and after_id of a deleted row are a 400.
func TestCursorSurvivesDeletion(t *testing.T) {
	f := newFixture(t, true)
	_, key := f.key(t, models.ScopeWrite)
	var newestFirst []string
	for i := range 11 {
		sh := createShipment(t, f, key, fmt.Sprintf(`{"from_address": {"street1": "a", "city": "b", "zip": "c"},
			"to_address": {"street1": "d", "city": "e", "zip": "f"}, "reference": "ref-%d"}`, i))
		newestFirst = slices.Insert(newestFirst, 0, sh["id"].(string))
	}
	del := func(id string) {
		t.Helper()
		if rec, _ := f.send(t, http.MethodDelete, "/v1/shipments/"+id, key, ""); rec.Code != http.StatusNoContent {
			t.Fatalf("DELETE %s: %d %s", id, rec.Code, rec.Body)
		}
	}

	// Older, deleting the last row of each page before following its
	// next_cursor.
	var seen, deleted []string
	p := getCursorPage(t, f, key, "/v1/shipments?page_size=3")
	if p.prev != "" {
		t.Errorf("first page has previous_cursor %q", p.prev)
	}
	for pages := 1; ; pages++ {
		seen = append(seen, p.ids...)
		last := p.ids[len(p.ids)-1]
		del(last)
		deleted = append(deleted, last)
		if !p.more {
			if p.next != "" {
				t.Errorf("last page (has_more false) has next_cursor %q", p.next)
			}
			break
		}
		if pages == 1 {
			rec, body := f.send(t, http.MethodGet, "/v1/shipments?page_size=3&before_id="+last, key, "")
			checkProblem(t, rec.Code, rec.Header(), body, http.StatusBadRequest, "bad_request")
		}
		if pages > 5 {
			t.Fatalf("more than 5 pages: %v", seen)
		}
		p = getCursorPage(t, f, key, "/v1/shipments?page_size=3&cursor="+p.next)
	}
	if !slices.Equal(seen, newestFirst) {
		t.Errorf("paging older saw\n%v\nwant\n%v", seen, newestFirst)
	}

	// Newer from the last page, deleting the first row of each page before
	// following its previous_cursor.
	var remaining []string // newest first
	for _, id := range newestFirst {
		if !slices.Contains(deleted, id) {
			remaining = append(remaining, id)
		}
	}
	want := remaining[:slices.Index(remaining, p.ids[0])]
	var back []string
	cursor := p.prev
	for pages := 1; cursor != ""; pages++ {
		p = getCursorPage(t, f, key, "/v1/shipments?page_size=2&cursor="+cursor)
		back = append(slices.Clone(p.ids), back...)
		if len(p.ids) > 0 {
			del(p.ids[0])
			if pages == 1 {
				rec, body := f.send(t, http.MethodGet, "/v1/shipments?page_size=2&after_id="+p.ids[0], key, "")
				checkProblem(t, rec.Code, rec.Header(), body, http.StatusBadRequest, "bad_request")
			}
		}
		if p.more != (p.prev != "") {
			t.Errorf("paging newer: has_more %v with previous_cursor %q", p.more, p.prev)
		}
		if pages > 5 {
			t.Fatalf("more than 5 pages: %v", back)
		}
		cursor = p.prev
	}
	if !slices.Equal(back, want) {
		t.Errorf("paging newer saw\n%v\nwant\n%v", back, want)
	}
}

// TestCursorRefused: a cursor that is not one the server issued, or one
// altered, is a 400 naming the parameter, as is a cursor with before_id
// or after_id.
func TestCursorRefused(t *testing.T) {
	f := newFixture(t, true)
	_, key := f.key(t, models.ScopeWrite)
	var id string
	for range 3 {
		id = createShipment(t, f, key, `{"from_address": {"street1": "a", "city": "b", "zip": "c"}, "to_address": {"street1": "d", "city": "e", "zip": "f"}}`)["id"].(string)
	}
	p := getCursorPage(t, f, key, "/v1/shipments?page_size=1")
	if p.next == "" {
		t.Fatal("no next_cursor on a page with has_more")
	}
	if got := getCursorPage(t, f, key, "/v1/shipments?page_size=1&cursor="+p.next); len(got.ids) != 1 || got.ids[0] == p.ids[0] {
		t.Fatalf("the untouched cursor gave %v after %v", got.ids, p.ids)
	}
	flip := func(s string, i int) string {
		c := byte('A')
		if s[i] == 'A' {
			c = 'B'
		}
		return s[:i] + string(c) + s[i+1:]
	}
	for name, cursor := range map[string]string{
		"empty":           "",
		"garbage":         "x",
		"not base64url":   strings.Repeat("!", len(p.next)),
		"first altered":   flip(p.next, 0),
		"middle altered":  flip(p.next, 20),
		"last altered":    flip(p.next, len(p.next)-1),
		"truncated":       p.next[:len(p.next)-2],
		"padded":          p.next + "=",
		"longer":          p.next + "AAAA",
		"standard base64": strings.NewReplacer("-", "+", "_", "/").Replace(p.next) + "+",
		"SQL":             url.QueryEscape("' OR 1=1 --"),
	} {
		rec, body := f.send(t, http.MethodGet, "/v1/shipments?cursor="+cursor, key, "")
		checkProblem(t, rec.Code, rec.Header(), body, http.StatusBadRequest, "bad_request")
		if detail, _ := body["detail"].(string); !strings.Contains(detail, "cursor") {
			t.Errorf("%s: detail %q does not name the parameter", name, detail)
		}
	}
	for _, other := range []string{"before_id", "after_id"} {
		rec, body := f.send(t, http.MethodGet, "/v1/shipments?cursor="+p.next+"&"+other+"="+id, key, "")
		checkProblem(t, rec.Code, rec.Header(), body, http.StatusBadRequest, "bad_request")
	}
}

// TestCursorInDocument: every list but events declares the cursor
// parameter, with its form, so that a client can send it.
func TestCursorInDocument(t *testing.T) {
	const good = "bwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	for _, path := range []string{"/v1/shipments", "/v1/addresses", "/v1/analytics/summaries", "/v1/analytics/carrier-performance", "/v1/system-metrics"} {
		for cursor, ok := range map[string]bool{good: true, "not a cursor": false} {
			req := httptest.NewRequest(http.MethodGet, path+"?cursor="+strings.ReplaceAll(cursor, " ", "%20"), nil)
			req.Header.Set("Authorization", "Bearer wb_test")
			if problems := handlers.SpecRequestProblems(req, nil); (len(problems) == 0) != ok {
				t.Errorf("GET %s?cursor=%q: the document says %v", path, cursor, problems)
			}
		}
	}
}

// TestCursorEveryList walks each list but shipments' with next_cursor,
// then back with previous_cursor, over rows of which three share a
// created_at (with microseconds), so that the id breaks the tie.
func TestCursorEveryList(t *testing.T) {
	lists := []analyticsResource{{name: "addresses", path: "/v1/addresses", plural: "addresses", table: "addresses",
		valid: func(int) string { return `{"street1": "a", "city": "b", "zip": "c"}` }}}
	for _, r := range append(lists, analyticsResources...) {
		t.Run(r.name, func(t *testing.T) {
			f := newFixture(t, true)
			_, key := f.key(t, models.ScopeWrite)
			for i := range 5 {
				analyticsCreate(t, f, key, r.path, r.valid(i))
			}
			order := analyticsOrder(t, f, r.table)
			if _, err := f.store.DB().Exec(`UPDATE `+r.table+` SET created_at = '2026-01-01T00:00:00.123457Z' WHERE id::text IN ($1, $2, $3)`,
				order[1], order[2], order[3]); err != nil {
				t.Fatal(err)
			}
			order = analyticsOrder(t, f, r.table)
			page := func(path string) ([]string, bool, string, string) {
				t.Helper()
				rec, body := f.send(t, http.MethodGet, path, key, "")
				if rec.Code != http.StatusOK {
					t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
				}
				next, _ := body["next_cursor"].(string)
				prev, _ := body["previous_cursor"].(string)
				return analyticsIDs(t, body, r.plural), body["has_more"] == true, next, prev
			}
			var walked []string
			ids, _, next, _ := page(r.path + "?page_size=2")
			for pages := 0; ; pages++ {
				walked = append(walked, ids...)
				if next == "" || pages > 5 {
					break
				}
				ids, _, next, _ = page(r.path + "?page_size=2&cursor=" + next)
			}
			if !slices.Equal(walked, order) {
				t.Errorf("next_cursor walked %v, want %v", walked, order)
			}
			_, _, _, prev := page(r.path + "?page_size=1&before_id=" + order[len(order)-2])
			walked = []string{order[len(order)-1]}
			for pages := 0; prev != "" && pages <= 5; pages++ {
				ids, _, _, prev = page(r.path + "?page_size=2&cursor=" + prev)
				walked = append(ids, walked...)
			}
			if !slices.Equal(walked, order) {
				t.Errorf("previous_cursor walked %v, want %v", walked, order)
			}
		})
	}
}
