package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func getenv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestDefaults(t *testing.T) {
	c, err := Load(getenv(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.DatabaseURL != "" || c.HTTPAddr != "127.0.0.1:8080" || c.DBMaxOpenConns != 16 || c.DBMaxIdleConns != 16 ||
		c.AppInstances != 1 || c.BodyLimit != 1<<20 || c.RequestTimeout != 10*time.Second || c.LogFormat != "json" ||
		c.AuthCacheTTL != 5*time.Second || c.AuthFailureRPS != 20 || c.DrainDelay != 5*time.Second || c.ShutdownTimeout != 15*time.Second {
		t.Errorf("defaults = %+v", c)
	}
}

func TestValid(t *testing.T) {
	c, err := Load(getenv(map[string]string{
		"DATABASE_URL":          "postgres://app:s3cret@db:5432/waybill?sslmode=disable",
		"DATABASE_REPLICA_URLS": "postgres://r1/waybill, postgres://r2/waybill",
		"DB_MAX_OPEN_CONNS":     "8",
		"DB_MAX_IDLE_CONNS":     "4",
		"DB_PGBOUNCER":          "true",
		"REQUEST_TIMEOUT":       "2s",
		"DRAIN_DELAY":           "0",
		"LOG_FORMAT":            "TEXT",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.DBMaxOpenConns != 8 || c.DBMaxIdleConns != 4 || !c.DBPgBouncer || c.RequestTimeout != 2*time.Second ||
		c.DrainDelay != 0 || len(c.DatabaseReplicaURLs) != 2 || c.LogFormat != "text" {
		t.Errorf("config = %+v", c)
	}
}

func TestInvalid(t *testing.T) {
	tests := []struct {
		env     map[string]string
		wantVar string
	}{
		{map[string]string{"DATABASE_URL": "postgres://app:s3cret@db:notaport/x"}, "DATABASE_URL"},
		{map[string]string{"DATABASE_URL": "mysql://app:s3cret@db/x"}, "DATABASE_URL"},
		{map[string]string{"DATABASE_REPLICA_URLS": "postgres://ok/x,postgres://app:s3cret@db:bad/x"}, "DATABASE_REPLICA_URLS"},
		{map[string]string{"DB_MAX_OPEN_CONNS": "-1"}, "DB_MAX_OPEN_CONNS"},
		{map[string]string{"DB_MAX_OPEN_CONNS": "ten"}, "DB_MAX_OPEN_CONNS"},
		{map[string]string{"DB_MAX_OPEN_CONNS": "4", "DB_MAX_IDLE_CONNS": "5"}, "DB_MAX_IDLE_CONNS"},
		{map[string]string{"DB_CONN_MAX_LIFETIME": "forever"}, "DB_CONN_MAX_LIFETIME"},
		{map[string]string{"DB_CONNECT_TIMEOUT": "0s"}, "DB_CONNECT_TIMEOUT"},
		{map[string]string{"DB_PGBOUNCER": "maybe"}, "DB_PGBOUNCER"},
		{map[string]string{"APP_INSTANCES": "0"}, "APP_INSTANCES"},
		{map[string]string{"HTTP_ADDR": "8080"}, "HTTP_ADDR"},
		{map[string]string{"PPROF_ADDR": "localhost"}, "PPROF_ADDR"},
		{map[string]string{"REQUEST_TIMEOUT": "-1s"}, "REQUEST_TIMEOUT"},
		{map[string]string{"BODY_LIMIT": "1MB"}, "BODY_LIMIT"},
		{map[string]string{"RATE_LIMIT_RPS": "-3"}, "RATE_LIMIT_RPS"},
		{map[string]string{"AUTH_CACHE_TTL": "-1s"}, "AUTH_CACHE_TTL"},
		{map[string]string{"AUTH_FAILURE_RPS": "-1"}, "AUTH_FAILURE_RPS"},
		{map[string]string{"DRAIN_DELAY": "-1s"}, "DRAIN_DELAY"},
		{map[string]string{"DRAIN_DELAY": "5"}, "DRAIN_DELAY"},
		{map[string]string{"LOG_LEVEL": "loud"}, "LOG_LEVEL"},
		{map[string]string{"LOG_FORMAT": "xml"}, "LOG_FORMAT"},
	}
	for _, tt := range tests {
		_, err := Load(getenv(tt.env))
		var cerr *Error
		if !errors.As(err, &cerr) {
			t.Errorf("%v: err = %v, want a *config.Error", tt.env, err)
			continue
		}
		if cerr.Var != tt.wantVar {
			t.Errorf("%v: names %s, want %s", tt.env, cerr.Var, tt.wantVar)
		}
		msg := err.Error()
		if strings.Contains(msg, "s3cret") || strings.Contains(msg, "\n") {
			t.Errorf("%v: message %q leaks the password or is not one line", tt.env, msg)
		}
	}
}

func TestMaskURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://app:s3cret@db:5432/w?sslmode=disable", "postgres://app:xxxxx@db:5432/w?sslmode=disable"},
		{"postgres://app@db/w?password=s3cret", "postgres://app@db/w?password=xxxxx"},
		{"host=db user=app password=s3cret dbname=w", "host=db user=app password=xxxxx dbname=w"},
		{"postgres://app:s3cret@db:bad/w", "postgres://…"},
		{"postgres://db/w", "postgres://db/w"},
	}
	for _, tt := range tests {
		if got := MaskURL(tt.in); got != tt.want {
			t.Errorf("MaskURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCORSOrigins(t *testing.T) {
	c, err := Load(getenv(nil))
	if err != nil || c.CORSOrigins != nil {
		t.Fatalf("default CORSOrigins = %v, %v; want none (CORS closed)", c.CORSOrigins, err)
	}
	c, err = Load(getenv(map[string]string{"CORS_ORIGINS": " https://ops.example.com, http://localhost:5173,,https://ops.example.com "}))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"https://ops.example.com", "http://localhost:5173"}; !slices.Equal(c.CORSOrigins, want) {
		t.Errorf("CORSOrigins = %q, want %q (trimmed, empty items and repeats dropped)", c.CORSOrigins, want)
	}
	for _, bad := range []string{
		"*", "https://*.example.com", "ops.example.com", "ftp://ops.example.com", "https://ops.example.com/",
		"https://ops.example.com/console", "https://ops.example.com?x=1", "https://user@ops.example.com",
		"https://Ops.Example.com", "https://ops.example.com:443", "http://ops.example.com:80",
		"https://ops.example.com:99999", "null", ",", "https://ok.example.com, https://bad.example.com/",
	} {
		_, err := Load(getenv(map[string]string{"CORS_ORIGINS": bad}))
		var cerr *Error
		if !errors.As(err, &cerr) || cerr.Var != "CORS_ORIGINS" {
			t.Errorf("CORS_ORIGINS=%q: err = %v, want a CORS_ORIGINS error", bad, err)
		}
	}
}
