package storage

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultReplicaURL is the streaming replica of the local cluster that `make stack` starts.
const DefaultReplicaURL = "postgres://luffy@127.0.0.1:55433/luffy?sslmode=disable"

// ReadSplit sends reads that tolerate a little staleness (the public catalog) to a read
// replica while it is up and close behind the primary, and everything else, or all reads
// when the replica is down or lagging past MaxLag, to the primary.
//
// A replica behind the primary must not refill a cache that a change just invalidated
// with the old rows, so for a while after each change the origin sees (Changed), reads go
// to the primary: for the replica's last measured lag plus a second.
type ReadSplit struct {
	primary, replica *pgxpool.Pool
	maxLag           time.Duration
	every            time.Duration

	lag        atomic.Int64 // nanoseconds, as last measured; -1 when the check failed
	lastChange atomic.Int64 // unix nanoseconds of the last Changed
	now        func() time.Time
}

// NewReadSplit returns a ReadSplit over the primary pool and the replica pool (nil: no
// replica, every read goes to the primary). It trusts the replica only after Run's first
// check.
func NewReadSplit(primary, replica *pgxpool.Pool, maxLag time.Duration) *ReadSplit {
	if maxLag <= 0 {
		maxLag = 10 * time.Second
	}
	r := &ReadSplit{primary: primary, replica: replica, maxLag: maxLag, every: time.Second, now: time.Now}
	r.lag.Store(-1)
	return r
}

// Reader is the pool a catalog read should use now.
func (r *ReadSplit) Reader() *pgxpool.Pool {
	if r.UsingReplica() {
		return r.replica
	}
	return r.primary
}

// UsingReplica reports whether reads go to the replica now.
func (r *ReadSplit) UsingReplica() bool {
	lag := r.lag.Load()
	if r.replica == nil || !r.usable(lag) {
		return false
	}
	since := r.now().UnixNano() - r.lastChange.Load()
	return since > lag+int64(time.Second)
}

// usable says whether a replica at lag (nanoseconds; -1: unreachable) may serve reads.
func (r *ReadSplit) usable(lag int64) bool { return lag >= 0 && lag <= int64(r.maxLag) }

// Lag is the replica's replay lag as last measured; -1 without a replica or when the
// last check failed.
func (r *ReadSplit) Lag() time.Duration {
	if r.replica == nil {
		return -1
	}
	return time.Duration(r.lag.Load())
}

// Changed notes that the primary just changed something reads may cache.
func (r *ReadSplit) Changed() { r.lastChange.Store(r.now().UnixNano()) }

// Run checks the replica every second until ctx ends. A check that fails, or that finds
// the replica more than MaxLag behind, sends reads to the primary until a check passes.
func (r *ReadSplit) Run(ctx context.Context) {
	if r.replica == nil {
		return
	}
	t := time.NewTicker(r.every)
	defer t.Stop()
	for {
		r.Check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Check measures the replica's lag once and decides whether reads may use it. The lag is
// zero while the replica has replayed everything it received (an idle primary sends
// nothing, which is not lag), and otherwise the age of the last transaction it replayed.
// A server that is not in recovery (a primary given as the replica) has no lag.
func (r *ReadSplit) Check(ctx context.Context) {
	if r.replica == nil {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var lagSeconds float64
	err := r.replica.QueryRow(cctx, `
		SELECT CASE
			WHEN NOT pg_is_in_recovery() THEN 0
			WHEN pg_last_wal_receive_lsn() IS NOT NULL AND pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
			ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 1e9)
		END::float8`).Scan(&lagSeconds)
	was := r.usable(r.lag.Load())
	if err != nil {
		r.lag.Store(-1)
		if was {
			slog.Warn("read replica unreachable; catalog reads go to the primary", "err", err)
		}
		return
	}
	lag := time.Duration(max(lagSeconds, 0) * float64(time.Second))
	r.lag.Store(int64(lag))
	ok := r.usable(int64(lag))
	switch {
	case was && !ok:
		slog.Warn("read replica lags; catalog reads go to the primary", "lag", lag, "max_lag", r.maxLag)
	case !was && ok:
		slog.Info("catalog reads go to the read replica", "lag", lag)
	}
}

// OpenReplica opens a pool on a read replica without waiting for it: a replica that is
// down must not stop the origin from starting, only keep reads on the primary.
func OpenReplica(url string, maxConns int32) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse replica url: %w", err)
	}
	if maxConns > 0 {
		pc.MaxConns = maxConns
	} else if pc.MaxConns < 16 {
		pc.MaxConns = 16
	}
	pc.MaxConnIdleTime = 5 * time.Minute
	pc.ConnConfig.ConnectTimeout = 2 * time.Second
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		return nil, fmt.Errorf("open replica pool: %w", err)
	}
	return pool, nil
}
