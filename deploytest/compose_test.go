package deploytest

import (
	"context"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// loadCompose loads ../compose.yaml as docker compose would with profiles
// active, validating it against the Compose specification.
func loadCompose(t *testing.T, profiles ...string) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{"../compose.yaml"}, cli.WithName("waybill"), cli.WithWorkingDirectory(".."),
		cli.WithProfiles(profiles))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return p
}

// service returns the service name of p, failing the test if there is none.
func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, err := p.GetService(name)
	if err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return s
}

func TestComposeDB(t *testing.T) {
	db := service(t, loadCompose(t), "db")
	if !strings.HasPrefix(db.Image, "postgres:17") {
		t.Errorf("db image = %q, want postgres:17", db.Image)
	}
	if !slices.Contains(db.Command, "max_connections=150") {
		t.Errorf("db command = %q, want -c max_connections=150", db.Command)
	}
	if db.HealthCheck == nil || db.HealthCheck.Disable || len(db.HealthCheck.Test) == 0 {
		t.Errorf("db healthcheck = %+v, want one", db.HealthCheck)
	} else if !slices.Contains(db.HealthCheck.Test, "pg_isready") {
		t.Errorf("db healthcheck test = %q, want pg_isready", db.HealthCheck.Test)
	}
	// waybill dev connects to the service as composeURL in app/dev.go:
	// postgres://postgres:postgres@127.0.0.1:5432/waybill.
	for k, want := range map[string]string{"POSTGRES_PASSWORD": "postgres", "POSTGRES_DB": "waybill"} {
		if got := db.Environment[k]; got == nil || *got != want {
			t.Errorf("db %s = %v, want %s (waybill dev's URL)", k, got, want)
		}
	}
	published := slices.ContainsFunc(db.Ports, func(p types.ServicePortConfig) bool {
		return p.Target == 5432 && p.Published == "5432" && p.HostIP == "127.0.0.1"
	})
	if !published {
		t.Errorf("db ports = %+v, want 127.0.0.1:5432:5432 (waybill dev's URL)", db.Ports)
	}
	named := slices.ContainsFunc(db.Volumes, func(v types.ServiceVolumeConfig) bool {
		return v.Type == types.VolumeTypeVolume && v.Source != "" && strings.HasPrefix(v.Target, "/var/lib/postgresql")
	})
	if !named {
		t.Errorf("db volumes = %+v, want a named volume on /var/lib/postgresql/data", db.Volumes)
	}
}

func TestComposeMigrate(t *testing.T) {
	m := service(t, loadCompose(t), "migrate")
	if got, want := m.Command, (types.ShellCommand{"migrate", "up"}); !slices.Equal(got, want) {
		t.Errorf("migrate command = %q, want %q", got, want)
	}
	if m.Build == nil {
		t.Error("migrate has no build: it should run the image built from the repository")
	}
	if got := m.DependsOn["db"].Condition; got != types.ServiceConditionHealthy {
		t.Errorf("migrate depends on db with condition %q, want %s", got, types.ServiceConditionHealthy)
	}
	if m.Restart != types.RestartPolicyNo {
		t.Errorf("migrate restart = %q, want no (it runs once)", m.Restart)
	}
}

func TestComposeApp(t *testing.T) {
	app := service(t, loadCompose(t), "app")
	if app.Build == nil {
		t.Error("app has no build: it should be built from the repository's Dockerfile")
	}
	tests := []struct{ dependency, condition string }{
		{"db", types.ServiceConditionHealthy},
		{"migrate", types.ServiceConditionCompletedSuccessfully},
	}
	for _, tt := range tests {
		if got := app.DependsOn[tt.dependency].Condition; got != tt.condition {
			t.Errorf("app depends on %s with condition %q, want %q", tt.dependency, got, tt.condition)
		}
	}
	if got := app.Environment["HTTP_ADDR"]; got == nil || !strings.HasPrefix(*got, "0.0.0.0:") {
		t.Errorf("app HTTP_ADDR = %v, want 0.0.0.0:8080 (reachable from outside the container)", got)
	}
	published := slices.ContainsFunc(app.Ports, func(p types.ServicePortConfig) bool {
		return p.Target == 8080 && p.Published == "8080"
	})
	if !published {
		t.Errorf("app ports = %+v, want 8080:8080", app.Ports)
	}
}

// bindMount returns the bind mount of s whose source is dir (relative to the
// repository), failing the test if there is none or it is writable.
func bindMount(t *testing.T, p *types.Project, s types.ServiceConfig, dir string) types.ServiceVolumeConfig {
	t.Helper()
	i := slices.IndexFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool {
		rel, err := filepath.Rel(p.WorkingDir, v.Source)
		return v.Type == types.VolumeTypeBind && err == nil && rel == dir
	})
	if i < 0 {
		t.Fatalf("%s volumes = %+v, want a bind mount of ./%s", s.Name, s.Volumes, dir)
	}
	v := s.Volumes[i]
	if !v.ReadOnly {
		t.Errorf("%s mounts ./%s read-write, want :ro", s.Name, dir)
	}
	return v
}

// TestComposeMonitoringProfile checks that Prometheus and Grafana start only
// with the monitoring profile.
func TestComposeMonitoringProfile(t *testing.T) {
	p := loadCompose(t)
	for _, name := range []string{"prometheus", "grafana"} {
		if _, err := p.GetService(name); err == nil {
			t.Errorf("%s runs without a profile, want it under the monitoring profile only", name)
		}
		s, err := p.GetDisabledService(name)
		if err != nil {
			t.Errorf("compose.yaml: %v", err)
			continue
		}
		if !slices.Equal(s.Profiles, []string{"monitoring"}) {
			t.Errorf("%s profiles = %q, want [monitoring]", name, s.Profiles)
		}
	}
	// The monitoring profile adds to the default services.
	p = loadCompose(t, "monitoring")
	for _, name := range []string{"db", "migrate", "app", "prometheus", "grafana"} {
		service(t, p, name)
	}
}

func TestComposePrometheus(t *testing.T) {
	p := loadCompose(t, "monitoring")
	prom := service(t, p, "prometheus")
	if !strings.HasPrefix(prom.Image, "prom/prometheus:") {
		t.Errorf("prometheus image = %q, want prom/prometheus", prom.Image)
	}
	published := slices.ContainsFunc(prom.Ports, func(p types.ServicePortConfig) bool {
		return p.Target == 9090 && p.Published == "9090"
	})
	if !published {
		t.Errorf("prometheus ports = %+v, want 9090:9090", prom.Ports)
	}
	// deploy/prometheus holds prometheus.yml and the alerts.yml it loads;
	// the server must read that prometheus.yml.
	v := bindMount(t, p, prom, "deploy/prometheus")
	for _, f := range []string{"prometheus.yml", "alerts.yml"} {
		if _, err := os.Stat(filepath.Join(v.Source, f)); err != nil {
			t.Errorf("prometheus mounts ./deploy/prometheus, but: %v", err)
		}
	}
	config := "/etc/prometheus/prometheus.yml" // the image's default
	for _, arg := range prom.Command {
		if c, ok := strings.CutPrefix(arg, "--config.file="); ok {
			config = c
		}
	}
	if want := path.Join(v.Target, "prometheus.yml"); config != want {
		t.Errorf("prometheus reads %s, want %s (the mounted deploy/prometheus/prometheus.yml)", config, want)
	}
}

func TestComposeGrafana(t *testing.T) {
	p := loadCompose(t, "monitoring")
	g := service(t, p, "grafana")
	if !strings.HasPrefix(g.Image, "grafana/grafana") {
		t.Errorf("grafana image = %q, want grafana/grafana", g.Image)
	}
	published := slices.ContainsFunc(g.Ports, func(p types.ServicePortConfig) bool {
		return p.Target == 3000 && p.Published == "3000"
	})
	if !published {
		t.Errorf("grafana ports = %+v, want 3000:3000", g.Ports)
	}
	if _, ok := g.DependsOn["prometheus"]; !ok {
		t.Errorf("grafana depends on %v, want prometheus (its data source)", slices.Collect(maps.Keys(g.DependsOn)))
	}
	env := func(k string) string {
		if v := g.Environment[k]; v != nil {
			return *v
		}
		return ""
	}
	if env("GF_AUTH_ANONYMOUS_ENABLED") != "true" || env("GF_AUTH_ANONYMOUS_ORG_ROLE") != "Viewer" {
		t.Errorf("grafana anonymous access = %q as %q, want true as Viewer", env("GF_AUTH_ANONYMOUS_ENABLED"), env("GF_AUTH_ANONYMOUS_ORG_ROLE"))
	}
	if env("GF_SECURITY_ADMIN_PASSWORD") == "" {
		t.Error("grafana has no GF_SECURITY_ADMIN_PASSWORD")
	}

	// Provisioning where Grafana reads it; the dashboards where the
	// provider of deploy/grafana/provisioning/dashboards/waybill.yml looks.
	if v := bindMount(t, p, g, "deploy/grafana/provisioning"); v.Target != "/etc/grafana/provisioning" {
		t.Errorf("grafana mounts ./deploy/grafana/provisioning on %s, want /etc/grafana/provisioning", v.Target)
	}
	dashboards := bindMount(t, p, g, "deploy/grafana/dashboards")
	var provider struct {
		Providers []struct{ Options struct{ Path string } }
	}
	readYAML(t, filepath.Join(p.WorkingDir, "deploy/grafana/provisioning/dashboards/waybill.yml"), &provider)
	if len(provider.Providers) == 0 || provider.Providers[0].Options.Path != dashboards.Target {
		t.Errorf("the dashboard provider reads %+v, want the mount of ./deploy/grafana/dashboards, %s", provider.Providers, dashboards.Target)
	}
	home := env("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
	if rel, ok := strings.CutPrefix(home, dashboards.Target+"/"); !ok {
		t.Errorf("grafana home dashboard = %q, want a file under %s", home, dashboards.Target)
	} else if _, err := os.Stat(filepath.Join(dashboards.Source, rel)); err != nil {
		t.Errorf("grafana home dashboard: %v", err)
	}
}

// TestComposeScaleProfile: the scale profile (docs/scaling.md) adds a
// replica, PgBouncer, a migrator that pins PgBouncer's settings, two
// instances through PgBouncer reading from the replica, and HAProxy over
// exactly those instances; none of it runs without the profile.
func TestComposeScaleProfile(t *testing.T) {
	scaled := []string{"replica", "pgbouncer", "migrate-scale", "app1", "app2", "lb"}
	p := loadCompose(t)
	for _, name := range scaled {
		if _, err := p.GetService(name); err == nil {
			t.Errorf("%s runs without a profile, want it under the scale profile only", name)
		}
	}
	p = loadCompose(t, "scale")
	for _, name := range scaled {
		if s := service(t, p, name); !slices.Equal(s.Profiles, []string{"scale"}) {
			t.Errorf("%s profiles = %q, want [scale]", name, s.Profiles)
		}
	}
	for _, name := range []string{"app1", "app2"} {
		env := service(t, p, name).Environment
		for k, want := range map[string]string{"DB_PGBOUNCER": "true", "APP_INSTANCES": "2"} {
			if got := env[k]; got == nil || *got != want {
				t.Errorf("%s %s = %v, want %s", name, k, got, want)
			}
		}
		for k, host := range map[string]string{"DATABASE_URL": "@pgbouncer:6432/", "PGBOUNCER_ADMIN_URL": "@pgbouncer:6432/pgbouncer",
			"DATABASE_REPLICA_URLS": "@replica:5432/"} {
			if got := env[k]; got == nil || !strings.Contains(*got, host) {
				t.Errorf("%s %s = %v, want it through %s", name, k, got, host)
			}
		}
	}
	if env := service(t, p, "migrate-scale").Environment; env["MIGRATE_DATABASE_URL"] == nil ||
		!strings.Contains(*env["MIGRATE_DATABASE_URL"], "@db:5432/") || env["DB_PGBOUNCER"] == nil {
		t.Errorf("migrate-scale environment = %v, want MIGRATE_DATABASE_URL on db and DB_PGBOUNCER", env)
	}
	cfg, err := os.ReadFile("../deploy/scale/haproxy.cfg")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"app1", "app2"} {
		if !strings.Contains(string(cfg), "server "+name+" "+name+":8080 check") {
			t.Errorf("haproxy.cfg does not balance over %s:8080 with a health check", name)
		}
	}
	if !strings.Contains(string(cfg), "option httpchk GET /readyz") {
		t.Error("haproxy.cfg does not check /readyz")
	}
	ini, err := os.ReadFile("../deploy/scale/pgbouncer.ini")
	if err != nil || !strings.Contains(string(ini), "pool_mode = transaction") {
		t.Errorf("pgbouncer.ini (%v) is not in transaction pooling", err)
	}
}
