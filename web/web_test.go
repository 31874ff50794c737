package web

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// maxConsoleGzip is the most /console may weigh, gzipped: everything its
// page loads, scripts, styles and modules included.
const maxConsoleGzip = 300 << 10

var (
	htmlRef   = regexp.MustCompile(`<(?:script|link)\b[^>]*?(?:src|href)="(/[^"]+)"`)
	moduleRef = regexp.MustCompile(`(?m)^\s*(?:import|export)\b[^"'` + "`" + `]*?from\s+"(\./[^"]+)"`)
)

func get(t *testing.T, h http.Handler, path string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// consoleFiles returns every path /console/ loads: the page, what it
// names, and the modules its scripts import, transitively.
func consoleFiles(t *testing.T, h http.Handler) map[string][]byte {
	t.Helper()
	loaded := map[string][]byte{}
	var visit func(path string)
	visit = func(path string) {
		if _, ok := loaded[path]; ok {
			return
		}
		rec := get(t, h, path)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d", path, rec.Code)
		}
		body := rec.Body.Bytes()
		loaded[path] = body
		switch {
		case strings.HasSuffix(path, "/"):
			for _, m := range htmlRef.FindAllStringSubmatch(string(body), -1) {
				visit(m[1])
			}
		case strings.HasSuffix(path, ".js") && strings.HasPrefix(path, "/console/assets/"):
			dir := path[:strings.LastIndex(path, "/")+1]
			for _, m := range moduleRef.FindAllStringSubmatch(string(body), -1) {
				visit(dir + strings.TrimPrefix(m[1], "./"))
			}
		}
	}
	visit("/console/")
	return loaded
}

// TestConsolePayload sums the gzipped size of everything /console loads
// and fails above maxConsoleGzip.
func TestConsolePayload(t *testing.T) {
	h := Handler()
	files := consoleFiles(t, h)
	total := 0
	for path, body := range files {
		n := len(Gzip(body))
		total += n
		t.Logf("%-45s %7d bytes gzipped", path, n)
	}
	t.Logf("total: %d bytes gzipped (%.1f KB) in %d files; limit %d KB", total, float64(total)/1024, len(files), maxConsoleGzip>>10)
	if len(files) < 8 {
		t.Errorf("found %d files; the page's references were not followed", len(files))
	}
	if total > maxConsoleGzip {
		t.Errorf("/console loads %d bytes gzipped, more than %d", total, maxConsoleGzip)
	}
}

// TestHeaders checks the security headers on pages, files and errors.
func TestHeaders(t *testing.T) {
	h := Handler()
	for _, tc := range []struct {
		path, contentType string
		status            int
	}{
		{"/console/", "text/html; charset=utf-8", 200},
		{"/console/shipments/00000000-0000-0000-0000-000000000001", "text/html; charset=utf-8", 200},
		{"/console/assets/app.js", "text/javascript; charset=utf-8", 200},
		{"/console/assets/app.css", "text/css; charset=utf-8", 200},
		{"/console/vendor/uplot/uPlot.iife.min.js", "text/javascript; charset=utf-8", 200},
		{"/console/vendor/uplot/LICENSE", "text/plain; charset=utf-8", 200},
		{"/docs", "text/html; charset=utf-8", 200},
		{"/docs/docs.js", "text/javascript; charset=utf-8", 200},
		{"/console/assets/nope.js", "text/plain; charset=utf-8", 404},
		{"/console/assets/../web.go", "text/plain; charset=utf-8", 404},
		{"/console/vendor/SHA256SUMS", "text/plain; charset=utf-8", 200},
		{"/docs/nope", "text/plain; charset=utf-8", 404},
	} {
		rec := get(t, h, tc.path)
		if rec.Code != tc.status || rec.Header().Get("Content-Type") != tc.contentType {
			t.Errorf("GET %s: %d %q, want %d %q", tc.path, rec.Code, rec.Header().Get("Content-Type"), tc.status, tc.contentType)
		}
		for k, v := range securityHeaders {
			if got := rec.Header().Get(k); got != v {
				t.Errorf("GET %s: %s %q, want %q", tc.path, k, got, v)
			}
		}
	}
	csp := ContentSecurityPolicy
	for _, want := range []string{"script-src 'self';", "connect-src 'self';", "frame-ancestors 'none'", "default-src 'none';"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	for _, never := range []string{"unsafe-inline", "unsafe-eval", "*"} {
		if strings.Contains(csp, never) {
			t.Errorf("CSP %q allows %s", csp, never)
		}
	}
}

func TestRedirectsAndCaching(t *testing.T) {
	h := Handler()
	for path, to := range map[string]string{"/console": "/console/", "/docs/": "/docs"} {
		rec := get(t, h, path)
		if rec.Code != http.StatusMovedPermanently || rec.Header().Get("Location") != to {
			t.Errorf("GET %s: %d to %q, want 301 to %q", path, rec.Code, rec.Header().Get("Location"), to)
		}
	}
	plain := get(t, h, "/console/assets/app.js")
	zipped := get(t, h, "/console/assets/app.js", "Accept-Encoding", "br, gzip")
	if zipped.Header().Get("Content-Encoding") != "gzip" || zipped.Body.Len() >= plain.Body.Len() {
		t.Errorf("gzip: Content-Encoding %q, %d bytes; plain %d bytes", zipped.Header().Get("Content-Encoding"), zipped.Body.Len(), plain.Body.Len())
	}
	etag, zetag := plain.Header().Get("ETag"), zipped.Header().Get("ETag")
	if etag == "" || zetag == "" || etag == zetag {
		t.Errorf("ETags: %q plain, %q gzipped; want two different ones", etag, zetag)
	}
	if again := get(t, h, "/console/assets/app.js", "If-None-Match", etag); again.Code != http.StatusNotModified {
		t.Errorf("If-None-Match %q: %d, want 304", etag, again.Code)
	}
	if again := get(t, h, "/console/assets/app.js", "If-None-Match", zetag, "Accept-Encoding", "gzip"); again.Code != http.StatusNotModified {
		t.Errorf("If-None-Match %q with gzip: %d, want 304", zetag, again.Code)
	}
	if again := get(t, h, "/console/assets/app.js", "If-None-Match", zetag); again.Code != http.StatusOK {
		t.Errorf("If-None-Match %q without gzip: %d, want 200 (another representation)", zetag, again.Code)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/console/", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /console/: %d, want 405", rec.Code)
	}
}
