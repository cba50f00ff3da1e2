// Package pgtest gives tests a database of their own in the local Postgres that
// `make stack` starts: a fresh, migrated database per call, dropped when the test ends.
// When Postgres is not running the test fails and says what to start; it never skips.
package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/luffy-edu/luffy/storage"
)

var seq atomic.Int64

// AdminURL is the database tests connect to to create their own: $LUFFY_PG_URL, or the
// local stack's default.
func AdminURL() string {
	if u := os.Getenv("LUFFY_PG_URL"); u != "" {
		return u
	}
	return storage.DefaultPostgresURL
}

// DB is one test's private database.
type DB struct {
	URL  string
	Pool *pgxpool.Pool
}

// New creates and migrates a private database and drops it when tb ends.
func New(tb testing.TB) *DB {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		tb.Fatalf("Postgres is not reachable at %s: %v\nstart the local stack with `make stack`", AdminURL(), err)
	}
	defer admin.Close(ctx)
	name := fmt.Sprintf("luffy_test_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1e6, seq.Add(1))
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("create test database: %v", err)
	}
	cfg, err := pgx.ParseConfig(AdminURL())
	if err != nil {
		tb.Fatal(err)
	}
	url := fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Host, cfg.Port, name)
	if cfg.Password != "" {
		url = fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Password, cfg.Host, cfg.Port, name)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := pgx.Connect(ctx, AdminURL())
		if err != nil {
			tb.Errorf("drop test database: %v", err)
			return
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Errorf("drop test database: %v", err)
		}
	})
	if err := storage.Migrate(ctx, url); err != nil {
		tb.Fatalf("migrate test database: %v", err)
	}
	pool, err := storage.Connect(ctx, storage.PoolConfig{URL: url})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	return &DB{URL: url, Pool: pool}
}

// Replica connects to this database on the local stack's streaming replica
// ($LUFFY_PG_REPLICA_URL, or the stack's default), waiting up to 10 s for the replica to
// replay the database's creation, and closes the connection when tb ends. It returns the
// URL and the connection (a superuser's, which may pause and resume replay).
//
// The replica is one server for every test process, and a test may pause its replay:
// tests that use it take turns, holding a lock on the primary until they end (their own
// cleanup, resuming replay, runs first), so that one package's resume does not end
// another's pause, nor its pause stall another's wait for the replica to catch up.
func (db *DB) Replica(tb testing.TB) (string, *pgx.Conn) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	turn, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		tb.Fatalf("Postgres is not reachable at %s: %v\nstart the local stack with `make stack`", AdminURL(), err)
	}
	tb.Cleanup(func() { turn.Close(context.Background()) }) // ends the session, and its lock
	if _, err := turn.Exec(ctx, `SELECT pg_advisory_lock(hashtextextended('pgtest:replica', 0))`); err != nil {
		tb.Fatalf("wait for the replica's turn: %v", err)
	}
	base := os.Getenv("LUFFY_PG_REPLICA_URL")
	if base == "" {
		base = storage.DefaultReplicaURL
	}
	r, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("replica url: %v", err)
	}
	d, err := url.Parse(db.URL)
	if err != nil {
		tb.Fatalf("database url: %v", err)
	}
	r.Path = d.Path
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := pgx.Connect(context.Background(), r.String())
		if err == nil {
			tb.Cleanup(func() { conn.Close(context.Background()) })
			return r.String(), conn
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the read replica at %s does not serve the test database: %v\nstart the local stack (with its replica) with `make stack`", r.Redacted(), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
