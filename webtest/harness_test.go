package webtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/sirupsen/logrus"

	"github.com/waybill/waybill/handlers"
	"github.com/waybill/waybill/models"
	"github.com/waybill/waybill/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// chromium is Debian's Chromium, which .ci/run installs.
const chromium = "/usr/bin/chromium"

// stepTimeout bounds each browser step; the whole suite takes seconds.
const stepTimeout = 15 * time.Second

// site is a running Waybill with a seeded database and a browser.
type site struct {
	url     string
	store   *models.Store
	key     string // write scope
	readKey string
	browser context.Context
	shots   string
	// elsewhere is another origin, with an empty page, that CORS_ORIGINS
	// lets call the API.
	elsewhere string
}

// newSite starts the server on a loopback port, with the demo data set
// (twenty shipments) and a write and a read API key, and a headless
// Chromium; both end with t.
func newSite(t *testing.T) *site {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("the browser tests need Chromium at %s (apt install chromium; .ci/run installs it): %v", chromium, err)
	}
	ctx := context.Background()
	store, err := models.Open(testdb.New(t), models.PoolOptions{MaxOpenConns: 8, MaxIdleConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if n, err := store.SeedDemo(ctx); err != nil || n == 0 {
		t.Fatalf("seeding: %d shipments, %v", n, err)
	}
	s := &site{store: store}
	if _, s.key, err = store.CreateAPIKey(ctx, "browser", models.ScopeWrite); err != nil {
		t.Fatal(err)
	}
	if _, s.readKey, err = store.CreateAPIKey(ctx, "browser-read", models.ScopeRead); err != nil {
		t.Fatal(err)
	}
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, "<!doctype html><title>Another site</title>")
	}))
	t.Cleanup(elsewhere.Close)
	s.elsewhere = elsewhere.URL
	quiet := logrus.New()
	quiet.SetOutput(io.Discard)
	srv := httptest.NewServer(handlers.New(handlers.Options{
		Store: store, Log: quiet, RequestTimeout: 10 * time.Second, BodyLimit: 1 << 20,
		Draining: func() bool { return false }, CORSOrigins: []string{elsewhere.URL},
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		// Tests run as root in CI, where Chromium's sandbox cannot start.
		chromedp.NoSandbox,
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	if err := chromedp.Do(browser); err != nil { // starts the browser
		cancelBrowser()
		cancelAlloc()
		t.Fatalf("starting %s: %v", chromium, err)
	}
	// Registered after the server's: runs first, so the browser is gone
	// before the server waits for its connections to end.
	t.Cleanup(func() {
		_ = chromedp.Cancel(browser) // closes the browser and waits for it
		cancelBrowser()
		cancelAlloc()
	})
	s.browser = browser

	s.shots = os.Getenv("WAYBILL_SCREENSHOTS")
	if s.shots == "" {
		s.shots = t.ArtifactDir()
	}
	if err := os.MkdirAll(s.shots, 0o755); err != nil {
		t.Fatal(err)
	}
	return s
}

// tab is one browser tab with everything that went wrong in it.
type tab struct {
	t    *testing.T
	s    *site
	ctx  context.Context
	mu   sync.Mutex
	bad  []string
	urls map[network.RequestID]string
	// expected are the answers a test provokes: "<status> <path prefix>".
	expected []string
}

// newTab opens a tab; when t ends, the tab closes and t fails for every
// console error, uncaught exception, dialog, failed request and
// unexpected 4xx/5xx answer the tab saw.
func (s *site) newTab(t *testing.T) *tab {
	t.Helper()
	tb := &tab{t: t, s: s, urls: map[network.RequestID]string{}}
	ctx, cancel := chromedp.NewContext(s.browser, chromedp.WithListener(tb.listen))
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	tb.ctx = ctx
	// An alert would stall the page: record it and dismiss it.
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			tb.problem("a dialog opened: %s %q", ev.Type, ev.Message)
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	t.Cleanup(func() {
		cancel()
		tb.mu.Lock()
		defer tb.mu.Unlock()
		for _, p := range tb.bad {
			t.Error(p)
		}
	})
	return tb
}

// expect lets the tab see an answer with status to a path that starts
// with prefix (a test that provokes a 422 or a 412).
func (tb *tab) expect(status int, prefix string) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.expected = append(tb.expected, fmt.Sprintf("%d %s", status, prefix))
}

func (tb *tab) isExpected(status int, url string) bool {
	path := strings.TrimPrefix(url, tb.s.url)
	for _, e := range tb.expected {
		var code int
		var prefix string
		if _, err := fmt.Sscanf(e, "%d %s", &code, &prefix); err == nil && code == status && strings.HasPrefix(path, prefix) {
			return true
		}
	}
	return false
}

func (tb *tab) problem(format string, args ...any) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.bad = append(tb.bad, fmt.Sprintf(format, args...))
}

// failedStatus finds the status in Chromium's log line for a failed load.
var failedStatus = regexp.MustCompile(`status of (\d{3})`)

// listen runs in the tab's event loop: it only records.
func (tb *tab) listen(ev any) {
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert || ev.Type == runtime.ConsoleAPICalledTypeWarning {
			var args []string
			for _, a := range ev.Args {
				if len(a.Value) > 0 {
					args = append(args, string(a.Value))
				} else {
					args = append(args, a.Description)
				}
			}
			tb.problem("console.%s: %s", ev.Type, strings.Join(args, " "))
		}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		desc := d.Text
		if d.Exception != nil {
			desc += " " + d.Exception.Description
		}
		tb.problem("uncaught exception at %s:%d: %s", d.URL, d.LineNumber+1, desc)
	case *log.EventEntryAdded:
		e := ev.Entry
		if e.Level != log.EntryLevelError {
			return
		}
		if m := failedStatus.FindStringSubmatch(e.Text); e.Source == log.EntrySourceNetwork && m != nil {
			var status int
			fmt.Sscan(m[1], &status)
			tb.mu.Lock()
			ok := tb.isExpected(status, e.URL)
			tb.mu.Unlock()
			if ok {
				return
			}
		}
		tb.problem("browser log (%s): %s %s", e.Source, e.Text, e.URL)
	case *network.EventRequestWillBeSent:
		tb.mu.Lock()
		tb.urls[ev.RequestID] = ev.Request.URL
		tb.mu.Unlock()
	case *network.EventResponseReceived:
		r := ev.Response
		if r.Status >= 400 {
			tb.mu.Lock()
			ok := tb.isExpected(int(r.Status), r.URL)
			tb.mu.Unlock()
			if !ok {
				tb.problem("%s answered %d", r.URL, r.Status)
			}
		}
	case *network.EventLoadingFailed:
		if ev.Canceled {
			return
		}
		tb.mu.Lock()
		url := tb.urls[ev.RequestID]
		tb.mu.Unlock()
		tb.problem("request %s failed: %s %s", url, ev.ErrorText, ev.BlockedReason)
	}
}

// do runs actions, failing the test on an error.
func (tb *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.t.Fatalf("browser: %v (page %s)", err, tb.location())
	}
}

func (tb *tab) location() string {
	ctx, cancel := context.WithTimeout(tb.ctx, 2*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	return loc
}

// run runs one action that returns a value.
func run[T any](tb *tab, a chromedp.Action[T]) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		tb.t.Fatalf("browser: %v (page %s)", err, tb.location())
	}
	return v
}

// open loads a console or docs path.
func (tb *tab) open(path string) {
	tb.t.Helper()
	tb.do(chromedp.Navigate(tb.s.url + path))
}

// login opens /console/, pastes the write key into the prompt and waits
// for the dashboard.
func (tb *tab) login() {
	tb.t.Helper()
	tb.open("/console/")
	tb.do(
		chromedp.WaitVisible(chromedp.ID("api-key")),
		chromedp.SendKeys(chromedp.ID("api-key"), tb.s.key),
		chromedp.Click(chromedp.CSS(`.key-prompt button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.kpi[data-kpi="total_shipments"]`)),
	)
}

// text returns the text of the first element sel matches, waiting for it.
func (tb *tab) text(sel string) string {
	tb.t.Helper()
	tb.do(chromedp.WaitVisible(chromedp.CSS(sel)))
	return strings.TrimSpace(run(tb, chromedp.Text(chromedp.CSS(sel))))
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](tb *tab, expr string) T {
	tb.t.Helper()
	return run(tb, chromedp.Evaluate[T](expr))
}

// waitFor waits until the expression is truthy.
func (tb *tab) waitFor(expr string) {
	tb.t.Helper()
	run(tb, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond)))
}

// screenshots saves the page at 375 px and 1280 px wide as
// <name>-375.png and <name>-1280.png, and checks that nothing on a phone
// is wider than the screen. ready is the selector of an element the
// page shows when it is done.
func (tb *tab) screenshots(name, ready string, checkWidth bool) {
	tb.t.Helper()
	for _, w := range []int64{375, 1280} {
		tb.do(chromedp.EmulateViewport(w, 900), chromedp.WaitVisible(chromedp.CSS(ready)))
		// Let charts redraw at the new width.
		tb.do(chromedp.Sleep(150 * time.Millisecond))
		if checkWidth && w == 375 {
			if got := eval[int](tb, `document.documentElement.scrollWidth`); got > 375 {
				tb.t.Errorf("%s at 375 px is %d px wide: it scrolls sideways", name, got)
			}
		}
		png := run(tb, chromedp.FullScreenshot(100))
		file := filepath.Join(tb.s.shots, fmt.Sprintf("%s-%d.png", name, w))
		if err := os.WriteFile(file, png, 0o644); err != nil {
			tb.t.Fatal(err)
		}
	}
	tb.do(chromedp.EmulateViewport(1280, 900))
}

// api calls the API from Go with the write key and decodes the JSON answer.
// raw GETs path with the site's key and returns the body as it came.
func (s *site) raw(t *testing.T, path string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
	}
	return string(b)
}

func (s *site) api(t *testing.T, method, path string, body any, headers ...string) (int, http.Header, map[string]any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.url+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil && err != io.EOF {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, out
}
