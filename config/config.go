// Package config loads and validates Waybill's configuration from the
// environment. It holds no globals: Load returns a value that the caller
// passes on.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Config is Waybill's whole configuration. The zero value is not useful;
// build one with Load. Defaults and their reasons are in docs/configuration.md.
type Config struct {
	// DatabaseURL is the primary's connection string; empty means "no
	// database": the server starts degraded.
	DatabaseURL         string
	DatabaseReplicaURLs []string
	// ReplicaMaxLag is how far behind the primary (seconds since its last
	// replayed transaction) a replica may be and still serve reads; 0 is
	// no bound.
	ReplicaMaxLag time.Duration
	// MigrateDatabaseURL is where waybill migrate connects, if not
	// DatabaseURL: the primary itself when the service goes through
	// PgBouncer.
	MigrateDatabaseURL string

	DBMaxOpenConns     int
	DBMaxIdleConns     int
	DBConnMaxLifetime  time.Duration
	DBConnMaxIdleTime  time.Duration
	DBConnectTimeout   time.Duration
	DBStatementTimeout time.Duration
	DBPgBouncer        bool
	// PgBouncerAdminURL is PgBouncer's admin console, for the capacity
	// plan, /health and waybill monitor; "" when there is none.
	PgBouncerAdminURL string
	AppInstances      int

	HTTPAddr        string
	PprofAddr       string
	RequestTimeout  time.Duration
	DrainDelay      time.Duration
	ShutdownTimeout time.Duration
	BodyLimit       int64
	RateLimitRPS    float64
	AuthCacheTTL    time.Duration
	AuthFailureRPS  float64
	// CORSOrigins are the exact origins (scheme://host[:port]) whose pages
	// may call /v1 from a browser; none: CORS stays closed.
	CORSOrigins []string

	LogLevel  string
	LogFormat string
	// WebhookSecrets are the secrets a carrier webhook may be signed with
	// (WEBHOOK_SECRET, comma-separated: several while one is rotated);
	// none turns webhooks off.
	WebhookSecrets []string

	// ActivityRetention is how long the audit trail keeps a row; 0 keeps
	// every row.
	ActivityRetention time.Duration
}

// Error is a configuration problem: the variable and what is wrong with it.
// Its message never contains a password.
type Error struct {
	Var     string
	Problem string
}

func (e *Error) Error() string { return fmt.Sprintf("invalid configuration: %s: %s", e.Var, e.Problem) }

// Load reads every variable through getenv (os.Getenv in production, a map
// in tests), applies defaults and validates. It returns a *Error for the
// first invalid variable.
func Load(getenv func(string) string) (Config, error) {
	p := parser{getenv: getenv}
	c := Config{
		DatabaseURL:         p.databaseURL("DATABASE_URL"),
		DatabaseReplicaURLs: p.databaseURLs("DATABASE_REPLICA_URLS"),
		ReplicaMaxLag:       p.duration("REPLICA_MAX_LAG", 10*time.Second, 0),
		MigrateDatabaseURL:  p.databaseURL("MIGRATE_DATABASE_URL"),
		DBMaxOpenConns:      p.int("DB_MAX_OPEN_CONNS", 16, 1, 10000),
		DBConnMaxLifetime:   p.duration("DB_CONN_MAX_LIFETIME", 30*time.Minute, 0),
		DBConnMaxIdleTime:   p.duration("DB_CONN_MAX_IDLE_TIME", 5*time.Minute, 0),
		DBConnectTimeout:    p.duration("DB_CONNECT_TIMEOUT", 5*time.Second, time.Millisecond),
		DBStatementTimeout:  p.duration("DB_STATEMENT_TIMEOUT", 30*time.Second, 0),
		DBPgBouncer:         p.bool("DB_PGBOUNCER", false),
		PgBouncerAdminURL:   p.databaseURL("PGBOUNCER_ADMIN_URL"),
		AppInstances:        p.int("APP_INSTANCES", 1, 1, 10000),
		HTTPAddr:            p.addr("HTTP_ADDR", "127.0.0.1:8080"),
		PprofAddr:           p.addr("PPROF_ADDR", ""),
		RequestTimeout:      p.duration("REQUEST_TIMEOUT", 10*time.Second, time.Millisecond),
		DrainDelay:          p.duration("DRAIN_DELAY", 5*time.Second, 0),
		ShutdownTimeout:     p.duration("SHUTDOWN_TIMEOUT", 15*time.Second, time.Millisecond),
		BodyLimit:           int64(p.int("BODY_LIMIT", 1<<20, 1, 1<<30)),
		RateLimitRPS:        p.float("RATE_LIMIT_RPS", 0),
		AuthCacheTTL:        p.duration("AUTH_CACHE_TTL", 5*time.Second, 0),
		AuthFailureRPS:      p.float("AUTH_FAILURE_RPS", 20),
		CORSOrigins:         p.origins("CORS_ORIGINS"),
		LogLevel:            p.oneOf("LOG_LEVEL", "info", "trace", "debug", "info", "warn", "warning", "error"),
		LogFormat:           p.oneOf("LOG_FORMAT", "json", "json", "text"),
		WebhookSecrets:      p.secrets("WEBHOOK_SECRET"),
		ActivityRetention:   p.days("ACTIVITY_RETENTION", 90*24*time.Hour),
	}
	// The idle pool defaults to the open maximum: Go's default of 2 idle
	// connections makes a busy pool close and redial on every burst.
	c.DBMaxIdleConns = p.int("DB_MAX_IDLE_CONNS", c.DBMaxOpenConns, 0, 10000)
	if p.err == nil && c.DBMaxIdleConns > c.DBMaxOpenConns {
		p.fail("DB_MAX_IDLE_CONNS", fmt.Sprintf("%d is more than DB_MAX_OPEN_CONNS (%d)", c.DBMaxIdleConns, c.DBMaxOpenConns))
	}
	if p.err != nil {
		return Config{}, p.err
	}
	return c, nil
}

// parser accumulates the first error so Load reads as a list of variables.
type parser struct {
	getenv func(string) string
	err    error
}

func (p *parser) fail(name, problem string) {
	if p.err == nil {
		p.err = &Error{Var: name, Problem: problem}
	}
}

// lookup returns the trimmed value and whether it was set at all.
func (p *parser) lookup(name string) (string, bool) {
	v := strings.TrimSpace(p.getenv(name))
	return v, v != ""
}

func (p *parser) int(name string, def, min, max int) int {
	v, ok := p.lookup(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	switch {
	case err != nil:
		p.fail(name, fmt.Sprintf("%q is not an integer", v))
	case n < min || n > max:
		p.fail(name, fmt.Sprintf("%d is out of range [%d, %d]", n, min, max))
	}
	return n
}

func (p *parser) float(name string, def float64) float64 {
	v, ok := p.lookup(name)
	if !ok {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 {
		p.fail(name, fmt.Sprintf("%q is not a non-negative number", v))
	}
	return f
}

func (p *parser) duration(name string, def, min time.Duration) time.Duration {
	v, ok := p.lookup(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		p.fail(name, fmt.Sprintf("%q is not a duration (e.g. 500ms, 30s, 5m)", v))
	case d < min:
		p.fail(name, fmt.Sprintf("%s is below the minimum %s", d, min))
	}
	return d
}

// days reads a duration that may also be given in whole days ("90d"),
// never negative; 0 is allowed.
func (p *parser) days(name string, def time.Duration) time.Duration {
	v, ok := p.lookup(name)
	if !ok {
		return def
	}
	if n, isDays := strings.CutSuffix(v, "d"); isDays {
		d, err := strconv.Atoi(n)
		if err != nil || d < 0 || d > 100*365 {
			p.fail(name, fmt.Sprintf("%q is not a number of days from 0 to 36500 (e.g. 90d) or a duration (e.g. 2160h)", v))
		}
		return time.Duration(d) * 24 * time.Hour
	}
	return p.duration(name, def, 0)
}

// origins reads a comma-separated list of exact origins, as a browser
// sends them in its Origin header: http or https, a host, a port only if
// not the scheme's default, lower case, no path (not even "/"), no query,
// no user and no wildcard; a browser's Origin never matches anything else.
func (p *parser) origins(name string) []string {
	v, ok := p.lookup(name)
	if !ok {
		return nil
	}
	var out []string
	for _, o := range strings.Split(v, ",") {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		if problem := checkOrigin(o); problem != "" {
			p.fail(name, fmt.Sprintf("%q %s", o, problem))
			return nil
		}
		if !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	if len(out) == 0 {
		p.fail(name, "lists no origin")
	}
	return out
}

// checkOrigin says what keeps o from being an exact origin, or "".
func checkOrigin(o string) string {
	u, err := url.Parse(o)
	switch {
	case err != nil || u.Opaque != "" || u.Host == "":
		return "is not an origin such as https://app.example.com"
	case strings.Contains(o, "*"):
		return "has a wildcard: list each origin"
	case u.Scheme != "http" && u.Scheme != "https":
		return "must be http or https"
	case u.User != nil, u.Path != "", u.RawQuery != "", u.Fragment != "", strings.HasSuffix(o, "?"), strings.HasSuffix(o, "#"):
		return "must be scheme://host[:port] alone, without a path (not even a final /), query or user"
	case strings.ToLower(o) != o:
		return "must be in lower case, as browsers send it"
	case u.Port() == "80" && u.Scheme == "http", u.Port() == "443" && u.Scheme == "https":
		return "names the scheme's default port, which browsers leave out: remove it"
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "has an invalid port"
		}
	}
	return ""
}

func (p *parser) bool(name string, def bool) bool {
	v, ok := p.lookup(name)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.fail(name, fmt.Sprintf("%q is not a boolean (true or false)", v))
	}
	return b
}

func (p *parser) oneOf(name, def string, allowed ...string) string {
	v, ok := p.lookup(name)
	if !ok {
		return def
	}
	v = strings.ToLower(v)
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	p.fail(name, fmt.Sprintf("%q is not one of %s", v, strings.Join(allowed, ", ")))
	return def
}

func (p *parser) addr(name, def string) string {
	v, ok := p.lookup(name)
	if !ok {
		return def
	}
	if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
		p.fail(name, fmt.Sprintf("%q is not host:port", v))
	}
	return v
}

func (p *parser) databaseURL(name string) string {
	v, ok := p.lookup(name)
	if !ok {
		return ""
	}
	if err := CheckDatabaseURL(v); err != nil {
		p.fail(name, fmt.Sprintf("%s (%s)", err, MaskURL(v)))
	}
	return v
}

func (p *parser) databaseURLs(name string) []string {
	v, ok := p.lookup(name)
	if !ok {
		return nil
	}
	var urls []string
	for _, u := range strings.Split(v, ",") {
		u = strings.TrimSpace(u)
		if u == "" {
			continue
		}
		if err := CheckDatabaseURL(u); err != nil {
			p.fail(name, fmt.Sprintf("%s (%s)", err, MaskURL(u)))
		}
		urls = append(urls, u)
	}
	return urls
}

// secrets reads a comma-separated list of secrets, each trimmed, empty
// ones dropped. Any length is accepted: the carrier's dashboard, not
// Waybill, chooses them.
func (p *parser) secrets(name string) []string {
	v, ok := p.lookup(name)
	if !ok {
		return nil
	}
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// CheckDatabaseURL reports whether s is a connection string PostgreSQL's
// driver accepts. Its error never repeats the string, which may hold a
// password.
func CheckDatabaseURL(s string) error {
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil {
			return errors.New("malformed URL")
		}
		if u.Scheme != "postgres" && u.Scheme != "postgresql" {
			return fmt.Errorf("scheme %q is not postgres:// or postgresql://", u.Scheme)
		}
	}
	if _, err := pgx.ParseConfig(s); err != nil {
		return errors.New("not a valid PostgreSQL connection string")
	}
	return nil
}

// MaskURL returns s with any password replaced by "xxxxx", for logs and
// error messages. Keyword/value strings (host=… password=…) are masked too.
func MaskURL(s string) string {
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil {
			// Unparseable: keep only the scheme, the rest may hold a secret.
			scheme, _, _ := strings.Cut(s, "://")
			return scheme + "://…"
		}
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		q := u.Query()
		if q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
		return u.String()
	}
	fields := strings.Fields(s)
	for i, f := range fields {
		if k, _, ok := strings.Cut(f, "="); ok && strings.EqualFold(k, "password") {
			fields[i] = k + "=xxxxx"
		}
	}
	return strings.Join(fields, " ")
}
