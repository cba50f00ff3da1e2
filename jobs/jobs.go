// Package jobs runs the platform's timers (unpaid-order expiry, coupon and access expiry,
// question escalation) as river jobs in Postgres. A job is inserted in the same
// transaction as the change that causes it, so a change never commits without its timer
// nor a timer without its change; each job re-checks state when it runs, so a late or
// repeated run changes nothing.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
)

// Enqueuer inserts jobs in the caller's transaction; *river.Client[pgx.Tx] is one.
type Enqueuer interface {
	InsertTx(ctx context.Context, tx pgx.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// Late is an Enqueuer whose client is set after it is made: services that insert jobs
// are built before the client, whose workers need those services.
type Late struct {
	c atomic.Pointer[river.Client[pgx.Tx]]
}

// Set gives the Late its client.
func (l *Late) Set(c *river.Client[pgx.Tx]) { l.c.Store(c) }

// ErrNoClient means a job was inserted before the client was set.
var ErrNoClient = errors.New("job client not started")

// InsertTx inserts through the client set with Set.
func (l *Late) InsertTx(ctx context.Context, tx pgx.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	c := l.c.Load()
	if c == nil {
		return nil, ErrNoClient
	}
	return c.InsertTx(ctx, tx, args, opts)
}

// Config says how many jobs run at once in this process.
type Config struct {
	Workers int `help:"Jobs (order expiry, sweeps, escalations) this process runs at once; 0 only inserts them." default:"4" env:"LUFFY_JOB_WORKERS"`
}

// NewClient makes a river client on pool. With workers and cfg.Workers > 0 it also
// works jobs (Start/Stop); periodic jobs run on one process at a time (river elects a
// leader).
func NewClient(pool *pgxpool.Pool, cfg Config, workers *river.Workers, periodic []*river.PeriodicJob) (*river.Client[pgx.Tx], error) {
	rc := &river.Config{
		Logger:       slog.Default().With("component", "jobs"),
		JobTimeout:   time.Minute,
		MaxAttempts:  10,
		PeriodicJobs: periodic,
	}
	if workers != nil && cfg.Workers > 0 {
		rc.Workers = workers
		rc.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.Workers}}
	}
	c, err := river.NewClient(riverpgxv5.New(pool), rc)
	if err != nil {
		return nil, fmt.Errorf("job client: %w", err)
	}
	return c, nil
}
