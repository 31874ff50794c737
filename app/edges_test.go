package app

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/waybill/waybill/models"
	"github.com/waybill/waybill/testdb"
)

// TestServeBodyEdges checks the request body's edges through the real
// server, as serve wires it (http.Server timeouts included): half a body
// and a stall is cut at REQUEST_TIMEOUT with 408, and a chunked body over
// BODY_LIMIT is 413.
func TestServeBodyEdges(t *testing.T) {
	const timeout = 500 * time.Millisecond
	dbURL := testdb.New(t)
	s := startWaybill(t, map[string]string{"DATABASE_URL": dbURL, "REQUEST_TIMEOUT": timeout.String(), "BODY_LIMIT": "1024"}, "serve")
	key := apiKeyFor(t, dbURL, models.ScopeWrite)
	addr := strings.TrimPrefix(s.base, "http://")

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"street1": "1 Main St", "city": "Springfield", "zip": "62701"}`
	start := time.Now()
	_, err = io.WriteString(conn, "POST /v1/addresses HTTP/1.1\r\nHost: waybill\r\nAuthorization: Bearer "+key+
		"\r\nContent-Type: application/json\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body[:20])
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	elapsed := time.Since(start)
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(raw), `"code":"request_timeout"`) {
		t.Errorf("a stalled body: %d %s, want 408 request_timeout", resp.StatusCode, raw)
	}
	if elapsed > timeout+100*time.Millisecond {
		t.Errorf("a stalled body answered after %s, want within %s + 100 ms", elapsed, timeout)
	}

	req, _ := http.NewRequest(http.MethodPost, s.base+"/v1/addresses", io.MultiReader(strings.NewReader(`{"name": "`),
		strings.NewReader(strings.Repeat("x", 4096)+`"}`)))
	req.TransferEncoding = []string{"chunked"}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(raw), `"code":"payload_too_large"`) {
		t.Errorf("a chunked body over BODY_LIMIT: %d %s, want 413 payload_too_large", resp.StatusCode, raw)
	}
}
