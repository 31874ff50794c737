package pgcluster

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Bouncer is a PgBouncer (Debian's pgbouncer package, 1.18 or later) in
// front of a PostgreSQL server on 127.0.0.1, in transaction pooling: the
// topology Waybill runs in with DB_PGBOUNCER=true. Start one with
// StartBouncer and stop it with Stop.
type Bouncer struct {
	Port int    // its port of 127.0.0.1
	Dir  string // its configuration, log and pid file
}

// StartBouncer starts PgBouncer in dir (which it creates) on a free port
// of 127.0.0.1, forwarding every database to the server on
// 127.0.0.1:serverPort, with poolSize server connections per database and
// user, trust authentication for the user postgres (also its admin
// console user), and waits until it accepts connections. As root it runs
// PgBouncer as postgres (or nobody), which refuses to run as root; that
// user must be able to reach dir.
func StartBouncer(dir string, serverPort, poolSize int) (*Bouncer, error) {
	bin, err := exec.LookPath("pgbouncer")
	if err != nil {
		for _, p := range []string{"/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"} {
			if executable(p) {
				bin, err = p, nil
			}
		}
	}
	if err != nil {
		return nil, errors.New("pgbouncer is not installed (Debian: apt-get install pgbouncer)")
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	b := &Bouncer{Port: port, Dir: dir}
	conf := fmt.Sprintf(`[databases]
* = host=127.0.0.1 port=%d

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = trust
auth_file = %s
admin_users = postgres
stats_users = postgres
pool_mode = transaction
default_pool_size = %d
max_client_conn = 500
logfile = %s
pidfile = %s
`, serverPort, port, filepath.Join(dir, "userlist.txt"), poolSize, filepath.Join(dir, "pgbouncer.log"), b.pidFile())
	files := map[string]string{"pgbouncer.ini": conf, "userlist.txt": `"postgres" ""` + "\n"}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			return nil, err
		}
	}
	argv := []string{bin, "-d", filepath.Join(dir, "pgbouncer.ini")}
	if os.Geteuid() == 0 {
		u, err := unprivileged()
		if err != nil {
			return nil, err
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
		argv = append([]string{"runuser", "-u", u.Username, "--"}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = "/"
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("pgbouncer: %s (%w)\n%s", strings.TrimSpace(string(out)), err, tail(filepath.Join(dir, "pgbouncer.log"), 10))
	}
	// -d returns once the daemon forked; wait until it listens.
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			conn.Close()
			return b, nil
		}
		if time.Now().After(deadline) {
			stopErr := b.Stop()
			return nil, errors.Join(fmt.Errorf("pgbouncer did not listen on port %d within 30 s:\n%s", port,
				tail(filepath.Join(dir, "pgbouncer.log"), 10)), stopErr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// unprivileged returns the user to run a server as when the caller is
// root: postgres if it exists, else nobody.
func unprivileged() (*user.User, error) {
	for _, name := range []string{"postgres", "nobody"} {
		if u, err := user.Lookup(name); err == nil {
			return u, nil
		}
	}
	return nil, errors.New("running as root, and there is neither a postgres nor a nobody user to run a server as")
}

func (b *Bouncer) pidFile() string { return filepath.Join(b.Dir, "pgbouncer.pid") }

// URL is the URL of database name through the bouncer, as postgres.
func (b *Bouncer) URL(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", b.Port, name)
}

// AdminURL is the URL of the bouncer's admin console (SHOW POOLS, SHOW
// CONFIG); it speaks only the simple query protocol.
func (b *Bouncer) AdminURL() string { return b.URL("pgbouncer") }

// Stop ends the bouncer at once (SIGTERM: its connections are closed) and
// waits until its process has ended. It does nothing if it is not running.
func (b *Bouncer) Stop() error {
	raw, err := os.ReadFile(b.pidFile())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		return fmt.Errorf("%s: %w", b.pidFile(), err)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return waitEnded(pid, time.Minute)
}
