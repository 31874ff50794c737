// Package pgcluster is Waybill's one toolkit for throwaway PostgreSQL: it
// runs local clusters with the machine's initdb and pg_ctl (as an
// unprivileged user when the caller is root), and, on any server, creates,
// clones and drops databases named with the id of the process that made
// them, so that those of a process that died can be found and dropped
// (Server). testdb, waybill dev and the bench harness use it.
package pgcluster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Find returns the directory that holds the PostgreSQL server programs
// initdb and pg_ctl: initdb's on PATH, else the newest
// /usr/lib/postgresql/N/bin (Debian and Ubuntu keep them there, off PATH).
// ok is false if there is none.
func Find() (bin string, ok bool) {
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

// Cluster is a PostgreSQL cluster in a data directory of its own, run with
// the programs of one installation. Make one with New.
type Cluster struct {
	Bin     string // the directory of initdb and pg_ctl, as Find returns it
	Dir     string // the data directory, absolute
	LogFile string // the server's log, absolute

	// runAs is the unprivileged user that runs initdb and pg_ctl when the
	// caller is root (PostgreSQL refuses to run as root); nil otherwise.
	runAs *user.User
}

// New returns the cluster with data directory dir and server log logFile
// (both made absolute), run with the programs in bin. It creates nothing.
// As root, it picks the user to run PostgreSQL as: postgres if it exists,
// else nobody; that user must be able to reach dir and logFile (every
// directory above them searchable by others).
func New(bin, dir, logFile string) (*Cluster, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	logFile, err = filepath.Abs(logFile)
	if err != nil {
		return nil, err
	}
	c := &Cluster{Bin: bin, Dir: dir, LogFile: logFile}
	if os.Geteuid() != 0 {
		return c, nil
	}
	if c.runAs, err = unprivileged(); err != nil {
		return nil, err
	}
	return c, nil
}

// Exists reports whether c.Dir holds a cluster that initdb finished.
func (c *Cluster) Exists() bool {
	_, err := os.Stat(filepath.Join(c.Dir, "PG_VERSION"))
	return err == nil
}

// Init creates the cluster in c.Dir, which must not exist yet (its parent
// must): superuser postgres with trust authentication, UTF8, locale C,
// listening on 127.0.0.1 only, with its Unix socket in the data directory
// rather than /var/run/postgresql, which an unprivileged user may not
// write. Each of settings is appended to postgresql.conf as a line of its
// own, e.g. "max_connections = 23". If Init fails, it removes c.Dir.
//
// If initdb itself fails, the error wraps its *exec.ExitError.
func (c *Cluster) Init(ctx context.Context, settings ...string) (err error) {
	if err := os.Mkdir(c.Dir, 0o700); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(c.Dir)
		}
	}()
	if err := c.chown(c.Dir); err != nil {
		return err
	}
	if err := c.run(ctx, "initdb", "-D", c.Dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"); err != nil {
		if c.runAs != nil {
			err = fmt.Errorf("%w; as root, PostgreSQL runs as user %s, which must be able to reach %s "+
				"(every directory above it searchable by others)", err, c.runAs.Username, c.Dir)
		}
		return err
	}
	// The server runs in its data directory, so '.' keeps the socket path
	// short and valid wherever the cluster is.
	conf := "\n# pgcluster\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '.'\n"
	for _, s := range settings {
		conf += s + "\n"
	}
	f, err := os.OpenFile(filepath.Join(c.Dir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(conf)
	return errors.Join(err, f.Close())
}

// Start starts the server on port of 127.0.0.1, creating c.LogFile if need
// be, and waits until it accepts connections. It takes no context: an
// interrupted pg_ctl could leave a server that nobody stops. If it fails,
// the error ends with the last lines of the server's log; the server may
// still have come up, so call Stop.
func (c *Cluster) Start(port int) error {
	f, err := os.OpenFile(c.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	f.Close()
	if err := c.chown(c.LogFile); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	err = c.run(ctx, "pg_ctl", "start", "-D", c.Dir, "-l", c.LogFile, "-w", "-t", "60", "-o", "-p "+strconv.Itoa(port))
	if err != nil {
		return fmt.Errorf("%w\nlast lines of %s:\n%s", err, c.LogFile, tail(c.LogFile, 10))
	}
	return nil
}

// Running reports whether a server runs on the cluster.
func (c *Cluster) Running() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.run(ctx, "pg_ctl", "status", "-D", c.Dir) == nil
}

// Stop shuts the server down (fast: it ends open sessions) and waits until
// its postmaster has ended, for at most a minute after pg_ctl's own
// minute. It does nothing if no server is running.
func (c *Cluster) Stop() error {
	if !c.Running() {
		return nil
	}
	pid, pidErr := c.PID()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := c.run(ctx, "pg_ctl", "stop", "-D", c.Dir, "-m", "fast", "-w", "-t", "60"); err != nil {
		return err
	}
	if pidErr != nil {
		return nil
	}
	// pg_ctl returns once the postmaster removed its pid file; the process
	// ends a moment later (seconds later on a loaded machine).
	return waitEnded(pid, time.Minute)
}

// Restart restarts the running server with pg_ctl restart in mode
// ("smart", "fast" or "immediate"; immediate skips the shutdown
// checkpoint, so the start runs crash recovery) on the port and options it
// was started with, and waits until it accepts connections.
func (c *Cluster) Restart(mode string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// -l keeps the new server off pg_ctl's output, which run waits on.
	err := c.run(ctx, "pg_ctl", "restart", "-D", c.Dir, "-l", c.LogFile, "-m", mode, "-w", "-t", "60")
	if err != nil {
		return fmt.Errorf("%w\nlast lines of %s:\n%s", err, c.LogFile, tail(c.LogFile, 10))
	}
	return nil
}

// PID returns the process id of the server's postmaster, the first line
// of the data directory's postmaster.pid. The file outlives a postmaster
// that was killed, so the process may be gone.
func (c *Cluster) PID() (int, error) {
	b, err := os.ReadFile(filepath.Join(c.Dir, "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("postmaster.pid of %s: no process id on its first line", c.Dir)
	}
	return pid, nil
}

// Signal sends sig to the server's postmaster (PID): SIGTERM, SIGINT and
// SIGQUIT are PostgreSQL's smart, fast and immediate shutdowns; SIGKILL
// leaves its children to notice they are orphaned and exit, and
// postmaster.pid behind.
func (c *Cluster) Signal(sig os.Signal) error {
	pid, err := c.PID()
	if err != nil {
		return err
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Signal(sig)
}

// URL is the URL of the postgres database, as the superuser postgres, of
// a cluster started on port.
func URL(port int) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
}

// FreePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// run runs one of the PostgreSQL programs, as c.runAs if set, and returns
// its output in the error if it fails.
func (c *Cluster) run(ctx context.Context, program string, args ...string) error {
	argv := append([]string{filepath.Join(c.Bin, program)}, args...)
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

// chown gives path to c.runAs, if set.
func (c *Cluster) chown(path string) error {
	if c.runAs == nil {
		return nil
	}
	uid, _ := strconv.Atoi(c.runAs.Uid)
	gid, _ := strconv.Atoi(c.runAs.Gid)
	return os.Chown(path, uid, gid)
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
