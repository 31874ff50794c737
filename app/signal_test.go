package app

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSIGTERM builds the real binary, runs `waybill serve` and sends it
// SIGTERM: it must start draining (/readyz 503 "draining"). A second
// signal (SIGINT, Ctrl-C twice) ends the 30 s DRAIN_DELAY early: it must
// then exit 0 within SHUTDOWN_TIMEOUT.
func TestSIGTERM(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "waybill")
	build := exec.Command("go", "build", "-o", bin, "github.com/waybill/waybill")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	addr := freeAddr(t)
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "HTTP_ADDR="+addr, "SHUTDOWN_TIMEOUT=5s", "DRAIN_DELAY=30s", "DATABASE_URL=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get("http://" + addr + "/livez"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("waybill did not start:\n%s", stderr.String())
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for start := time.Now(); !draining("http://" + addr + "/readyz"); time.Sleep(20 * time.Millisecond) {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("/readyz does not answer 503 draining after SIGTERM:\n%s", stderr.String())
		}
	}
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("after SIGTERM: %v, want exit status 0\n%s", err, stderr.String())
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("exit took %s, longer than SHUTDOWN_TIMEOUT", took)
	}
	for _, want := range []string{"second signal", `"msg":"stopped"`} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("the log lacks %s:\n%s", want, stderr.String())
		}
	}
}

// draining reports whether url answers 503 with reason draining.
func draining(url string) bool {
	resp, err := http.Get(url)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var body struct{ Reason string }
	return resp.StatusCode == http.StatusServiceUnavailable && json.NewDecoder(resp.Body).Decode(&body) == nil && body.Reason == "draining"
}
