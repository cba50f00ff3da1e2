// Package features holds the platform's runtime switches: judge submissions, new orders,
// video playback and homework uploads can each be turned off across all origins without
// a restart. The switches live in Postgres (feature_switches); an origin loads them at
// start and reloads them when Postgres notifies a change (channel feature_switches) and
// every few seconds besides, so a missed notification costs seconds, not correctness.
package features

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Name is a switch.
type Name string

// The switches.
const (
	Judge           Name = "judge"            // new judge submissions
	Orders          Name = "orders"           // new orders (payments of placed orders still arrive)
	Playback        Name = "playback"         // new playback sessions and key requests
	HomeworkUploads Name = "homework_uploads" // homework submissions
)

// All lists every switch, in a fixed order.
var All = []Name{Judge, Orders, Playback, HomeworkUploads}

// Channel is the Postgres NOTIFY channel a change of a switch is announced on.
const Channel = "feature_switches"

// ErrUnknown is a switch name that is not one of All.
var ErrUnknown = errors.New("no such feature switch")

// Switch is one switch as stored.
type Switch struct {
	Name      Name      `json:"name"`
	Enabled   bool      `json:"enabled"`
	Reason    string    `json:"reason"`
	UpdatedBy string    `json:"updated_by"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Switches is one process's view of the switches. Until the first Reload every switch
// is on: a database that cannot be read must not switch the site off.
type Switches struct {
	pool  *pgxpool.Pool
	state map[Name]*atomic.Bool
}

// New returns the switches stored in pool's database, all on until Reload.
func New(pool *pgxpool.Pool) *Switches {
	s := &Switches{pool: pool, state: make(map[Name]*atomic.Bool, len(All))}
	for _, n := range All {
		b := &atomic.Bool{}
		b.Store(true)
		s.state[n] = b
	}
	return s
}

// Known reports whether n is a switch.
func Known(n Name) bool {
	for _, k := range All {
		if k == n {
			return true
		}
	}
	return false
}

// Enabled reports whether n is on; unknown names are on.
func (s *Switches) Enabled(n Name) bool {
	b, ok := s.state[n]
	return !ok || b.Load()
}

// Reload reads every switch from the database.
func (s *Switches) Reload(ctx context.Context) error {
	list, err := s.List(ctx)
	if err != nil {
		return err
	}
	for _, sw := range list {
		if b, ok := s.state[sw.Name]; ok {
			b.Store(sw.Enabled)
		}
	}
	return nil
}

// List reads every switch from the database.
func (s *Switches) List(ctx context.Context) ([]Switch, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, enabled, reason, created_by_name, updated_at FROM feature_switches
		WHERE deleted_at IS NULL ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("read feature switches: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Switch, error) {
		var sw Switch
		err := r.Scan(&sw.Name, &sw.Enabled, &sw.Reason, &sw.UpdatedBy, &sw.UpdatedAt)
		return sw, err
	})
	if err != nil {
		return nil, fmt.Errorf("read feature switches: %w", err)
	}
	return list, nil
}

// Set turns a switch on or off, saying why and who; every process watching reloads.
// This process's view changes at once.
func (s *Switches) Set(ctx context.Context, n Name, enabled bool, reason, by string) (Switch, error) {
	if !Known(n) {
		return Switch{}, fmt.Errorf("%w: %q", ErrUnknown, n)
	}
	var sw Switch
	err := s.pool.QueryRow(ctx, `UPDATE feature_switches SET enabled = $2, reason = $3, created_by_name = $4
		WHERE name = $1 AND deleted_at IS NULL RETURNING name, enabled, reason, created_by_name, updated_at`,
		n, enabled, reason, by).Scan(&sw.Name, &sw.Enabled, &sw.Reason, &sw.UpdatedBy, &sw.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Switch{}, fmt.Errorf("%w: %q is not in the database (migrate it)", ErrUnknown, n)
	}
	if err != nil {
		return Switch{}, fmt.Errorf("set feature switch %s: %w", n, err)
	}
	s.state[n].Store(enabled)
	return sw, nil
}
