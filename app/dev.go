package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/sirupsen/logrus"

	"github.com/waybill/waybill/config"
	"github.com/waybill/waybill/migrations"
	"github.com/waybill/waybill/models"
	"github.com/waybill/waybill/pgcluster"
)

const devUsage = `Usage: waybill dev

Runs Waybill locally with no setup. The database is the first of:

  1. DATABASE_URL, if it is set and answers within 3 seconds;
  2. a throwaway PostgreSQL cluster in ./.data/postgres, started with the
     machine's initdb and pg_ctl (as root, as the postgres user) on a free
     port of 127.0.0.1; it is kept for the next run and stopped on exit;
  3. the db service of compose.yaml (docker compose up -d db), if a Docker
     engine answers.

Then it applies the migrations, loads a small demo data set if there are
no shipments, creates an API key with write scope, prints the key, the
URL, the web console's URL (/console/, where the key is pasted) and the
DATABASE_URL that other commands (apikey, seed, monitor) can
use meanwhile, and serves on HTTP_ADDR (default 127.0.0.1:8080) until
Ctrl-C.`

// composeURL is the db service of compose.yaml as seen from the host.
const composeURL = "postgres://postgres:postgres@127.0.0.1:5432/waybill?sslmode=disable"

// errNoDatabase names every way waybill dev can get a database.
var errNoDatabase = errors.New("no PostgreSQL available; any one of these works: " +
	"set DATABASE_URL to a reachable server, " +
	"install the PostgreSQL server binaries (initdb and pg_ctl, e.g. apt install postgresql), " +
	"or start a Docker engine (dev then runs docker compose up -d db)")

// devDB is the database waybill dev uses: its URL, a description for
// the user, and how to stop it if dev started it.
type devDB struct {
	url   string
	where string
	stop  func() error
}

// runDev is `waybill dev`: find or start a database, prepare it, serve.
func runDev(ctx context.Context, e env, args []string) (err error) {
	if err := parseNoArgs("dev", devUsage, args, e); err != nil {
		return err
	}
	cfg, err := config.Load(e.getenv)
	if err != nil {
		return err
	}
	if e.getenv("LOG_FORMAT") == "" {
		cfg.LogFormat = "text" // a person reads these logs, not a collector
	}
	if e.getenv("DRAIN_DELAY") == "" {
		cfg.DrainDelay = 0 // no load balancer to tell: Ctrl-C stops at once
	}
	log := newLogger(cfg, e.stderr)

	db, err := devDatabase(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, db.stop()) }()
	cfg.DatabaseURL = db.url

	key, example, err := prepareDevDatabase(ctx, cfg, log)
	if err != nil {
		return err
	}
	return serve(ctx, cfg, log, func(addr string) {
		printDevBanner(e.stdout, addr, key, example, db)
	})
}

// devDatabase returns the first database of the usage text that is
// available, starting it if need be.
func devDatabase(ctx context.Context, cfg config.Config, log *logrus.Logger) (devDB, error) {
	if cfg.DatabaseURL != "" {
		err := pingDatabase(ctx, cfg)
		if err == nil {
			return devDB{url: cfg.DatabaseURL, where: "DATABASE_URL", stop: func() error { return nil }}, nil
		}
		log.WithField("error", err.Error()).Warn("DATABASE_URL does not answer; looking for a local PostgreSQL instead")
	}
	if bin, ok := pgcluster.Find(); ok {
		return startCluster(ctx, bin, log)
	}
	if dockerRunning(ctx) {
		return startCompose(ctx, cfg, log)
	}
	return devDB{}, errNoDatabase
}

// pingDatabase reports whether cfg.DatabaseURL answers within 3 seconds.
func pingDatabase(ctx context.Context, cfg config.Config) error {
	store, err := openStore(cfg.DatabaseURL, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	return store.Ping(ctx, 3*time.Second)
}

// prepareDevDatabase applies the migrations, loads the demo data into an
// empty database and creates a write-scoped API key named "dev". It
// returns the key and a shipment id for the example request (uuid.Nil if
// there is none).
func prepareDevDatabase(ctx context.Context, cfg config.Config, log *logrus.Logger) (string, uuid.UUID, error) {
	store, err := openStore(cfg.DatabaseURL, cfg)
	if err != nil {
		return "", uuid.Nil, err
	}
	defer store.Close()

	p, err := migrations.NewProvider(store.DB(), cfg.DBPgBouncer)
	if err != nil {
		return "", uuid.Nil, err
	}
	applied, err := p.Up(ctx)
	if err != nil {
		return "", uuid.Nil, fmt.Errorf("migrate up: %w", migrationError(err))
	}
	if len(applied) > 0 {
		log.WithField("migrations", len(applied)).Info("applied the pending migrations")
	}

	n, err := store.SeedDemo(ctx)
	if err != nil {
		return "", uuid.Nil, err
	}
	if n > 0 {
		log.WithField("shipments", n).Info("loaded the demo data set")
	}
	_, key, err := store.CreateAPIKey(ctx, "dev", models.ScopeWrite)
	if err != nil {
		return "", uuid.Nil, err
	}
	id, err := store.DemoShipmentID(ctx)
	if err != nil && !errors.Is(err, models.ErrNotFound) {
		return "", uuid.Nil, err
	}
	return key, id, nil
}

// printDevBanner tells the user where the service is, how to call it, and
// how to run other commands (apikey, seed, monitor) on its database.
func printDevBanner(w io.Writer, addr, key string, example uuid.UUID, db devDB) {
	url := "http://" + browsable(addr)
	path := "/v1/shipments/" + example.String()
	// A database dev started has a URL the user has not seen (the
	// cluster's port changes each run); one from DATABASE_URL is the
	// user's own, and its password stays off the screen.
	otherCommands := "DATABASE_URL=" + shellQuote(db.url) + " go run . apikey create --name me"
	if db.where == "DATABASE_URL" {
		otherCommands = "go run . apikey create --name me   (with the same DATABASE_URL, " + config.MaskURL(db.url) + ")"
	}
	fmt.Fprintf(w, `
Waybill is running in dev mode.

  URL       %s
  Console   %s/console/   (paste the API key there; it is never in a URL)
  API docs  %s/docs
  API key   %s   (scope write; a new one each run)
  Database  %s   (%s)

  Try it:
    curl -H 'Authorization: Bearer %s' %s%s

  Other commands work on the same database while dev runs, e.g. in another terminal:
    %s

Press Ctrl-C to stop.

`, url, url, url, key, config.MaskURL(db.url), db.where, key, url, path, otherCommands)
}

// shellQuote quotes s as one word for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// browsable returns addr with an unspecified host (":8080",
// "0.0.0.0:8080") replaced by localhost, so the printed URL works.
func browsable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// cluster is the PostgreSQL cluster that waybill dev runs in
// ./.data/postgres, with its server log in ./.data/postgres.log.
type cluster struct {
	*pgcluster.Cluster
	pidFile string // the process id of the waybill dev using the cluster
}

// startCluster creates the cluster unless an earlier run did, starts it on
// a free port of 127.0.0.1 and waits until it accepts connections.
func startCluster(ctx context.Context, bin string, log *logrus.Logger) (devDB, error) {
	c, err := newCluster(bin)
	if err != nil {
		return devDB{}, err
	}
	if err := c.lock(); err != nil {
		return devDB{}, err
	}
	port, err := c.startServer(ctx, log)
	if err != nil {
		// pg_ctl may have given up (or been interrupted) while the server
		// still came up: make sure none is left behind.
		return devDB{}, errors.Join(err, c.Stop(), c.unlock())
	}
	stop := func() error {
		err := errors.Join(c.Stop(), c.unlock())
		if err == nil {
			log.Info("stopped the local PostgreSQL cluster")
		}
		return err
	}
	return devDB{
		url:   pgcluster.URL(port),
		where: "local cluster in ./.data/postgres, server log ./.data/postgres.log",
		stop:  stop,
	}, nil
}

// startServer prepares the cluster and starts its server on a free port,
// which it returns.
func (c *cluster) startServer(ctx context.Context, log *logrus.Logger) (int, error) {
	if err := c.prepare(ctx, log); err != nil {
		return 0, err
	}
	port, err := pgcluster.FreePort()
	if err != nil {
		return 0, err
	}
	log.WithFields(logrus.Fields{"dir": c.Dir, "port": port, "log": c.LogFile}).Info("starting a local PostgreSQL cluster")
	return port, c.Start(port)
}

// newCluster locates ./.data/postgres with the programs in bin.
func newCluster(bin string) (*cluster, error) {
	data, err := filepath.Abs(".data")
	if err != nil {
		return nil, err
	}
	pg, err := pgcluster.New(bin, filepath.Join(data, "postgres"), filepath.Join(data, "postgres.log"))
	if err != nil {
		return nil, err
	}
	return &cluster{Cluster: pg, pidFile: filepath.Join(data, "dev.pid")}, nil
}

// lock records this process in .data/dev.pid. It fails if another
// waybill dev that is still running did so, since starting would stop
// that one's server.
func (c *cluster) lock() error {
	if err := os.MkdirAll(filepath.Dir(c.pidFile), 0o755); err != nil {
		return err
	}
	if b, err := os.ReadFile(c.pidFile); err == nil {
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err == nil && pid != os.Getpid() && pgcluster.ProcessExists(pid) {
			return fmt.Errorf("another waybill dev (pid %d) is using %s: stop it first (or remove %s if that process is not waybill)", pid, c.Dir, c.pidFile)
		}
	}
	return os.WriteFile(c.pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
}

// unlock removes the record that lock made.
func (c *cluster) unlock() error {
	if err := os.Remove(c.pidFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// prepare runs initdb unless an earlier run left a cluster. A server an
// earlier run left running (dev was killed) is stopped.
func (c *cluster) prepare(ctx context.Context, log *logrus.Logger) error {
	if c.Exists() {
		if c.Running() {
			log.Warn("a PostgreSQL server from an earlier dev run is still running; stopping it")
			return c.Stop()
		}
		return nil
	}
	// No cluster, or the remains of an initdb that did not finish.
	if err := os.RemoveAll(c.Dir); err != nil {
		return err
	}
	log.WithField("dir", c.Dir).Info("creating a PostgreSQL cluster for dev (once; later runs reuse it)")
	if err := c.Init(ctx); err != nil {
		var exit *exec.ExitError
		if os.Geteuid() == 0 && errors.As(err, &exit) {
			// initdb ran as another user, who most likely cannot reach
			// the directory: the error says so, this says what to do.
			return fmt.Errorf("%w: run dev from such a directory, or set DATABASE_URL", err)
		}
		return err
	}
	return nil
}

// dockerRunning reports whether a Docker engine answers.
func dockerRunning(ctx context.Context) bool {
	if _, err := exec.LookPath("docker"); err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, "docker", "info").Run() == nil
}

// startCompose starts compose.yaml's db service and waits until it
// answers.
func startCompose(ctx context.Context, cfg config.Config, log *logrus.Logger) (devDB, error) {
	log.Info("starting the db service of compose.yaml with docker compose")
	out, err := exec.CommandContext(ctx, "docker", "compose", "up", "-d", "--wait", "db").CombinedOutput()
	if err != nil {
		return devDB{}, fmt.Errorf("docker compose up -d db: %w: %s", err, strings.TrimSpace(string(out)))
	}
	stop := func() error {
		log.Info("stopping the db service (docker compose stop db; its volume keeps the data)")
		out, err := exec.Command("docker", "compose", "stop", "db").CombinedOutput()
		if err != nil {
			return fmt.Errorf("docker compose stop db: %w: %s", err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	cfg.DatabaseURL = composeURL
	for deadline := time.Now().Add(30 * time.Second); ; {
		err := pingDatabase(ctx, cfg)
		if err == nil {
			return devDB{url: composeURL, where: "docker compose service db", stop: stop}, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return devDB{}, errors.Join(fmt.Errorf("the compose db service does not answer: %w", err), stop())
		}
		time.Sleep(time.Second)
	}
}
