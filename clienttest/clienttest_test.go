// Package clienttest holds the API to what a third party builds from its
// document: a Go client that oapi-codegen generates from the /openapi.json
// the server serves, driven through a round trip against the real server.
package clienttest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	// The generated client's one dependency, which its code (generated
	// at test time, never committed) would otherwise be the only import of.
	_ "github.com/oapi-codegen/runtime"
	"github.com/sirupsen/logrus"

	"github.com/waybill/waybill/handlers"
	"github.com/waybill/waybill/models"
	"github.com/waybill/waybill/testdb"
)

// generator is oapi-codegen, run as a test-only tool at a fixed version.
const generator = "github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen@v2.8.2"

func TestMain(m *testing.M) { testdb.Main(m) }

// TestClientRoundTrip starts the real router over a fresh database,
// generates a client from the /openapi.json it serves, and runs
// testdata/roundtrip_test.go against it with that client, in a package
// of this module made for the run (so the module's go.mod pins the
// client's dependency): _gen-*, which ./... patterns pass over, ignored by
// git and removed after the run.
func TestClientRoundTrip(t *testing.T) {
	s, err := models.Open(testdb.New(t), models.PoolOptions{MaxOpenConns: 4, MaxIdleConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	_, key, err := s.CreateAPIKey(context.Background(), "clienttest", models.ScopeWrite)
	if err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	srv := httptest.NewServer(handlers.New(handlers.Options{
		Store: s, Log: log, RequestTimeout: 5 * time.Second, BodyLimit: 1 << 20,
		Draining: func() bool { return false },
	}))
	t.Cleanup(srv.Close)

	resp, err := http.Get(srv.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /openapi.json = %d, %v", resp.StatusCode, err)
	}

	dir, err := os.MkdirTemp(".", "_gen-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	spec := filepath.Join(t.TempDir(), "openapi.json")
	if err := os.WriteFile(spec, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	roundTrip, err := os.ReadFile(filepath.Join("testdata", "roundtrip_test.go"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "roundtrip_test.go"), roundTrip, 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, exec.Command("go", "run", generator, "-config", "oapi-codegen.yaml", "-o", filepath.Join(dir, "client.gen.go"), spec))

	test := exec.Command("go", "test", "-count=1", "-run", "^TestRoundTrip$", "./"+dir)
	test.Env = append(os.Environ(), "WAYBILL_URL="+srv.URL, "WAYBILL_KEY="+key)
	run(t, test)
}

// run runs cmd and fails t, with its output, unless it succeeds.
func run(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
}
