// Package web serves the browser side of Waybill: the console at
// /console/ (a small application that talks only to the public /v1 API
// with a key the user pastes) and the interactive API reference at /docs,
// rendered from the server's own /openapi.json.
//
// Every file is embedded: the service runs with no network and no build
// step. Third-party files live in vendor/, fetched at pinned versions by
// scripts/vendor-web.sh with their licences and sha256 sums. Every answer
// carries a strict Content-Security-Policy (scripts and styles from this
// origin only, no inline script, no eval, requests to this origin only,
// no framing) and the other security headers of securityHeaders.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
)

//go:embed console docs vendor
var files embed.FS

// ContentSecurityPolicy is the policy of every console and docs answer.
// Styles are limited to this origin too: the pages set styles through the
// CSSOM (element.style), which a policy does not restrict, never through
// style attributes or <style> elements.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; font-src 'self'; connect-src 'self'; manifest-src 'self'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// securityHeaders are set on every answer of Handler, errors included.
var securityHeaders = map[string]string{
	"Content-Security-Policy":      ContentSecurityPolicy,
	"X-Content-Type-Options":       "nosniff",
	"Referrer-Policy":              "no-referrer",
	"X-Frame-Options":              "DENY",
	"Cross-Origin-Opener-Policy":   "same-origin",
	"Cross-Origin-Resource-Policy": "same-origin",
	"Permissions-Policy":           "camera=(), microphone=(), geolocation=(), payment=()",
}

// asset is one embedded file, ready to serve.
type asset struct {
	body        []byte
	gzipped     []byte // nil when gzip does not make it smaller
	contentType string
	etag        string
}

// Handler serves the console and the API reference:
//
//	/console               redirects to /console/
//	/console/assets/...    the console's own files
//	/console/vendor/...    the vendored third-party files
//	/console/...           any other path: the console's page (it routes
//	                       in the browser, so every page has a URL)
//	/docs                  the API reference
//	/docs/...              its files
//
// Anything else is 404. Files are sent gzipped to clients that accept it,
// with an ETag and Cache-Control: no-cache (revalidated, never stale
// after an upgrade).
func Handler() http.Handler {
	assets := loadAssets()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range securityHeaders {
			w.Header().Set(k, v)
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name, redirect := resolve(r.URL.Path)
		if redirect != "" {
			http.Redirect(w, r, redirect, http.StatusMovedPermanently)
			return
		}
		a := assets[name]
		if a == nil {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		a.serve(w, r)
	})
}

// loadAssets reads and compresses the embedded files, once per process
// (it takes a quarter of a second, and every router a test builds asks).
var loadAssets = sync.OnceValue(func() map[string]*asset {
	assets := map[string]*asset{}
	err := fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		assets[p] = newAsset(p, b)
		return nil
	})
	if err != nil {
		// The files are embedded: failing to read them is a build defect.
		panic("web: " + err.Error())
	}
	return assets
})

// resolve maps a request path to the embedded file that answers it, or to
// the path to redirect to.
func resolve(p string) (name, redirect string) {
	switch {
	case p == "/console":
		return "", "/console/"
	case p == "/docs/":
		return "", "/docs"
	case p == "/docs":
		return "docs/index.html", ""
	case strings.HasPrefix(p, "/docs/"):
		return "docs/" + clean(strings.TrimPrefix(p, "/docs/")), ""
	case strings.HasPrefix(p, "/console/vendor/"):
		return "vendor/" + clean(strings.TrimPrefix(p, "/console/vendor/")), ""
	case strings.HasPrefix(p, "/console/assets/"):
		return "console/" + clean(strings.TrimPrefix(p, "/console/assets/")), ""
	case strings.HasPrefix(p, "/console/"):
		return "console/index.html", ""
	}
	return "", ""
}

// clean returns p without any way out of its directory ("..", empty
// segments), or "" (no file) when it had one.
func clean(p string) string {
	c := path.Clean("/" + p)[1:]
	if c != p || c == "" {
		return ""
	}
	return c
}

func newAsset(name string, b []byte) *asset {
	sum := sha256.Sum256(b)
	a := &asset{body: b, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	a.contentType = mime.TypeByExtension(path.Ext(name))
	switch path.Ext(name) {
	case ".js", ".mjs":
		a.contentType = "text/javascript; charset=utf-8"
	case ".css":
		a.contentType = "text/css; charset=utf-8"
	case ".html":
		a.contentType = "text/html; charset=utf-8"
	case ".svg":
		a.contentType = "image/svg+xml"
	case "":
		a.contentType = "text/plain; charset=utf-8" // LICENSE, NOTICE
	}
	if a.contentType == "" {
		a.contentType = "application/octet-stream"
	}
	if z := Gzip(b); len(z) < len(b) {
		a.gzipped = z
	}
	return a
}

func (a *asset) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", "no-cache")
	h.Add("Vary", "Accept-Encoding")
	// The two encodings are two representations: each has its own ETag.
	body, etag := a.body, a.etag
	if a.gzipped != nil && acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		body, etag = a.gzipped, strings.TrimSuffix(a.etag, `"`)+`-gzip"`
	}
	h.Set("ETag", etag)
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, etag) {
		h.Del("Content-Encoding")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// acceptsGzip reports whether the request's Accept-Encoding lists gzip
// (without q=0).
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			return strings.ReplaceAll(params, " ", "") != "q=0"
		}
	}
	return false
}

// Gzip returns b compressed at the best level, as the handler sends it.
func Gzip(b []byte) []byte {
	var buf bytes.Buffer
	z, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = z.Write(b)
	_ = z.Close()
	return buf.Bytes()
}
