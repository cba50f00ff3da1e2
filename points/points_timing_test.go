package points

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/luffy-edu/luffy/storage/pgtest"
)

// BenchmarkSpend spends 1 point at a time from many users in parallel, through the pool.
// The users are distinct, so the only shared row is the spent account's: the result is
// the ceiling that row puts on spends across the whole system.
func BenchmarkSpend(b *testing.B) {
	db := pgtest.New(b)
	const perProc = 4
	b.SetParallelism(perProc)
	n := perProc * runtime.GOMAXPROCS(0)
	// Users straight into the table: hashing n passwords through accounts would take
	// seconds and measure nothing here.
	rows, err := db.Pool.Query(ctx, `
		INSERT INTO users (username, password_hash, invite_code)
		SELECT 'bench' || g, 'x', 'bench' || g FROM generate_series(1, $1) g RETURNING id`, n)
	if err != nil {
		b.Fatal(err)
	}
	var users []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			b.Fatal(err)
		}
		users = append(users, id)
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	for _, u := range users {
		grant(b, db.Pool, u, 1<<40)
	}

	var next, seq atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		u := users[next.Add(1)-1]
		for pb.Next() {
			if _, err := Spend(ctx, db.Pool, u, 1, fmt.Sprint("bench:", seq.Add(1)), "bench", ""); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	wantBalanced(b, db.Pool)
}
