package models

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
)

// PgBouncer's admin console (PGBOUNCER_ADMIN_URL): its pools and the
// settings that bound them, for the capacity plan, /health and waybill
// monitor. The console speaks only the simple query protocol.

// BouncerPool is one pool of SHOW POOLS: the client and server
// connections of one database and user.
type BouncerPool struct {
	Database  string `json:"database"`
	User      string `json:"user"`
	ClActive  int    `json:"cl_active"`  // clients linked to a server connection or idle
	ClWaiting int    `json:"cl_waiting"` // clients waiting for a server connection
	SvActive  int    `json:"sv_active"`  // server connections linked to a client
	SvIdle    int    `json:"sv_idle"`    // server connections ready for a client
	SvUsed    int    `json:"sv_used"`    // idle, to be checked before reuse
	// MaxWaitSeconds is how long the oldest waiting client has waited.
	MaxWaitSeconds float64 `json:"maxwait_seconds"`
	PoolMode       string  `json:"pool_mode"`
}

// Bouncer is what PgBouncer's admin console reports: its pools, and the
// settings of SHOW CONFIG that bound the server connections it opens.
type Bouncer struct {
	Pools            []BouncerPool `json:"pools"`
	DefaultPoolSize  int           `json:"default_pool_size"`
	ReservePoolSize  int           `json:"reserve_pool_size"`
	MaxDBConnections int           `json:"max_db_connections"` // 0: no limit
	MaxClientConn    int           `json:"max_client_conn"`
}

// ServerConnectionsPerPool is how many server connections PgBouncer opens
// at most for one database and user: its pool and reserve, bounded by
// max_db_connections.
func (b Bouncer) ServerConnectionsPerPool() int {
	n := b.DefaultPoolSize + b.ReservePoolSize
	if b.MaxDBConnections > 0 {
		n = min(n, b.MaxDBConnections)
	}
	return n
}

var (
	showPools  = statement{name: "PgBouncer pools", sql: `SHOW POOLS`}
	showConfig = statement{name: "PgBouncer settings", sql: `SHOW CONFIG`}
)

// ReadBouncer asks the PgBouncer admin console at adminURL for its pools
// and settings, on a connection of its own.
func ReadBouncer(ctx context.Context, adminURL string) (Bouncer, error) {
	cfg, err := pgx.ParseConfig(adminURL)
	if err != nil {
		return Bouncer{}, errors.New("invalid PgBouncer admin URL")
	}
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return Bouncer{}, fmt.Errorf("PgBouncer admin console: %w", classify(err))
	}
	defer conn.Close(context.WithoutCancel(ctx))

	var b Bouncer
	err = bouncerRows(ctx, conn, showPools, func(row map[string]any) {
		b.Pools = append(b.Pools, BouncerPool{
			Database: bouncerText(row["database"]), User: bouncerText(row["user"]),
			ClActive: bouncerNumber(row["cl_active"]), ClWaiting: bouncerNumber(row["cl_waiting"]),
			SvActive: bouncerNumber(row["sv_active"]), SvIdle: bouncerNumber(row["sv_idle"]), SvUsed: bouncerNumber(row["sv_used"]),
			MaxWaitSeconds: float64(bouncerNumber(row["maxwait"])) + float64(bouncerNumber(row["maxwait_us"]))/1e6,
			PoolMode:       bouncerText(row["pool_mode"]),
		})
	})
	if err != nil {
		return Bouncer{}, err
	}
	settings := map[string]*int{
		"default_pool_size": &b.DefaultPoolSize, "reserve_pool_size": &b.ReservePoolSize,
		"max_db_connections": &b.MaxDBConnections, "max_client_conn": &b.MaxClientConn,
	}
	err = bouncerRows(ctx, conn, showConfig, func(row map[string]any) {
		if dst, ok := settings[bouncerText(row["key"])]; ok {
			*dst = bouncerNumber(row["value"])
		}
	})
	return b, err
}

// bouncerRows runs st on the admin console and calls each with every row,
// by column name.
func bouncerRows(ctx context.Context, conn *pgx.Conn, st statement, each func(map[string]any)) error {
	rows, err := conn.Query(ctx, st.sql)
	if err != nil {
		return fmt.Errorf("%s: %w", st.name, classify(err))
	}
	defer rows.Close()
	for rows.Next() {
		values, err := rows.Values()
		if err != nil {
			return fmt.Errorf("%s: %w", st.name, err)
		}
		row := make(map[string]any, len(values))
		for i, f := range rows.FieldDescriptions() {
			row[f.Name] = values[i]
		}
		each(row)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%s: %w", st.name, classify(err))
	}
	return nil
}

// bouncerText is a console value as a string ("" for NULL).
func bouncerText(v any) string {
	s, _ := v.(string)
	return s
}

// bouncerNumber is a console value as an int: the console sends counts as
// integers and settings as text.
func bouncerNumber(v any) int {
	switch n := v.(type) {
	case int64:
		return int(n)
	case int32:
		return int(n)
	case string:
		i, _ := strconv.Atoi(n)
		return i
	}
	return 0
}
