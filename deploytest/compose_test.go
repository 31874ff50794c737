package deploytest

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// loadCompose loads ../compose.yaml as docker compose would, validating it
// against the Compose specification.
func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{"../compose.yaml"}, cli.WithName("waybill"), cli.WithWorkingDirectory(".."))
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
