package pgcluster

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"github.com/jackc/pgx/v5"
)

// BaseBackup makes c a streaming replica of the server on
// 127.0.0.1:primaryPort: pg_basebackup (of c.Bin, as c's user) copies the
// primary's cluster into c.Dir, which must not exist yet (its parent
// must), streaming the WAL it needs (-X stream), and writes the standby
// configuration (-R: standby.signal and primary_conninfo), so that Start
// runs the copy as a hot standby that keeps replaying the primary's WAL.
// The primary must accept replication connections from the user postgres,
// as a cluster of Init does. If BaseBackup fails, it removes c.Dir.
func (c *Cluster) BaseBackup(ctx context.Context, primaryPort int) (err error) {
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
	return c.run(ctx, "pg_basebackup", "-h", "127.0.0.1", "-p", strconv.Itoa(primaryPort), "-U", "postgres",
		"-D", c.Dir, "-R", "-X", "stream", "-c", "fast", "--no-sync")
}

// PauseReplay pauses the replay of WAL on the standby at rawURL
// (pg_wal_replay_pause): it keeps receiving the primary's WAL, and its
// data stays as it was, so its lag grows with every write on the primary.
func PauseReplay(ctx context.Context, rawURL string) error {
	return onStandby(ctx, rawURL, "SELECT pg_wal_replay_pause()")
}

// ResumeReplay resumes the replay that PauseReplay paused.
func ResumeReplay(ctx context.Context, rawURL string) error {
	return onStandby(ctx, rawURL, "SELECT pg_wal_replay_resume()")
}

func onStandby(ctx context.Context, rawURL, sql string) error {
	conn, err := pgx.Connect(ctx, rawURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	return nil
}
