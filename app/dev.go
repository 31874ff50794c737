package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/sirupsen/logrus"

	"github.com/waybill/waybill/config"
	"github.com/waybill/waybill/migrations"
	"github.com/waybill/waybill/models"
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
no shipments, creates an API key with write scope, prints the key and the
URL, and serves on HTTP_ADDR (default 127.0.0.1:8080) until Ctrl-C.`

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
	if bin, ok := findPostgres(); ok {
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

// printDevBanner tells the user where the service is and how to call it.
func printDevBanner(w io.Writer, addr, key string, example uuid.UUID, db devDB) {
	url := "http://" + browsable(addr)
	path := "/v1/shipments/" + example.String()
	fmt.Fprintf(w, `
Waybill is running in dev mode.

  URL       %s
  API key   %s   (scope write; a new one each run)
  Database  %s   (%s)

  Try it:
    curl -H 'Authorization: Bearer %s' %s%s

Press Ctrl-C to stop.

`, url, key, config.MaskURL(db.url), db.where, key, url, path)
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

// findPostgres returns the directory that holds the PostgreSQL server
// programs initdb and pg_ctl: initdb's on PATH, else the newest
// /usr/lib/postgresql/N/bin (Debian and Ubuntu keep them there, off PATH).
// ok is false if there is none.
func findPostgres() (dir string, ok bool) {
	var dirs []string
	if p, err := exec.LookPath("initdb"); err == nil {
		// pg_ctl must come from the same installation, which a symlink
		// on PATH (/usr/local/bin/initdb) does not tell.
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		dirs = append(dirs, filepath.Dir(p))
	}
	versioned, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(versioned, func(a, b string) int { return cmp.Compare(pgVersion(b), pgVersion(a)) })
	for _, d := range append(dirs, versioned...) {
		if executable(filepath.Join(d, "initdb")) && executable(filepath.Join(d, "pg_ctl")) {
			return d, true
		}
	}
	return "", false
}

// pgVersion returns N of /usr/lib/postgresql/N/bin (9.6, 15, ...).
func pgVersion(bin string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(bin)), 64)
	return v
}

func executable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// cluster is the PostgreSQL cluster that waybill dev runs in
// ./.data/postgres with the programs in bin.
type cluster struct {
	bin     string
	dir     string // the data directory, absolute
	logFile string // the server's log
	pidFile string // the process id of the waybill dev using the cluster
	// runAs is the unprivileged user that runs initdb and pg_ctl when dev
	// runs as root (PostgreSQL refuses to run as root); "" otherwise.
	runAs *user.User
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
		return devDB{}, errors.Join(err, c.stop(), c.unlock())
	}
	stop := func() error {
		err := errors.Join(c.stop(), c.unlock())
		if err == nil {
			log.Info("stopped the local PostgreSQL cluster")
		}
		return err
	}
	return devDB{
		url:   fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port),
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
	port, err := freePort()
	if err != nil {
		return 0, err
	}
	log.WithFields(logrus.Fields{"dir": c.dir, "port": port, "log": c.logFile}).Info("starting a local PostgreSQL cluster")
	return port, c.start(port)
}

// newCluster locates ./.data/postgres and, as root, picks the user to run
// PostgreSQL as: postgres if it exists, else nobody.
func newCluster(bin string) (*cluster, error) {
	data, err := filepath.Abs(".data")
	if err != nil {
		return nil, err
	}
	c := &cluster{
		bin:     bin,
		dir:     filepath.Join(data, "postgres"),
		logFile: filepath.Join(data, "postgres.log"),
		pidFile: filepath.Join(data, "dev.pid"),
	}
	if os.Geteuid() != 0 {
		return c, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		if u, err := user.Lookup(name); err == nil {
			c.runAs = u
			return c, nil
		}
	}
	return nil, errors.New("running as root, and there is neither a postgres nor a nobody user to run PostgreSQL as")
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
		if err == nil && pid != os.Getpid() && alive(pid) {
			return fmt.Errorf("another waybill dev (pid %d) is using %s: stop it first (or remove %s if that process is not waybill)", pid, c.dir, c.pidFile)
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

// alive reports whether a process with that id exists.
func alive(pid int) bool {
	p, err := os.FindProcess(pid)
	return err == nil && p.Signal(syscall.Signal(0)) == nil
}

// prepare creates the data directory and log file, owned by the user that
// runs PostgreSQL, and runs initdb unless an earlier run left a cluster. A
// server an earlier run left running (dev was killed) is stopped.
func (c *cluster) prepare(ctx context.Context, log *logrus.Logger) error {
	if _, err := os.Stat(filepath.Join(c.dir, "PG_VERSION")); err == nil {
		if c.running() {
			log.Warn("a PostgreSQL server from an earlier dev run is still running; stopping it")
			if err := c.stop(); err != nil {
				return err
			}
		}
		return c.chown(c.logFile, true)
	}
	// No cluster, or the remains of an initdb that did not finish.
	if err := os.RemoveAll(c.dir); err != nil {
		return err
	}
	if err := os.Mkdir(c.dir, 0o700); err != nil {
		return err
	}
	if err := c.chown(c.dir, false); err != nil {
		return err
	}
	if err := c.chown(c.logFile, true); err != nil {
		return err
	}
	log.WithField("dir", c.dir).Info("creating a PostgreSQL cluster for dev (once; later runs reuse it)")
	if err := c.initdb(ctx); err != nil {
		os.RemoveAll(c.dir)
		return err
	}
	return nil
}

// initdb creates the cluster: superuser postgres with trust
// authentication, listening on 127.0.0.1 only, with its Unix socket in
// the data directory rather than /var/run/postgresql, which an
// unprivileged user may not write.
func (c *cluster) initdb(ctx context.Context) error {
	if err := c.run(ctx, "initdb", "-D", c.dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"); err != nil {
		if c.runAs != nil {
			err = fmt.Errorf("%w; as root, dev runs PostgreSQL as user %s, which must be able to reach %s "+
				"(every directory above it searchable by others): run dev from such a directory, or set DATABASE_URL",
				err, c.runAs.Username, c.dir)
		}
		return err
	}
	// The server runs in its data directory, so '.' keeps the socket path
	// short and valid wherever the project is.
	settings := "\n# waybill dev\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '.'\n"
	f, err := os.OpenFile(filepath.Join(c.dir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(settings)
	return errors.Join(err, f.Close())
}

// start starts the server on port and waits until it accepts
// connections. It is not cancelled with dev's context: an interrupted
// pg_ctl could leave a server that nobody stops.
func (c *cluster) start(port int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	err := c.run(ctx, "pg_ctl", "start", "-D", c.dir, "-l", c.logFile, "-w", "-t", "60", "-o", "-p "+strconv.Itoa(port))
	if err != nil {
		return fmt.Errorf("%w\nlast lines of %s:\n%s", err, c.logFile, tail(c.logFile, 10))
	}
	return nil
}

// running reports whether a server runs on the cluster.
func (c *cluster) running() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.run(ctx, "pg_ctl", "status", "-D", c.dir) == nil
}

// stop shuts the server down (fast: it ends open sessions) and waits until
// it is gone. It does nothing if no server is running.
func (c *cluster) stop() error {
	if !c.running() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	return c.run(ctx, "pg_ctl", "stop", "-D", c.dir, "-m", "fast", "-w", "-t", "60")
}

// run runs one of the PostgreSQL programs, as c.runAs if set, and returns
// its output in the error if it fails.
func (c *cluster) run(ctx context.Context, program string, args ...string) error {
	argv := append([]string{filepath.Join(c.bin, program)}, args...)
	if c.runAs != nil {
		if runuser, err := exec.LookPath("runuser"); err == nil {
			argv = append([]string{runuser, "-u", c.runAs.Username, "--"}, argv...)
		} else {
			argv = []string{"su", "-s", "/bin/sh", c.runAs.Username, "-c", shellJoin(argv)}
		}
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	// The unprivileged user may not be allowed into the working directory.
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %s (%w)", program, brief(program, out), err)
	}
	return nil
}

// brief returns what a PostgreSQL program's output says went wrong: its
// lines that start with its name ("initdb: error: ..."), else its last
// line.
func brief(program string, out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var said []string
	for _, l := range lines {
		if rest, ok := strings.CutPrefix(l, program+": "); ok {
			said = append(said, rest)
		}
	}
	if len(said) == 0 {
		said = lines[len(lines)-1:]
	}
	return strings.Join(said, "; ")
}

// chown gives path to c.runAs, creating it first as an empty file if
// file is true and it does not exist. Without runAs it only creates.
func (c *cluster) chown(path string, file bool) error {
	if file {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		f.Close()
	}
	if c.runAs == nil {
		return nil
	}
	uid, _ := strconv.Atoi(c.runAs.Uid)
	gid, _ := strconv.Atoi(c.runAs.Gid)
	return os.Chown(path, uid, gid)
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// tail returns the last n lines of the file at path, or a note that it
// cannot be read.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// shellJoin quotes argv for sh -c.
func shellJoin(argv []string) string {
	quoted := make([]string, len(argv))
	for i, a := range argv {
		quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(quoted, " ")
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
