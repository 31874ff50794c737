package deploytest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// grafanaDir holds Grafana's provisioning files and the dashboard.
const grafanaDir = "../deploy/grafana"

// dashboard is the part of a Grafana dashboard the tests read.
type dashboard struct {
	UID        string
	Title      string
	Panels     []panel
	Templating struct {
		List []variable
	}
}

type panel struct {
	ID          int
	Type        string
	Title       string
	Datasource  *struct{ Type, UID string }
	GridPos     struct{ X, Y, W, H int }
	Targets     []target
	FieldConfig struct {
		Defaults struct {
			Unit       string
			Thresholds *struct {
				Steps []struct {
					Color string
					Value *float64
				}
			}
		}
	}
	Panels []panel // a collapsed row's
}

type target struct {
	Expr  string
	RefID string `json:"refId"`
}

type variable struct {
	Name  string
	Type  string
	Query any // a string, or {"query": "..."}
}

// query returns v's query text.
func (v variable) query() string {
	switch q := v.Query.(type) {
	case string:
		return q
	case map[string]any:
		s, _ := q["query"].(string)
		return s
	}
	return ""
}

// loadDashboard parses the provisioned dashboard.
func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(grafanaDir, "dashboards", "waybill.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("waybill.json: %v", err)
	}
	return d
}

// allPanels returns the panels of d, those of collapsed rows included,
// without the rows.
func (d dashboard) allPanels() []panel {
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if p.Type != "row" {
				out = append(out, p)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// labelValues matches Grafana's label_values(metric{...}, label) query.
var labelValues = regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)`)

// TestDashboardMetricsExported checks that every expression of the
// dashboard uses only metrics a Waybill server exports: renaming a metric
// in package metrics without the dashboard fails here.
func TestDashboardMetricsExported(t *testing.T) {
	exported := exportedMetrics(t)
	d := loadDashboard(t)
	exprs := 0
	for _, p := range d.allPanels() {
		for _, tg := range p.Targets {
			exprs++
			names := promqlMetricNames(tg.Expr)
			if len(names) == 0 {
				t.Errorf("panel %q target %s: no metric name in %q", p.Title, tg.RefID, tg.Expr)
			}
			for _, n := range names {
				if !exported[n] {
					t.Errorf("panel %q target %s uses %s, which a Waybill server does not export", p.Title, tg.RefID, n)
				}
			}
		}
	}
	if exprs < 10 {
		t.Errorf("the dashboard has %d expressions, want the panels of SPEC section 7", exprs)
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		m := labelValues.FindStringSubmatch(v.query())
		if m == nil {
			t.Errorf("variable %s: query %q, want label_values(metric, label)", v.Name, v.query())
		} else if !exported[m[1]] {
			t.Errorf("variable %s uses %s, which a Waybill server does not export", v.Name, m[1])
		}
	}
}

// grafanaVariables stand for the dashboard's variables when promtool parses
// its expressions.
var grafanaVariables = map[string]string{
	"__rate_interval": "5m",
	"__interval":      "1m",
	"job":             "waybill",
	"db_name":         ".*",
}

var grafanaVariable = regexp.MustCompile(`\$\{?(\w+)\}?`)

// TestDashboardPromQL parses every expression of the dashboard with
// promtool, as recording rules.
func TestDashboardPromQL(t *testing.T) {
	type record struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []record
	for _, p := range loadDashboard(t).allPanels() {
		for _, tg := range p.Targets {
			expr := grafanaVariable.ReplaceAllStringFunc(tg.Expr, func(v string) string {
				name := grafanaVariable.FindStringSubmatch(v)[1]
				value, ok := grafanaVariables[name]
				if !ok {
					t.Errorf("panel %q: unknown variable %s in %q", p.Title, v, tg.Expr)
				}
				return value
			})
			rules = append(rules, record{fmt.Sprintf("dashboard:panel%d_%s", p.ID, tg.RefID), expr})
		}
	}
	b, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out := promtool(t, "check", "rules", file)
	if want := fmt.Sprintf("SUCCESS: %d rules found", len(rules)); !strings.Contains(out, want) {
		t.Errorf("promtool check rules (the dashboard's expressions) = %q, want %q", out, want)
	}
}

// TestDashboardPanels checks the panels SPEC section 7 asks for and the
// dashboard's layout.
func TestDashboardPanels(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("dashboard uid %q, title %q: want both", d.UID, d.Title)
	}
	panels := d.allPanels()
	ids := make(map[int]bool)
	for _, p := range panels {
		if ids[p.ID] {
			t.Errorf("panel id %d is used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Title == "" {
			t.Errorf("panel %d has no title", p.ID)
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q datasource = %+v, want the ${datasource} variable", p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		if g := p.GridPos; g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q gridPos = %+v, want it inside the 24 columns", p.Title, g)
		}
	}

	// Each wanted panel: a metric its queries use.
	uses := func(p panel, metric string) bool {
		return slices.ContainsFunc(p.Targets, func(tg target) bool { return strings.Contains(tg.Expr, metric) })
	}
	wanted := []struct{ what, metric string }{
		{"request rate by route", "waybill_http_requests_total"},
		{"5xx error rate by route", `status=~"5.."`},
		{"latency quantiles", "histogram_quantile(0.99"},
		{"pool open connections", "go_sql_open_connections"},
		{"pool in-use connections", "go_sql_in_use_connections"},
		{"pool idle connections", "go_sql_idle_connections"},
		{"pool maximum", "go_sql_max_open_connections"},
		{"pool wait count rate", "rate(go_sql_wait_count_total"},
		{"pool wait duration", "go_sql_wait_duration_seconds_total"},
		{"planned utilization", "waybill_db_capacity_planned_utilization_percent"},
		{"server connections", "waybill_db_capacity_server_connections"},
		{"usable connections", "waybill_db_capacity_server_max_connections{job=\"$job\"} - waybill_db_capacity_reserved_connections"},
		{"readiness", "waybill_ready"},
	}
	for _, w := range wanted {
		if !slices.ContainsFunc(panels, func(p panel) bool { return uses(p, w.metric) }) {
			t.Errorf("no panel shows the %s (a query with %s)", w.what, w.metric)
		}
	}

	// The planned utilization is coloured at the capacity plan's thresholds
	// (docs/monitoring.md, "Capacity planning": warning above 60 %,
	// critical above 80 %).
	i := slices.IndexFunc(panels, func(p panel) bool { return uses(p, "waybill_db_capacity_planned_utilization_percent") })
	if i >= 0 {
		p := panels[i]
		var steps []float64
		if th := p.FieldConfig.Defaults.Thresholds; th != nil {
			for _, s := range th.Steps {
				if s.Value != nil {
					steps = append(steps, *s.Value)
				}
			}
		}
		if !slices.Equal(steps, []float64{60, 80}) {
			t.Errorf("panel %q thresholds = %v, want 60 and 80 (the capacity plan's)", p.Title, steps)
		}
		if p.FieldConfig.Defaults.Unit != "percent" {
			t.Errorf("panel %q unit = %q, want percent (the metric is 0-100)", p.Title, p.FieldConfig.Defaults.Unit)
		}
	}
}

// TestGrafanaProvisioning checks the data source and dashboard provider
// files; compose_test.go checks that compose mounts them where they point.
func TestGrafanaProvisioning(t *testing.T) {
	var ds struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			Name, Type, UID, URL, Access string
			IsDefault                    bool `yaml:"isDefault"`
		}
	}
	readYAML(t, filepath.Join(grafanaDir, "provisioning", "datasources", "prometheus.yml"), &ds)
	if ds.APIVersion != 1 || len(ds.Datasources) != 1 {
		t.Fatalf("datasources/prometheus.yml = %+v, want apiVersion 1 and one data source", ds)
	}
	if s := ds.Datasources[0]; s.Type != "prometheus" || !s.IsDefault || s.Access != "proxy" || s.URL != "http://prometheus:9090" {
		t.Errorf("data source = %+v, want the default, type prometheus, access proxy, url http://prometheus:9090 (compose's prometheus)", s)
	}

	var dp struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name, Type string
			Options    struct{ Path string }
		}
	}
	readYAML(t, filepath.Join(grafanaDir, "provisioning", "dashboards", "waybill.yml"), &dp)
	if dp.APIVersion != 1 || len(dp.Providers) != 1 || dp.Providers[0].Type != "file" || dp.Providers[0].Options.Path == "" {
		t.Errorf("dashboards/waybill.yml = %+v, want apiVersion 1 and one file provider with a path", dp)
	}

	// The dashboard picks its data source from a variable, which defaults
	// to the provisioned one.
	d := loadDashboard(t)
	i := slices.IndexFunc(d.Templating.List, func(v variable) bool { return v.Name == "datasource" })
	if i < 0 || d.Templating.List[i].Type != "datasource" || d.Templating.List[i].query() != "prometheus" {
		t.Errorf("dashboard has no variable datasource of type datasource, query prometheus: %+v", d.Templating.List)
	}
}
