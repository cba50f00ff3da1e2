package storage_test

import (
	"context"
	"testing"
	"time"

	"github.com/luffy-edu/luffy/storage"
	"github.com/luffy-edu/luffy/storage/pgtest"
)

func TestReadSplitFollowsTheReplica(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	rurl, conn := db.Replica(t)
	replica, err := storage.OpenReplica(rurl, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(replica.Close)

	// The bound is wide enough for a replica that replays the other test packages'
	// migrations while this test runs (they run in parallel against the same primary):
	// the first check can find it a few hundred milliseconds behind.
	const maxLag = 2 * time.Second
	split := storage.NewReadSplit(db.Pool, replica, maxLag)
	if split.Reader() != db.Pool {
		t.Fatal("reads went to the replica before it was checked")
	}
	// This test's own database was just created and migrated on the primary; once the
	// replica has replayed that, it is caught up and must be used.
	var target string
	if err := db.Pool.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&target); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var replayed bool
		if err := conn.QueryRow(ctx, `SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn`, target).Scan(&replayed); err != nil {
			t.Fatal(err)
		}
		if replayed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the replica did not replay this test's migrations within 10 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	split.Check(ctx)
	if !split.UsingReplica() || split.Reader() != replica {
		t.Fatalf("a caught-up replica is not used (lag %v, bound %v)", split.Lag(), maxLag)
	}
	var inRecovery bool
	if err := split.Reader().QueryRow(ctx, `SELECT pg_is_in_recovery()`).Scan(&inRecovery); err != nil || !inRecovery {
		t.Fatalf("the reader is not the replica: in recovery %t, %v", inRecovery, err)
	}

	// A change the origin hears of keeps reads on the primary until the replica has had
	// time to replay it.
	split.Changed()
	if split.UsingReplica() {
		t.Fatal("reads went to the replica right after a change")
	}
	deadline = time.Now().Add(5 * time.Second)
	for !split.UsingReplica() {
		if time.Now().After(deadline) {
			t.Fatal("reads did not return to the replica after a change")
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Replay paused: the replica falls behind the bound and reads go to the primary;
	// resumed, they come back.
	if _, err := conn.Exec(ctx, `SELECT pg_wal_replay_pause()`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Exec(context.Background(), `SELECT pg_wal_replay_resume()`) })
	if _, err := db.Pool.Exec(ctx, `CREATE TABLE lagging (id int); INSERT INTO lagging VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(maxLag + 10*time.Second)
	for split.UsingReplica() {
		if time.Now().After(deadline) {
			t.Fatalf("reads stayed on a replica whose replay is paused (lag %v)", split.Lag())
		}
		time.Sleep(100 * time.Millisecond)
		split.Check(ctx)
	}
	if split.Reader() != db.Pool {
		t.Fatal("a lagging replica still serves reads")
	}
	if _, err := conn.Exec(ctx, `SELECT pg_wal_replay_resume()`); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for !split.UsingReplica() {
		if time.Now().After(deadline) {
			t.Fatalf("reads did not return to the resumed replica (lag %v)", split.Lag())
		}
		time.Sleep(100 * time.Millisecond)
		split.Check(ctx)
	}
	var n int
	if err := split.Reader().QueryRow(ctx, `SELECT count(*) FROM lagging`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("the replica after catching up: %d rows, %v", n, err)
	}
}

func TestReadSplitWithTheReplicaDown(t *testing.T) {
	db := pgtest.New(t)
	down, err := storage.OpenReplica("postgres://luffy@127.0.0.1:1/luffy?sslmode=disable", 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(down.Close)
	split := storage.NewReadSplit(db.Pool, down, time.Second)
	split.Check(context.Background())
	if split.UsingReplica() || split.Reader() != db.Pool || split.Lag() != -1 {
		t.Fatalf("a replica that is down: using it %t, lag %v", split.UsingReplica(), split.Lag())
	}
	if storage.NewReadSplit(db.Pool, nil, 0).Reader() != db.Pool {
		t.Fatal("without a replica, reads do not go to the primary")
	}
}
