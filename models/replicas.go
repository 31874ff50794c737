package models

// Read replicas. The Store routes a read to a streaming replica only when
// the read's context asks for it (ReadFromReplica: the API's list and get
// routes and the dashboard) and never inside a transaction the context
// carries; every write and every other read goes to the primary. A small
// router of its own rather than gorm.io/plugin/dbresolver: the shipment
// reads and the dashboard run on pgx and database/sql below GORM, where a
// GORM plugin does not reach, and the choice of a replica depends on its
// measured state (up, lag, replay position against a client's LSN), which
// dbresolver's policies do not see. docs/replicas.md says more.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/gorm"
)

// ReplicaPollInterval is how often WatchReplicas measures every replica.
const ReplicaPollInterval = time.Second

// replicaPollBudget bounds each measurement, and onDemandBudget the
// replay position a read asks a replica for when the cached one is older
// than the read's minimum.
const (
	replicaPollBudget = 800 * time.Millisecond
	onDemandBudget    = 250 * time.Millisecond
)

// LSN is a position in PostgreSQL's write-ahead log, written as the server
// writes a pg_lsn: two hexadecimal halves, "16/B374D848".
type LSN uint64

// ErrBadLSN is ParseLSN's error.
var ErrBadLSN = errors.New("not a WAL position such as 0/16B3748")

// ParseLSN parses an LSN written as the server writes one.
func ParseLSN(s string) (LSN, error) {
	hi, lo, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok || hi == "" || lo == "" || len(hi) > 8 || len(lo) > 8 {
		return 0, ErrBadLSN
	}
	h, err1 := strconv.ParseUint(hi, 16, 32)
	l, err2 := strconv.ParseUint(lo, 16, 32)
	if err1 != nil || err2 != nil {
		return 0, ErrBadLSN
	}
	return LSN(h<<32 | l), nil
}

func (l LSN) String() string { return fmt.Sprintf("%X/%X", uint64(l)>>32, uint32(l)) }

// Replica states, ReplicaStatus.Status.
const (
	ReplicaHealthy = "healthy" // reads go to it
	ReplicaLagging = "lagging" // reachable, but behind by more than the maximum lag
	ReplicaDown    = "down"    // unreachable, or no longer a standby
	ReplicaUnknown = "unknown" // not measured yet
)

// ReplicaStatus is what the last measurement of a replica found. Lag is
// measured against the primary: bytes are the primary's WAL position less
// the replica's replay position; seconds are 0 when it has replayed all
// the primary has written, else the time since it replayed its last
// transaction (now() - pg_last_xact_replay_timestamp()), but no more than
// the time since the measurements first found it behind: a replica of a
// primary idle for an hour is not an hour behind the moment a write
// arrives, and one that has replayed no transaction since it started has
// no timestamp at all. Both are nil when they could not be measured.
type ReplicaStatus struct {
	Index      int       `json:"index"`
	Addr       string    `json:"addr"` // host:port of its URL, never the URL
	Status     string    `json:"status"`
	Reason     string    `json:"reason,omitempty"` // why it is not healthy
	ReplayLSN  string    `json:"replay_lsn"`
	LagBytes   *int64    `json:"lag_bytes"`
	LagSeconds *float64  `json:"lag_seconds"`
	Reads      int64     `json:"reads"` // reads routed to it since start
	CheckedAt  time.Time `json:"checked_at"`
}

// replica is one read replica's pools and its last measurement.
type replica struct {
	index  int
	addr   string
	db     *gorm.DB
	pool   *sql.DB
	health *sql.DB // one connection, for measurements
	status atomic.Pointer[ReplicaStatus]
	replay atomic.Uint64 // the highest replay LSN seen
	reads  atomic.Int64

	mu          sync.Mutex // held by a measurement
	behindSince time.Time  // when measurements first found it behind; zero when caught up
	misses      int        // measurements in a row it did not answer

	// lost is closed when the replica is found down, which cancels the
	// reads running on it (ReadRoute); a fresh one is made once it is
	// healthy again.
	lostMu sync.Mutex
	lost   chan struct{}
	closed bool // lost is closed
}

// setStatus records st, and closes or renews r.lost as st says.
func (r *replica) setStatus(st *ReplicaStatus) {
	r.status.Store(st)
	r.lostMu.Lock()
	defer r.lostMu.Unlock()
	switch {
	case st.Status == ReplicaDown && !r.closed:
		close(r.lost)
		r.closed = true
	case st.Status == ReplicaHealthy && r.closed:
		r.lost, r.closed = make(chan struct{}), false
	}
}

// lostChan returns the channel that is closed when r is found down.
func (r *replica) lostChan() <-chan struct{} {
	r.lostMu.Lock()
	defer r.lostMu.Unlock()
	return r.lost
}

func (r *replica) healthy() bool { return r.status.Load().Status == ReplicaHealthy }

// seen raises the cached replay position to lsn.
func (r *replica) seen(lsn LSN) {
	for {
		old := r.replay.Load()
		if uint64(lsn) <= old || r.replay.CompareAndSwap(old, uint64(lsn)) {
			return
		}
	}
}

// replicaSet is the Store's replicas and their settings.
type replicaSet struct {
	list   []*replica
	maxLag time.Duration
	next   atomic.Uint64 // round robin
}

// OpenReplicas adds the read replicas at urls, each with a pool of o's
// sizes and a health connection of its own. Reads then go to a healthy
// replica: one that WatchReplicas (or PollReplicas) found reachable, a
// standby, and at most maxLag behind (0: no bound). Until its first
// measurement a replica is not used. Call it once, before serving.
func (s *Store) OpenReplicas(urls []string, o PoolOptions, maxLag time.Duration) error {
	set := &replicaSet{maxLag: maxLag}
	for i, u := range urls {
		cfg, err := connConfig(u, o)
		if err != nil {
			return fmt.Errorf("replica %d: %w", i, err)
		}
		pool, health, db, err := openPools(cfg, o, s.db.NamingStrategy) // the primary's namer, cached
		if err != nil {
			return fmt.Errorf("replica %d: %w", i, err)
		}
		r := &replica{index: i, addr: net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))), db: db, pool: pool, health: health,
			lost: make(chan struct{})}
		r.status.Store(&ReplicaStatus{Index: i, Addr: r.addr, Status: ReplicaUnknown, Reason: "not measured yet"})
		set.list = append(set.list, r)
	}
	s.replicas = set
	return nil
}

// HasReplicas reports whether the Store has read replicas.
func (s *Store) HasReplicas() bool { return s.replicas != nil && len(s.replicas.list) > 0 }

// ReplicaDBs returns the replicas' application pools, in the order of
// their URLs, for their statistics.
func (s *Store) ReplicaDBs() []*sql.DB {
	if !s.HasReplicas() {
		return nil
	}
	dbs := make([]*sql.DB, len(s.replicas.list))
	for i, r := range s.replicas.list {
		dbs[i] = r.pool
	}
	return dbs
}

// Replicas returns every replica's last measurement, in the order of
// their URLs.
func (s *Store) Replicas() []ReplicaStatus {
	if !s.HasReplicas() {
		return []ReplicaStatus{}
	}
	out := make([]ReplicaStatus, len(s.replicas.list))
	for i, r := range s.replicas.list {
		out[i] = *r.status.Load()
		out[i].Reads = r.reads.Load()
	}
	return out
}

// ReplicaServerConnections reads each replica's connection settings and
// current client connections on its health connection, at the same time;
// an entry is nil where the replica did not answer.
func (s *Store) ReplicaServerConnections(ctx context.Context) []*ServerConnections {
	if !s.HasReplicas() {
		return nil
	}
	out := make([]*ServerConnections, len(s.replicas.list))
	var wg sync.WaitGroup
	for i, r := range s.replicas.list {
		wg.Go(func() {
			if sc, err := ReadServerConnections(ctx, r.health); err == nil {
				out[i] = &sc
			}
		})
	}
	wg.Wait()
	return out
}

// closeReplicas closes the replicas' pools.
func (s *Store) closeReplicas() error {
	if s.replicas == nil {
		return nil
	}
	var errs []error
	for _, r := range s.replicas.list {
		errs = append(errs, r.pool.Close(), r.health.Close())
	}
	return errors.Join(errs...)
}

// WatchReplicas measures every replica every ReplicaPollInterval until
// ctx ends.
func (s *Store) WatchReplicas(ctx context.Context) {
	if !s.HasReplicas() {
		return
	}
	for {
		s.PollReplicas(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(ReplicaPollInterval):
		}
	}
}

var (
	primaryLSNStatement = statement{name: "primary WAL position", sql: `SELECT pg_current_wal_lsn()::text`}
	replicaStatement    = statement{name: "replica replay", sql: `SELECT pg_is_in_recovery() AS standby,
       coalesce(pg_last_wal_replay_lsn()::text, '') AS replay,
       extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 AS since`}
	replayStatement   = statement{name: "replica replay position", sql: `SELECT coalesce(pg_last_wal_replay_lsn()::text, '')`}
	writeLSNStatement = statement{name: "WAL insert position", sql: `SELECT pg_current_wal_insert_lsn()::text`}
)

type replayRow struct {
	Standby bool     `db:"standby"`
	Replay  string   `db:"replay"`
	Since   *float64 `db:"since"` // nil: no transaction replayed since it started
}

// PollReplicas measures every replica once, at the same time, against
// the primary's WAL position (read on the health connection).
func (s *Store) PollReplicas(ctx context.Context) {
	if !s.HasReplicas() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, replicaPollBudget)
	defer cancel()
	var primary *LSN
	if text, err := queryRow[string](ctx, s.health, primaryLSNStatement); err == nil {
		if l, err := ParseLSN(text); err == nil {
			primary = &l
		}
	}
	var wg sync.WaitGroup
	for _, r := range s.replicas.list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.setStatus(s.measure(ctx, r, primary))
		}()
	}
	wg.Wait()
}

// measure measures r against the primary's WAL position (nil: unknown).
func (s *Store) measure(ctx context.Context, r *replica, primary *LSN) *ReplicaStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, replay := measureReplica(ctx, r.health, primary, s.replicas.maxLag, &r.behindSince)
	st.Index, st.Addr = r.index, r.addr
	if st.Status == ReplicaDown && st.Reason == "unreachable" {
		// One measurement that times out on a busy machine does not take
		// a healthy replica out (and cancel its reads); two in a row do. A
		// replica that refuses connections is taken out at once by the
		// first read that fails.
		r.misses++
		if prev := r.status.Load(); r.misses < 2 && prev.Status == ReplicaHealthy {
			return prev
		}
	} else {
		r.misses = 0
	}
	if replay != nil {
		r.seen(*replay)
	}
	return &st
}

// measureReplica measures the replica on db against the primary's WAL
// position (nil: unknown) and maxLag (0: no bound), and returns its replay
// position if it read one. behindSince is when earlier measurements first
// found it behind, which it updates; nil when there are none to keep (the
// lag in seconds is then unknown for a replica that has replayed no
// transaction since it started).
func measureReplica(ctx context.Context, db querier, primary *LSN, maxLag time.Duration, behindSince *time.Time) (ReplicaStatus, *LSN) {
	st := ReplicaStatus{CheckedAt: time.Now().UTC()}
	row, err := queryRow[replayRow](ctx, db, replicaStatement)
	switch {
	case err != nil:
		st.Status, st.Reason = ReplicaDown, "unreachable"
		return st, nil
	case !row.Standby:
		st.Status, st.Reason = ReplicaDown, "not a standby (promoted?)"
		return st, nil
	}
	replay, err := ParseLSN(row.Replay)
	if err != nil {
		st.Status, st.Reason = ReplicaDown, "no replay position"
		return st, nil
	}
	st.ReplayLSN = replay.String()
	st.Status = ReplicaHealthy
	if primary == nil {
		// The primary did not answer: nothing to measure the lag against,
		// and reads are better served by a standby than refused.
		return st, &replay
	}
	bytes := max(int64(*primary)-int64(replay), 0)
	st.LagBytes = &bytes
	var seconds *float64
	switch {
	case bytes == 0:
		seconds = new(0.0)
		if behindSince != nil {
			*behindSince = time.Time{}
		}
	case behindSince != nil:
		if behindSince.IsZero() {
			*behindSince = st.CheckedAt
		}
		behind := st.CheckedAt.Sub(*behindSince).Seconds()
		if row.Since != nil {
			behind = min(behind, *row.Since)
		}
		seconds = &behind
	case row.Since != nil:
		seconds = row.Since
	}
	if seconds != nil {
		st.LagSeconds = new(math.Round(max(*seconds, 0)*1000) / 1000)
	}
	if maxLag > 0 && st.LagSeconds != nil && *st.LagSeconds > maxLag.Seconds() {
		seconds := *st.LagSeconds
		st.Status = ReplicaLagging
		st.Reason = fmt.Sprintf("%.1f s behind, over the maximum of %s", seconds, maxLag)
	}
	return st, &replay
}

// ReadReplica measures the replica at url, on a connection of its own, as
// the Store measures its replicas: against the WAL position of the primary
// on primary, and maxLag (0: no bound), but once, without the history of
// earlier measurements: its lag in seconds is unknown (nil) while it has
// replayed no transaction since it started. Addr is its host:port; Index
// is left 0.
func ReadReplica(ctx context.Context, primary *sql.DB, url string, maxLag time.Duration) ReplicaStatus {
	var at *LSN
	if text, err := queryRow[string](ctx, primary, primaryLSNStatement); err == nil {
		if l, err := ParseLSN(text); err == nil {
			at = &l
		}
	}
	cfg, err := connConfig(url, PoolOptions{})
	if err != nil {
		return ReplicaStatus{Status: ReplicaDown, Reason: "invalid URL", CheckedAt: time.Now().UTC()}
	}
	cfg.RuntimeParams["application_name"] = "waybill-monitor"
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	db.SetMaxOpenConns(1)
	st, _ := measureReplica(ctx, db, at, maxLag, nil)
	st.Addr = net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	return st
}

// replicaFailed marks r down after a read on it failed to reach it; the
// next measurement decides again.
func (s *Store) replicaFailed(r *replica) {
	st := *r.status.Load()
	st.Status, st.Reason, st.CheckedAt = ReplicaDown, "a read could not reach it", time.Now().UTC()
	r.setStatus(&st)
}

// WriteLSN returns the primary's current WAL insert position. Read after
// a write's COMMIT, it is at or after the commit: a replica that has
// replayed up to it shows the write.
func (s *Store) WriteLSN(ctx context.Context) (LSN, error) {
	text, err := queryRow[string](ctx, s.pool, writeLSNStatement)
	if err != nil {
		return 0, classify(err)
	}
	return ParseLSN(text)
}

// ReadRoute is where one request's reads go; see ReadFromReplica.
type ReadRoute struct {
	min    LSN
	ctx    context.Context
	cancel context.CancelCauseFunc
	once   sync.Once
	target *replica
}

// errReplicaLost cancels the reads of a replica found down while they run.
var errReplicaLost = errors.New("the replica was found down")

// Done ends the route: call it once the request's reads are over.
func (rr *ReadRoute) Done() { rr.cancel(nil) }

// Lost reports whether the reads were cancelled because their replica was
// found down while they ran (it stopped answering): they are worth running
// again on the primary.
func (rr *ReadRoute) Lost() bool { return errors.Is(context.Cause(rr.ctx), errReplicaLost) }

// Replica returns the index of the replica the reads went to, and false
// when they went to the primary (or no read was made).
func (rr *ReadRoute) Replica() (int, bool) {
	if rr.target == nil {
		return 0, false
	}
	return rr.target.index, true
}

type readRouteKey struct{}

// ReadFromReplica returns ctx with which the Store's reads may go to a
// replica: a healthy one whose replay position is at least min (0: any),
// chosen at the first read and kept for the others, so that one request
// sees one snapshot's source; the primary if there is none. Without it,
// and inside a transaction, every read goes to the primary. If the replica
// is found down while the reads run (a hung server answers nothing, and
// only a measurement notices), the returned context is cancelled and
// ReadRoute.Lost says so. Call ReadRoute.Done when the reads are over.
func ReadFromReplica(ctx context.Context, min LSN) (context.Context, *ReadRoute) {
	ctx, cancel := context.WithCancelCause(ctx)
	rr := &ReadRoute{min: min, ctx: ctx, cancel: cancel}
	return context.WithValue(ctx, readRouteKey{}, rr), rr
}

// ReplicaFailed tells the Store that the reads of route failed because
// their replica could not be reached: it is not used again until a
// measurement finds it healthy. The caller retries on the primary.
func (s *Store) ReplicaFailed(route *ReadRoute) {
	if route != nil && route.target != nil {
		s.replicaFailed(route.target)
	}
}

// RecoveryConflict reports whether err is a standby's cancelling a read
// that conflicted with the WAL it replays (a vacuumed row version the read
// still needed, a lock, a dropped database): the replica is fine, the read
// is worth running again on the primary.
func RecoveryConflict(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "57P04") &&
		strings.Contains(pgErr.Message, "recovery")
}

// reader returns the replica ctx's reads go to, or nil for the primary.
func (s *Store) reader(ctx context.Context) *replica {
	if s.replicas == nil {
		return nil
	}
	rr, ok := ctx.Value(readRouteKey{}).(*ReadRoute)
	if !ok {
		return nil
	}
	if _, inTx := ctx.Value(txKey{}).(*gorm.DB); inTx {
		return nil
	}
	rr.once.Do(func() {
		rr.target = s.pick(ctx, rr.min)
		if rr.target == nil {
			return
		}
		rr.target.reads.Add(1)
		lost := rr.target.lostChan()
		go func() {
			select {
			case <-lost:
				rr.cancel(errReplicaLost)
			case <-rr.ctx.Done():
			}
		}()
	})
	return rr.target
}

// readPool returns the pool of ctx's reads (see reader) and the index of
// its replica, -1 for the primary.
func (s *Store) readPool(ctx context.Context) (*sql.DB, int) {
	if r := s.reader(ctx); r != nil {
		return r.pool, r.index
	}
	return s.pool, -1
}

// pick returns a healthy replica that has replayed min, in turn; nil if
// there is none. A replica whose cached position is short of min is asked
// for its position now (one round trip, only for a read that carries a
// minimum its cache does not meet).
func (s *Store) pick(ctx context.Context, min LSN) *replica {
	list := s.replicas.list
	n := uint64(len(list))
	if n == 0 {
		return nil
	}
	start := s.replicas.next.Add(1)
	for k := range n {
		r := list[(start+k)%n]
		if r.healthy() && LSN(r.replay.Load()) >= min {
			return r
		}
	}
	if min == 0 {
		return nil
	}
	for k := range n {
		r := list[(start+k)%n]
		if !r.healthy() {
			continue
		}
		qctx, cancel := context.WithTimeout(ctx, onDemandBudget)
		text, err := queryRow[string](qctx, r.pool, replayStatement)
		cancel()
		if err != nil {
			continue
		}
		if l, err := ParseLSN(text); err == nil {
			r.seen(l)
			if l >= min {
				return r
			}
		}
	}
	return nil
}
