package deploytest

import (
	"database/sql"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"go.yaml.in/yaml/v3"

	"github.com/waybill/waybill/metrics"
)

// promDir holds Prometheus's configuration, its rules and their tests.
const promDir = "../deploy/prometheus"

// promtool runs promtool with args in promDir and returns its output,
// failing t if it exits non-zero. Without promtool the test fails: .ci/run
// installs it.
func promtool(t *testing.T, args ...string) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found on PATH; it checks the Prometheus files. Install it: " +
			"`apt-get install prometheus` ships /usr/bin/promtool (and a daemon), or extract it alone as .ci/run does: " +
			"`apt-get download prometheus && dpkg-deb --fsys-tarfile prometheus_*.deb | tar -xO ./usr/bin/promtool > /usr/local/bin/promtool && chmod 755 /usr/local/bin/promtool`")
	}
	cmd := exec.Command(path, args...)
	cmd.Dir = promDir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// ruleFile is a Prometheus rule file.
type ruleFile struct {
	Groups []struct {
		Name  string
		Rules []rule
	}
}

type rule struct {
	Alert       string
	Record      string
	Expr        string
	For         string
	Labels      map[string]string
	Annotations map[string]string
}

// readYAML decodes the YAML file path into v, failing t on an error.
func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// alertRules returns the alerting rules of alerts.yml.
func alertRules(t *testing.T) []rule {
	t.Helper()
	var f ruleFile
	readYAML(t, filepath.Join(promDir, "alerts.yml"), &f)
	var rules []rule
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				rules = append(rules, r)
			}
		}
	}
	if len(rules) == 0 {
		t.Fatal("alerts.yml has no alerting rules")
	}
	return rules
}

func TestPrometheusConfig(t *testing.T) {
	// Also loads the rule files it names.
	out := promtool(t, "check", "config", "prometheus.yml")
	if !strings.Contains(out, "SUCCESS: prometheus.yml is valid") {
		t.Errorf("promtool check config prometheus.yml:\n%s", out)
	}

	type scrapeConfig struct {
		JobName       string `yaml:"job_name"`
		MetricsPath   string `yaml:"metrics_path"`
		StaticConfigs []struct {
			Targets []string
		} `yaml:"static_configs"`
	}
	var cfg struct {
		RuleFiles     []string       `yaml:"rule_files"`
		ScrapeConfigs []scrapeConfig `yaml:"scrape_configs"`
	}
	readYAML(t, filepath.Join(promDir, "prometheus.yml"), &cfg)
	if !slices.Contains(cfg.RuleFiles, "alerts.yml") {
		t.Errorf("prometheus.yml rule_files = %q, want alerts.yml", cfg.RuleFiles)
	}
	// The alerts select job="waybill"; compose's app listens on 8080.
	i := slices.IndexFunc(cfg.ScrapeConfigs, func(s scrapeConfig) bool { return s.JobName == "waybill" })
	if i < 0 {
		t.Fatalf("prometheus.yml has no scrape job waybill (the alerts' up{job=\"waybill\"})")
	}
	job := cfg.ScrapeConfigs[i]
	if job.MetricsPath != "" && job.MetricsPath != "/metrics" {
		t.Errorf("job waybill metrics_path = %q, want /metrics", job.MetricsPath)
	}
	var targets []string
	for _, s := range job.StaticConfigs {
		targets = append(targets, s.Targets...)
	}
	if !slices.Contains(targets, "app:8080") {
		t.Errorf("job waybill targets = %q, want app:8080 (compose.yaml's app)", targets)
	}
}

func TestAlertRules(t *testing.T) {
	out := promtool(t, "check", "rules", "alerts.yml")
	if !strings.Contains(out, "SUCCESS") {
		t.Errorf("promtool check rules alerts.yml:\n%s", out)
	}
	// The real proof: series that must fire each alert, and series that
	// must not.
	out = promtool(t, "test", "rules", "alerts_test.yml")
	if !strings.Contains(out, "SUCCESS") {
		t.Errorf("promtool test rules alerts_test.yml:\n%s", out)
	}
}

// TestAlertRulesPredecessor checks that alerts.yml carries the predecessor's
// alerts (SPEC section 7) with their thresholds, and that alerts_test.yml
// fires every alert it has.
func TestAlertRulesPredecessor(t *testing.T) {
	rules := alertRules(t)
	tests := []struct {
		alert, severity, wait string
		expr                  []string // each in the expression
		mentions              []string // each in the annotations
	}{
		{"WaybillDatabaseConnectionsHigh", "warning", "5m", []string{"waybill_db_capacity_server_connections", "> 0.8"}, nil},
		{"WaybillDatabaseConnectionsCritical", "critical", "5m", []string{"waybill_db_capacity_server_connections", "> 0.9"}, nil},
		{"PostgresIdleInTransaction", "warning", "", []string{`pg_stat_activity_max_tx_duration{state="idle in transaction"}`, "> 120"},
			[]string{"postgres_exporter", "waybill monitor --idle-tx 2m"}},
		{"WaybillNotReady", "critical", "1m", []string{"waybill_ready == 0"}, nil},
		{"WaybillDown", "critical", "1m", []string{`up{job="waybill"} == 0`}, nil},
	}
	for _, tt := range tests {
		i := slices.IndexFunc(rules, func(r rule) bool { return r.Alert == tt.alert })
		if i < 0 {
			t.Errorf("alerts.yml has no alert %s", tt.alert)
			continue
		}
		r := rules[i]
		if got := r.Labels["severity"]; got != tt.severity {
			t.Errorf("%s severity = %q, want %q", tt.alert, got, tt.severity)
		}
		if r.For != tt.wait {
			t.Errorf("%s for = %q, want %q", tt.alert, r.For, tt.wait)
		}
		for _, s := range tt.expr {
			if !strings.Contains(r.Expr, s) {
				t.Errorf("%s expr = %q, want it to contain %q", tt.alert, r.Expr, s)
			}
		}
		annotations := strings.Join(slices.Collect(maps.Values(r.Annotations)), "\n")
		for _, s := range tt.mentions {
			if !strings.Contains(annotations, s) {
				t.Errorf("%s annotations do not mention %q:\n%s", tt.alert, s, annotations)
			}
		}
	}

	var cases struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string
				ExpAlerts []any `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		}
	}
	readYAML(t, filepath.Join(promDir, "alerts_test.yml"), &cases)
	fired := make(map[string]bool)
	for _, c := range cases.Tests {
		for _, a := range c.AlertRuleTest {
			fired[a.Alertname] = fired[a.Alertname] || len(a.ExpAlerts) > 0
		}
	}
	for _, r := range rules {
		for _, k := range []string{"summary", "description", "runbook"} {
			if strings.TrimSpace(r.Annotations[k]) == "" {
				t.Errorf("%s has no %s annotation", r.Alert, k)
			}
		}
		if !slices.Contains([]string{"warning", "critical"}, r.Labels["severity"]) {
			t.Errorf("%s severity = %q, want warning or critical", r.Alert, r.Labels["severity"])
		}
		if !fired[r.Alert] {
			t.Errorf("alerts_test.yml never expects %s to fire: add a test case that fires it", r.Alert)
		}
	}
}

// externalMetrics are the names alerts.yml may use that Waybill does not
// export: Prometheus's own up, and postgres_exporter's per-session state.
var externalMetrics = []string{"up", "pg_stat_activity_max_tx_duration"}

func TestAlertRulesMetricsExported(t *testing.T) {
	exported := exportedMetrics(t)
	for _, r := range alertRules(t) {
		names := promqlMetricNames(r.Expr)
		if len(names) == 0 {
			t.Errorf("%s: no metric name found in %q", r.Alert, r.Expr)
		}
		for _, n := range names {
			if !exported[n] && !slices.Contains(externalMetrics, n) {
				t.Errorf("%s uses %s, which package metrics does not export", r.Alert, n)
			}
		}
	}
}

// exportedMetrics returns the name of every sample a Waybill server's
// /metrics has once it has a pool and has served a request: the families
// of package metrics, the database/sql pool collector, the Go and process
// collectors and promhttp, with a histogram's _bucket, _sum and _count.
// Prometheus adds up to every scrape.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	// sql.Open does not connect: the collector reads the pool's counters.
	db, err := sql.Open("pgx", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m := metrics.New("test", map[string]*sql.DB{"primary": db})
	m.ObserveRequest(http.MethodGet, "/v1/shipments/:id", http.StatusOK, time.Millisecond)
	m.SetCapacity(metrics.Capacity{Status: "ok"})
	m.SetReady(true)
	lag := 0.0
	m.WatchReplicas(func() []metrics.Replica {
		return []metrics.Replica{{Addr: "127.0.0.1:5433", Healthy: true, LagBytes: &lag, LagSeconds: &lag}}
	})

	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{"up": true}
	for l := range strings.SplitSeq(string(body), "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if i := strings.IndexAny(l, "{ "); i > 0 {
			names[l[:i]] = true
		}
	}
	for _, want := range []string{"waybill_http_request_duration_seconds_bucket", "go_sql_in_use_connections", "waybill_ready"} {
		if !names[want] {
			t.Fatalf("the scrape has no %s:\n%s", want, body)
		}
	}
	return names
}

var (
	promqlString   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	promqlMatchers = regexp.MustCompile(`\{[^}]*\}`)
	promqlRange    = regexp.MustCompile(`\[[^\]]*\]`)
	promqlGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	// A number or duration, a name (with the parenthesis of a call), or a
	// Grafana variable.
	promqlToken    = regexp.MustCompile(`[0-9][0-9a-zA-Z_.]*|([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?|\$\{?\w+\}?`)
	promqlKeywords = []string{"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
		"group_left", "group_right", "inf", "nan", "Inf", "NaN"}
)

// promqlMetricNames returns the metric names of the PromQL expression expr,
// sorted and without duplicates: every identifier that is not a function
// or aggregation (followed by a parenthesis), a keyword, a label (in
// matchers and grouping clauses), a number, a duration or a Grafana
// variable. It does not see names given as {__name__="..."}.
func promqlMetricNames(expr string) []string {
	s := promqlString.ReplaceAllString(expr, `""`)
	s = promqlMatchers.ReplaceAllString(s, " ")
	s = promqlRange.ReplaceAllString(s, " ")
	s = promqlGrouping.ReplaceAllString(s, " ")
	seen := make(map[string]bool)
	for _, m := range promqlToken.FindAllStringSubmatch(s, -1) {
		name, call := m[1], m[2]
		if name == "" || call != "" || slices.Contains(promqlKeywords, name) {
			continue
		}
		seen[name] = true
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func TestPromqlMetricNames(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{`up{job="waybill"} == 0`, []string{"up"}},
		{`waybill_ready == 0`, []string{"waybill_ready"}},
		{`sum by (le, route) (rate(a_bucket{job="$job",status=~"5.."}[$__rate_interval]))`, []string{"a_bucket"}},
		{`histogram_quantile(0.99, sum(rate(h_bucket[5m])) by (le))`, []string{"h_bucket"}},
		{`a / on(instance) group_left(version) b offset 5m > bool 0.8 and c unless d or e`, []string{"a", "b", "c", "d", "e"}},
		{`max by (job) (x / (y - z > 0)) > 0.8`, []string{"x", "y", "z"}},
		{`count by (status) (s{status="a b (c)"} == 1) + 1e3 + Inf`, []string{"s"}},
		{"sum without (instance) (rate(n:record[1h:5m]))", []string{"n:record"}},
	}
	for _, tt := range tests {
		if got := promqlMetricNames(tt.expr); !slices.Equal(got, tt.want) {
			t.Errorf("promqlMetricNames(%q) = %q, want %q", tt.expr, got, tt.want)
		}
	}
}
