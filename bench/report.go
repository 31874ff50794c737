package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/waybill/waybill/pgcluster"
)

// machine describes where a benchmark ran.
type machine struct {
	cpus     int
	cpuModel string
	memory   string
	load     string // load average when the run started
	postgres string // the server's version
	pgbench  string // pgbench --version
	goVer    string // go version
}

func describeMachine(ctx context.Context, pg *pgcluster.Server, pgbenchPath string) machine {
	m := machine{cpus: runtime.NumCPU(), cpuModel: procField("/proc/cpuinfo", "model name"), goVer: runtime.Version()}
	if kb, err := strconv.ParseFloat(strings.TrimSuffix(procField("/proc/meminfo", "MemTotal"), " kB"), 64); err == nil {
		m.memory = fmt.Sprintf("%.1f GiB", kb/(1<<20))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	_ = pg.Conn().QueryRow(ctx, "SELECT 'PostgreSQL ' || current_setting('server_version')").Scan(&m.postgres)
	if pgbenchPath != "" {
		if out, err := exec.CommandContext(ctx, pgbenchPath, "--version").Output(); err == nil {
			m.pgbench = strings.TrimSpace(string(out))
		}
	}
	if out, err := exec.CommandContext(ctx, "go", "version").Output(); err == nil {
		m.goVer = strings.TrimSpace(string(out))
	}
	return m
}

// procField returns the value of the first "name: value" line of a /proc
// file, or "".
func procField(path, name string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// report is a benchmark's outcome.
type report struct {
	machine machine
	opts    options
	started time.Time
	results []result
	rss     []peak
	bulk    *bulkResult  // nil unless -scenarios has bulk
	scale   []scalePoint // nil unless -scenarios has scale
}

// rssTarget is the bound on the server's peak RSS (VmHWM): 64 MiB, the
// target docs/benchmarks.md states.
const rssTarget = 64 << 20

// sort puts the results in the order of the table.
func (r *report) sort() {
	index := func(s scenario) int {
		return slices.IndexFunc(scenarios, func(x scenario) bool { return x.name == s.name })
	}
	slices.SortStableFunc(r.results, func(a, b result) int { return index(a.scenario) - index(b.scenario) })
}

func (r *report) failed() []string {
	var names []string
	for _, res := range r.results {
		if res.failed() {
			names = append(names, res.scenario.name)
		}
	}
	if r.bulk != nil && r.bulk.failed() {
		names = append(names, "bulk")
	}
	return names
}

// command is the command line that reproduces the run.
func (r *report) command() string {
	parts := []string{"go", "run", "./bench"}
	for _, a := range r.opts.args {
		if a == "" || strings.ContainsAny(a, " \t'\"$\\") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// markdown returns the results: the run, the machine, the table and its
// notes, then the bulk part's.
func (r *report) markdown() string {
	var out string
	if len(r.results) > 0 {
		out = r.scenariosMarkdown()
	}
	if r.bulk != nil {
		out += r.bulkMarkdown()
	}
	return out
}

// bulkMarkdown is the bulk part with the run and the machine.
func (r *report) bulkMarkdown() string {
	m := r.machine
	return fmt.Sprintf("Run on %s with:\n\n    %s\n\nMachine: %d CPUs (%s), %s of memory, load average %s at the start; %s; %s.\n\n",
		r.started.Format("2006-01-02 15:04 MST"), r.command(), m.cpus, orUnknown(m.cpuModel), orUnknown(m.memory),
		orUnknown(m.load), orUnknown(m.postgres), m.goVer) + r.bulk.markdown()
}

// scenariosMarkdown returns the scenarios' results: the run, the
// machine, the table and its notes.
func (r *report) scenariosMarkdown() string {
	var b strings.Builder
	m := r.machine
	fmt.Fprintf(&b, "Run on %s with:\n\n    %s\n\n", r.started.Format("2006-01-02 15:04 MST"), r.command())
	fmt.Fprintf(&b, "Machine: %d CPUs (%s), %s of memory, load average %s at the start; %s; %s; %s.\n\n",
		m.cpus, orUnknown(m.cpuModel), orUnknown(m.memory), orUnknown(m.load), orUnknown(m.postgres), orUnknown(m.pgbench), m.goVer)
	fmt.Fprintf(&b, "Each scenario: %d concurrent requests (HTTP workers; pgbench clients), %s of warm-up, then %s measured.\n\n",
		r.opts.concurrency, r.opts.warmup, r.opts.duration)

	if len(r.results) > 0 {
		b.WriteString("| scenario | req/s | p50 | p99 | errors | pgbench, server's SQL | ratio | pgbench, simplest SQL | ratio | target |\n")
		b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
	}
	for _, res := range r.results {
		shown := res.shown()
		errs := strconv.Itoa(res.errors())
		switch {
		case res.errors() > 0:
			errs += " FAILED"
		case len(shown.latencies) == 0:
			errs = "no answer, FAILED"
		}
		server, serverRatio := res.ceilingText(res.scenario.script, res.pgbench, res.pgbenchErr)
		simplest, simplestRatio := res.ceilingText(res.scenario.simplest, res.simplest, res.simplestErr)
		fmt.Fprintf(&b, "| %s (%s) | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", res.scenario.title, short(res.shipments),
			thousands(shown.rate()), ms(shown.p(50)), ms(shown.p(99)), errs, server, serverRatio, simplest, simplestRatio, res.targetText())
	}
	b.WriteString("\n")

	var peaks []string
	worst := int64(0)
	for _, p := range r.rss {
		peaks = append(peaks, fmt.Sprintf("%.1f MiB on %s shipments", float64(p.bytes)/(1<<20), thousands(float64(p.shipments))))
		worst = max(worst, p.bytes)
	}
	if len(peaks) > 0 {
		fmt.Fprintf(&b, "Server peak RSS (VmHWM): %s; target ≤ 64 MiB %s.\n\n", strings.Join(peaks, ", "), mark(worst <= rssTarget))
	}
	for _, res := range r.results {
		if res.probe != nil {
			fmt.Fprintf(&b, "/readyz: one more connection probing every %s while %d workers drove get-one at %s req/s (%d errors)",
				probePause, r.opts.concurrency, thousands(res.http.rate()), res.http.errors)
			if res.probeServer != nil {
				fmt.Fprintf(&b, "; %s, upper bounds of the handler's time, against %s and %s at the client, the rest spent outside the handler: in the kernel and Go's HTTP server, and waiting for one of the CPUs that the server, PostgreSQL and the load share",
					res.probeServer, ms(res.probe.p(50)), ms(res.probe.p(99)))
			}
			b.WriteString(".\n\n")
		}
	}
	b.WriteString(r.memoryMarkdown())
	var work []string
	for _, res := range r.results {
		if c, ok := res.work(); ok {
			sep := " "
			if c.coalesced {
				sep = ", "
			}
			work = append(work, res.scenario.name+sep+c.String())
		}
	}
	if len(work) > 0 {
		fmt.Fprintf(&b, "SQL per request, server : pgbench script (transactions / index scans / rows inserted, from PostgreSQL's counters; the scripts' id lookups left out): %s.\n\n",
			strings.Join(work, "; "))
	}
	var costs []string
	for _, res := range r.results {
		if c := res.sqlCost(); c != "" {
			costs = append(costs, c)
		}
	}
	if len(costs) > 0 {
		fmt.Fprintf(&b, "The server's SQL against the simplest, both under pgbench: %s.\n\n", strings.Join(costs, "; "))
	}
	for _, res := range r.results {
		if res.stale() {
			fmt.Fprintf(&b, "**Warning:** `bench/pgbench/%s` no longer does what the server does for %s; its ratio is not to be trusted until the script is brought up to date.\n\n",
				res.scenario.script, res.scenario.name)
		}
	}
	for _, res := range r.results {
		if e := firstNonEmpty(res.http.firstErr, probeErr(res)); e != "" {
			fmt.Fprintf(&b, "%s failed; first error: `%s`\n\n", res.scenario.name, oneLine(e))
		}
		if res.pgbenchErr != "" {
			fmt.Fprintf(&b, "%s: pgbench failed: `%s`\n\n", res.scenario.name, oneLine(res.pgbenchErr))
		}
		if res.simplestErr != "" {
			fmt.Fprintf(&b, "%s: pgbench on the simplest SQL failed: `%s`\n\n", res.scenario.name, oneLine(res.simplestErr))
		}
	}
	return b.String()
}

// memoryMarkdown is the table of what the server's Go runtime did per
// request in each scenario's window, against the route's budget.
func (r *report) memoryMarkdown() string {
	var b strings.Builder
	for _, res := range r.results {
		m := res.memory
		if m == nil {
			continue
		}
		if b.Len() == 0 {
			b.WriteString("The server's Go runtime over each window (from its /metrics: go_memstats_mallocs_total, go_memstats_alloc_bytes_total, go_gc_duration_seconds_count), per request answered:\n\n")
			b.WriteString("| scenario | allocations | KiB allocated | GC cycles/s | budget |\n|---|--:|--:|--:|---|\n")
		}
		t := res.scenario.target
		var budget []string
		if t.maxAllocs > 0 {
			budget = append(budget, fmt.Sprintf("≤ %.0f allocations %s", t.maxAllocs, mark(m.allocs <= t.maxAllocs)))
		}
		if t.maxKiB > 0 {
			budget = append(budget, fmt.Sprintf("≤ %.0f KiB %s", t.maxKiB, mark(m.bytes/1024 <= t.maxKiB)))
		}
		fmt.Fprintf(&b, "| %s | %.0f | %.1f | %.1f | %s |\n", res.scenario.title, m.allocs, m.bytes/1024, m.gcs, strings.Join(budget, ", "))
	}
	if b.Len() > 0 {
		b.WriteString("\n")
	}
	return b.String()
}

func probeErr(r result) string {
	if r.probe == nil {
		return ""
	}
	return r.probe.firstErr
}

// ratio is the load's rate as a share of a pgbench rate; 0 without one.
func (r result) ratio(ceiling pgbenchResult) float64 {
	if ceiling.tps <= 0 {
		return 0
	}
	return r.http.rate() / ceiling.tps
}

// ceilingText returns the table's cells for one ceiling: pgbench's rate on
// script and the load's ratio to it; dashes without a script.
func (r result) ceilingText(script string, ceiling pgbenchResult, failed string) (rate, ratio string) {
	switch {
	case script == "":
		return "—", "—"
	case failed != "":
		return "FAILED", "—"
	}
	return thousands(ceiling.tps), fmt.Sprintf("%.1f %%", 100*r.ratio(ceiling))
}

// judged is the ceiling the ratio target is judged against: the faster of
// the two pgbench runs, the simplest SQL's (the one SPEC.md names) or the
// server's own statements' where those are faster (the list's kept join
// order spares PostgreSQL the planning the simplest SQL costs; the
// dashboard reads per-day tables), so that no ratio is flattered by a slow
// ceiling; ok is false when neither was measured.
func (r result) judged() (ceiling pgbenchResult, ok bool) {
	if r.pgbenchErr == "" && r.pgbench.tps > 0 {
		ceiling, ok = r.pgbench, true
	}
	if r.simplestErr == "" && r.simplest.tps > ceiling.tps {
		ceiling, ok = r.simplest, true
	}
	return ceiling, ok
}

// sqlCost says how the server's statements compare with the simplest SQL,
// both under pgbench, when they differ by more than two pgbench runs of
// the same statement did on this shared machine (up to 27 %, hence 30 %);
// "" when they do not or either was not measured.
func (r result) sqlCost() string {
	server, simplest := r.pgbench.tps, r.simplest.tps
	if r.scenario.simplest == "" || r.pgbenchErr != "" || r.simplestErr != "" || server <= 0 || simplest <= 0 {
		return ""
	}
	switch q := server / simplest; {
	case q < 0.7:
		return fmt.Sprintf("%s's statements cost %.0f %% more than the simplest SQL (%s against %s tps)",
			r.scenario.name, 100*(simplest/server-1), thousands(server), thousands(simplest))
	case q > 1.3:
		return fmt.Sprintf("%s's statements are %.1f× as fast as the simplest SQL (%s against %s tps)",
			r.scenario.name, q, thousands(server), thousands(simplest))
	}
	return ""
}

// targetText states the scenario's targets, each marked met or missed.
func (r result) targetText() string {
	t, shown := r.scenario.target, r.shown()
	answered := len(shown.latencies) > 0
	var parts []string
	if t.minRatio > 0 {
		ceiling, ok := r.judged()
		met := ok && r.ratio(ceiling) >= t.minRatio
		parts = append(parts, fmt.Sprintf("≥ %.0f %% %s", 100*t.minRatio, mark(met)))
	}
	if t.maxP50 > 0 {
		parts = append(parts, fmt.Sprintf("p50 ≤ %s %s", bound(t.maxP50), mark(answered && shown.p(50) <= t.maxP50)))
	}
	if t.maxP99 > 0 {
		parts = append(parts, fmt.Sprintf("p99 ≤ %s %s", bound(t.maxP99), mark(answered && shown.p(99) <= t.maxP99)))
	}
	return strings.Join(parts, ", ")
}

func mark(ok bool) string {
	if ok {
		return "✓"
	}
	return "✗"
}

// ms formats a latency in milliseconds with three significant digits at
// most.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v < 10:
		return strconv.FormatFloat(v, 'f', 2, 64) + " ms"
	case v < 100:
		return strconv.FormatFloat(v, 'f', 1, 64) + " ms"
	}
	return strconv.FormatFloat(v, 'f', 0, 64) + " ms"
}

// bound formats a target latency: 5 ms, 50 ms.
func bound(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', -1, 64) + " ms"
}

// thousands formats v rounded, with commas between thousands.
func thousands(v float64) string {
	s := strconv.FormatInt(int64(v+0.5), 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// short writes a number of shipments as 100k or 1M.
func short(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return strconv.Itoa(n/1_000_000) + "M"
	case n >= 1_000 && n%1_000 == 0:
		return strconv.Itoa(n/1_000) + "k"
	}
	return strconv.Itoa(n)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.ReplaceAll(s, "`", "'")
}

// The results in docs/benchmarks.md sit between these markers, the bulk
// part's between its own (a run writes only what it measured); the rest
// of the file is prose for people to edit.
const (
	beginMarker     = "<!-- bench:results:begin — written by `task bench`; edit outside these markers -->"
	endMarker       = "<!-- bench:results:end -->"
	bulkBeginMarker = "<!-- bench:bulk:begin — written by `task bench` (-scenarios bulk); edit outside these markers -->"
	bulkEndMarker   = "<!-- bench:bulk:end -->"
	// The scale part's results sit in docs/scaling.md, beside the file
	// the others go to.
	scaleBeginMarker = "<!-- bench:scale:begin — written by `task bench` (-scenarios scale); edit outside these markers -->"
	scaleEndMarker   = "<!-- bench:scale:end -->"
)

// write puts the results into the file at path between the markers,
// creating the file if it does not exist.
func (r *report) write(path string) error {
	doc, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		doc, err = []byte("# Benchmarks\n\n"+beginMarker+"\n"+endMarker+"\n"), nil
	}
	if err != nil {
		return err
	}
	out := string(doc)
	if len(r.results) > 0 {
		if out, err = replaceBetween(out, beginMarker, endMarker, r.scenariosMarkdown()); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	if r.bulk != nil {
		if !strings.Contains(out, bulkBeginMarker) {
			out = strings.TrimRight(out, "\n") + "\n\n" + bulkBeginMarker + "\n" + bulkEndMarker + "\n"
		}
		if out, err = replaceBetween(out, bulkBeginMarker, bulkEndMarker, r.bulkMarkdown()); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil || r.scale == nil {
		return err
	}
	scaling := filepath.Join(filepath.Dir(path), "scaling.md")
	doc, err = os.ReadFile(scaling)
	if err != nil {
		return err
	}
	m := r.machine
	text := fmt.Sprintf("Run on %s with:\n\n    %s\n\nMachine: %d CPUs (%s), %s of memory, load average %s at the start; %s; %s.\n\n",
		r.started.Format("2006-01-02 15:04 MST"), r.command(), m.cpus, orUnknown(m.cpuModel), orUnknown(m.memory),
		orUnknown(m.load), orUnknown(m.postgres), m.goVer) + scaleMarkdown(r.scale, r.opts.concurrency)
	out, err = replaceBetween(string(doc), scaleBeginMarker, scaleEndMarker, text)
	if err != nil {
		return fmt.Errorf("%s: %w", scaling, err)
	}
	return os.WriteFile(scaling, []byte(out), 0o644)
}

// replaceBetween puts text between the markers begin and end of doc.
func replaceBetween(doc, begin, end, text string) (string, error) {
	before, rest, ok1 := strings.Cut(doc, begin)
	_, after, ok2 := strings.Cut(rest, end)
	if !ok1 || !ok2 {
		return "", fmt.Errorf("no results markers (%s … %s): add them where the results go", begin, end)
	}
	return before + begin + "\n\n" + text + end + after, nil
}
