package points

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/luffy-edu/luffy/storage"
	"github.com/luffy-edu/luffy/storage/pgtest"
)

func smallPool(t testing.TB, db *pgtest.DB) *pgxpool.Pool {
	t.Helper()
	pool, err := storage.Connect(ctx, storage.PoolConfig{URL: db.URL, MaxConns: 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// 1,000 spends of 1 point race for 500 points: exactly 500 win, and the balance is never
// seen below zero on the way.
func TestConcurrentSpendsNeverOverdraw(t *testing.T) {
	db := pgtest.New(t)
	pool := smallPool(t, db)
	u := newUsers(t, db, 1)[0]
	grant(t, pool, u, 500)

	watchCtx, stopWatching := context.WithCancel(ctx)
	watched := make(chan error, 1)
	go func() {
		var seen error
		for watchCtx.Err() == nil {
			b, err := BalanceOf(watchCtx, db.Pool, u)
			if err == nil && (b.Available < 0 || b.Posted < 0) {
				seen = fmt.Errorf("balance went negative: %+v", b)
			}
		}
		watched <- seen
	}()

	var ok, insufficient atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, 1000)
	for i := range 1000 {
		wg.Go(func() {
			<-start
			_, err := Spend(ctx, pool, u, 1, fmt.Sprint("spend:", i), "coupon", "")
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ErrInsufficient):
				insufficient.Add(1)
			default:
				errs <- err
			}
		})
	}
	close(start)
	wg.Wait()
	stopWatching()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := <-watched; err != nil {
		t.Error(err)
	}
	if ok.Load() != 500 || insufficient.Load() != 500 {
		t.Fatalf("%d spends succeeded and %d were refused, want 500 and 500", ok.Load(), insufficient.Load())
	}
	wantBalance(t, pool, u, Balance{})
	wantBalanced(t, pool)
}

// Racing Holds (one client id), Posts and Voids of one hold: one transfer, one outcome.
func TestConcurrentHoldPostVoid(t *testing.T) {
	db := pgtest.New(t)
	pool := smallPool(t, db)
	u := newUsers(t, db, 1)[0]
	grant(t, pool, u, 500)
	h, err := Hold(ctx, pool, u, 300, "order:1:points", "order:1")
	if err != nil {
		t.Fatal(err)
	}

	var posted, voided, notPending atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, 300)
	for i := range 300 {
		wg.Go(func() {
			<-start
			var err error
			switch i % 3 {
			case 0:
				var again Transfer
				again, err = Hold(ctx, pool, u, 300, "order:1:points", "order:1")
				if err == nil && again.ID != h.ID {
					err = fmt.Errorf("replayed Hold made transfer %d, want %d", again.ID, h.ID)
				}
			case 1:
				err = Post(ctx, pool, h.ID)
				if err == nil {
					posted.Add(1)
				}
			case 2:
				err = Void(ctx, pool, h.ID)
				if err == nil {
					voided.Add(1)
				}
			}
			if errors.Is(err, ErrNotPending) {
				notPending.Add(1)
				err = nil
			}
			if err != nil {
				errs <- err
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Whichever of Post and Void won, every later call of the same kind is a no-op
	// success and every call of the other kind is refused.
	switch {
	case posted.Load() == 100 && voided.Load() == 0 && notPending.Load() == 100:
		wantBalance(t, pool, u, Balance{Available: 200, Posted: 200})
	case voided.Load() == 100 && posted.Load() == 0 && notPending.Load() == 100:
		wantBalance(t, pool, u, Balance{Available: 500, Posted: 500})
	default:
		t.Fatalf("posted %d, voided %d, refused %d: want one outcome for all 200 calls", posted.Load(), voided.Load(), notPending.Load())
	}
	r := wantBalanced(t, pool)
	if r.Transfers != 2 {
		t.Fatalf("%d transfers, want the grant and one hold", r.Transfers)
	}
}

func TestConcurrentAwardAwardsOnce(t *testing.T) {
	db := pgtest.New(t)
	pool := smallPool(t, db)
	u := newUsers(t, db, 1)[0]
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, 50)
	for range 50 {
		wg.Go(func() {
			<-start
			// The user has no account yet, so the racers also race to create it.
			n, err := Award(ctx, pool, u, RuleHomework, "submission:42", 0)
			if err == nil && n != 20 {
				err = fmt.Errorf("Award = %d, want 20", n)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	wantBalance(t, pool, u, Balance{Available: 20, Posted: 20})
	r := wantBalanced(t, pool)
	if r.Transfers != 1 || r.Accounts != 2*SystemShards+1 {
		t.Fatalf("%d transfers and %d accounts, want 1 and %d", r.Transfers, r.Accounts, 2*SystemShards+1)
	}
}
