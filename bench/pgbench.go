package main

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/waybill/waybill/models"
)

// shipmentJoined is the FROM clause with which the server reads shipments
// (models' joined): each with its addresses, parcel and customs info, as
// GORM writes it. Scripts say {{shipment_joined}} for it.
const shipmentJoined = `FROM shipments
LEFT JOIN addresses AS "FromAddress" ON shipments.from_address_id = "FromAddress".id
LEFT JOIN addresses AS "ToAddress" ON shipments.to_address_id = "ToAddress".id
LEFT JOIN addresses AS "ReturnAddress" ON shipments.return_address_id = "ReturnAddress".id
LEFT JOIN addresses AS "BuyerAddress" ON shipments.buyer_address_id = "BuyerAddress".id
LEFT JOIN parcels AS "Parcel" ON shipments.parcel_id = "Parcel".id
LEFT JOIN customs_infos AS "CustomsInfo" ON shipments.customs_info_id = "CustomsInfo".id
`

// scripts are the pgbench scripts: for each scenario, the statements the
// server sends for one request (<name>.sql), and the simplest SQL that
// returns the same data (<name>.simplest.sql); the comment at the top of
// each says what it sends.
//
//go:embed pgbench/*.sql
var scripts embed.FS

// findPgbench returns the pgbench to use: the one given, the one on PATH,
// or the newest of Debian's /usr/lib/postgresql/*/bin.
func findPgbench(given string) (string, error) {
	if given != "" {
		return given, nil
	}
	if p, err := exec.LookPath("pgbench"); err == nil {
		return p, nil
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pgbench")
	slices.SortFunc(found, func(a, b string) int { return versionOf(a) - versionOf(b) })
	if len(found) == 0 {
		return "", errors.New("no pgbench on PATH or under /usr/lib/postgresql/*/bin (install PostgreSQL's client tools, or give -pgbench)")
	}
	return found[len(found)-1], nil
}

func versionOf(path string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return n
}

// pgbenchResult is what pgbench reported.
type pgbenchResult struct {
	tps       float64
	processed int
	failed    int
}

var (
	tpsLine       = regexp.MustCompile(`(?m)^tps = ([0-9.]+) \(without initial connection time\)`)
	processedLine = regexp.MustCompile(`(?m)^number of transactions actually processed: (\d+)`)
	failedLine    = regexp.MustCompile(`(?m)^number of failed transactions: (\d+)`)
)

// parsePgbench reads the summary pgbench prints on standard output.
func parsePgbench(out string) (pgbenchResult, error) {
	var r pgbenchResult
	m := tpsLine.FindStringSubmatch(out)
	if m == nil {
		return r, errors.New("pgbench printed no tps")
	}
	r.tps, _ = strconv.ParseFloat(m[1], 64)
	if m := processedLine.FindStringSubmatch(out); m != nil {
		r.processed, _ = strconv.Atoi(m[1])
	}
	// pgbench before 15 has no such line: it aborts a client on an error.
	if m := failedLine.FindStringSubmatch(out); m != nil {
		r.failed, _ = strconv.Atoi(m[1])
	}
	return r, nil
}

// runPgbench runs script, one of s's, against dbURL: a warm-up run, then
// the measured one, both at the harness's concurrency, in prepared mode
// (as pgx prepares and caches every statement the server sends), without
// pgbench's own tables (-n). It returns the measured run's result and the
// transactions of both runs.
func (h *harness) runPgbench(ctx context.Context, dbURL, script string, s scenario, f *fixtures) (pgbenchResult, int, error) {
	src, err := scripts.ReadFile("pgbench/" + script)
	if err != nil {
		return pgbenchResult{}, 0, err
	}
	dashboard := strings.NewReplacer("$1", ":start_date", "$2", ":end_date").Replace(models.DashboardStatement())
	src = []byte(strings.NewReplacer("{{models.DashboardStatement}}", dashboard,
		"{{shipment_joined}}", strings.TrimSuffix(shipmentJoined, "\n")).Replace(string(src)))
	file := filepath.Join(h.dir, script)
	if err := os.WriteFile(file, src, 0o644); err != nil {
		return pgbenchResult{}, 0, err
	}
	c := h.opts.concurrency
	args := []string{"-n", "-M", "prepared", "-c", strconv.Itoa(c), "-j", strconv.Itoa(min(c, runtime.NumCPU())), "-f", file}
	vars := s.vars(f)
	names := make([]string, 0, len(vars))
	for k := range vars {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		args = append(args, "-D", k+"="+vars[k])
	}
	warm := 0
	if h.opts.warmup >= time.Second {
		r, err := h.pgbench(ctx, append(args, "-T", seconds(h.opts.warmup), dbURL))
		if err != nil {
			return r, warm, err
		}
		warm = r.processed
	}
	r, err := h.pgbench(ctx, append(args, "-T", seconds(h.opts.duration), dbURL))
	return r, warm + r.processed, err
}

// sessionSettings are the settings the server's connections run with
// (models.connConfig), given to pgbench's: the plans must be the same.
const sessionSettings = "-c jit=off -c timezone=UTC"

func seconds(d time.Duration) string { return strconv.Itoa(int(math.Round(d.Seconds()))) }

func (h *harness) pgbench(ctx context.Context, args []string) (pgbenchResult, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, h.pgbenchPath, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), "PGOPTIONS="+sessionSettings)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	runErr := cmd.Run()
	r, err := parsePgbench(stdout.String())
	switch {
	case runErr != nil || err != nil:
		return r, fmt.Errorf("pgbench: %v: %s", errors.Join(runErr, err), lastLines(stderr.String(), 5))
	case r.failed > 0:
		return r, fmt.Errorf("pgbench: %d failed transactions: %s", r.failed, lastLines(stderr.String(), 5))
	}
	return r, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], " | ")
}
