// Package migrations holds Waybill's schema history as numbered goose SQL
// files, embedded in the binary, and the goose Provider that applies them.
package migrations

import (
	"database/sql"
	"embed"
	"fmt"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed *.sql
var files embed.FS

// lockID is the advisory lock key (or table lock row) that serialises
// concurrent migrators. goose's default would work too; a project-specific
// value keeps Waybill clear of another goose user sharing the database.
const lockID int64 = 0x5761_7962_696c_6c // "Waybill"

// NewProvider returns a goose Provider over the embedded migrations.
// Concurrent runs are serialised: with a PostgreSQL session advisory lock,
// or, when pgbouncer is true (transaction pooling cannot hold a session
// lock), with goose's lock table.
func NewProvider(db *sql.DB, pgbouncer bool) (*goose.Provider, error) {
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	if pgbouncer {
		l, err := lock.NewPostgresTableLocker(lock.WithTableLockID(lockID))
		if err != nil {
			return nil, fmt.Errorf("table locker: %w", err)
		}
		opts = append(opts, goose.WithLocker(l))
	} else {
		// Retry every 2 s for up to 10 minutes: a second migrator waits for
		// the first instead of failing.
		l, err := lock.NewPostgresSessionLocker(lock.WithLockID(lockID), lock.WithLockTimeout(2, 300))
		if err != nil {
			return nil, fmt.Errorf("session locker: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(l))
	}
	return goose.NewProvider(goose.DialectPostgres, db, files, opts...)
}
