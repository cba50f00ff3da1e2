package origin

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/luffy-edu/luffy/accounts"
	"github.com/luffy-edu/luffy/catalog"
	"github.com/luffy-edu/luffy/storage/pgtest"
)

// TestCatalogReadsFromTheReplica: with --pg-replica-url the catalog is read from the
// local stack's streaming replica; a change is visible at once even while the replica's
// replay is paused (reads after a change go to the primary), and a replica that stays
// behind is left for the primary.
func TestCatalogReadsFromTheReplica(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	if _, err := catalog.Seed(ctx, db.Pool, 5); err != nil {
		t.Fatal(err)
	}
	if _, err := accounts.NewService(db.Pool, 0).EnsureUser(ctx, "admin", testPassword, accounts.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	rurl, replica := db.Replica(t)

	o := startOrigin(t, db, Config{PGReplicaURL: rurl, PGReplicaMaxLag: time.Second})
	deadline := time.Now().Add(10 * time.Second)
	for !o.srv.reads.UsingReplica() {
		if time.Now().After(deadline) {
			t.Fatalf("the origin does not read from the caught-up replica (lag %v)", o.srv.reads.Lag())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if m := do(t, "GET", o.base+"/metrics", "", nil); !strings.Contains(string(m.body), "luffy_pg_replica_in_use 1") {
		t.Errorf("metrics do not say the replica is in use:\n%s", grepLines(string(m.body), "luffy_pg_replica"))
	}
	list := o.base + "/api/v1/courses?limit=5"
	var page catalog.Page
	do(t, "GET", list, "", nil).json(t, &page)
	if len(page.Items) == 0 {
		t.Fatal("no courses read from the replica")
	}

	// With replay paused, the replica never sees the change; the origin must not cache
	// the old title from it.
	if _, err := replica.Exec(ctx, `SELECT pg_wal_replay_pause()`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { replica.Exec(context.Background(), `SELECT pg_wal_replay_resume()`) })
	admin := o.login(t, "admin")
	if r := do(t, "PATCH", fmt.Sprintf("%s/api/v1/admin/courses/%d", o.base, page.Items[0].ID), admin, map[string]string{"title": "Fresh from the primary"}); r.status != 200 {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	deadline = time.Now().Add(5 * time.Second)
	for {
		r := do(t, "GET", list, "", nil)
		if strings.Contains(string(r.body), "Fresh from the primary") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the change is not served within 5s: %s", r.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// and the replica, paused, falls past the 1s bound: reads stay on the primary
	deadline = time.Now().Add(10 * time.Second)
	for o.srv.reads.UsingReplica() || o.srv.reads.Lag() <= time.Second {
		if time.Now().After(deadline) {
			t.Fatalf("a paused replica is still used (lag %v)", o.srv.reads.Lag())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if m := do(t, "GET", o.base+"/metrics", "", nil); !strings.Contains(string(m.body), "luffy_pg_replica_in_use 0") {
		t.Errorf("metrics do not say the replica was left:\n%s", grepLines(string(m.body), "luffy_pg_replica"))
	}
	if r := do(t, "GET", o.base+"/api/v1/courses?limit=5&sort=new", "", nil); r.status != 200 {
		t.Errorf("catalog with the replica left: %d %s", r.status, r.body)
	}
	if _, err := replica.Exec(ctx, `SELECT pg_wal_replay_resume()`); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for !o.srv.reads.UsingReplica() {
		if time.Now().After(deadline) {
			t.Fatalf("the origin does not return to the resumed replica (lag %v)", o.srv.reads.Lag())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
