package orders

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/luffy-edu/luffy/points"
)

func TestExpiryJobClosesUnpaidOrder(t *testing.T) {
	e := newEnv(t, Config{PendingTTL: time.Second})
	e.workJobs(t)
	u := e.user(t)
	e.grant(t, u, 100)
	o := e.create(t, u, CreateRequest{Items: []Item{e.course(t, 1000, 0)}, Points: 100})
	deadline := time.Now().Add(30 * time.Second)
	for e.status(t, o.ID) == StatusPending {
		if time.Now().After(deadline) {
			t.Fatal("the expiry job did not close the order in 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if s := e.status(t, o.ID); s != StatusExpired {
		t.Fatalf("status %s, want expired", s)
	}
	if b := e.balance(t, u); b.Available != 100 || b.Pending != 0 {
		t.Fatalf("balance %+v after expiry", b)
	}
}

func TestSweepEndsWhatRanOut(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	u := e.user(t)
	price := int64(1)
	e.grant(t, u, 10)
	c, err := e.shop.CreateCoupon(ctx, Coupon{Code: "SOON", Kind: CouponFixed, AmountFen: 100, ValidUntil: time.Now().Add(time.Hour), PointsPrice: &price})
	if err != nil {
		t.Fatal(err)
	}
	uc, err := e.shop.BuyCouponWithPoints(ctx, u, c.ID, "b")
	if err != nil {
		t.Fatal(err)
	}
	short, long := e.course(t, 1000, 0), e.course(t, 1000, 0)
	o := e.create(t, u, CreateRequest{Items: []Item{e.course(t, 1000, 0)}})
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`UPDATE coupons SET valid_from = now() - interval '2 hours', valid_until = now() - interval '1 second' WHERE id = $1`, []any{c.ID}},
		{`INSERT INTO enrollments (user_id, course_id, expires_at) VALUES ($1, $2, now() - interval '1 second'), ($1, $3, now() + interval '1 day')`, []any{u, short.CourseID, long.CourseID}},
		{`UPDATE orders SET expires_at = now() - interval '1 second' WHERE id = $1`, []any{o.ID}},
	} {
		if _, err := e.pool.Exec(ctx, q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	r, err := e.shop.sweep(ctx)
	if err != nil || r != (sweepResult{UserCoupons: 1, Enrollments: 1, Orders: 1}) {
		t.Fatalf("sweep: %+v, %v", r, err)
	}
	if got, _ := userCoupon(ctx, e.pool, u, uc.ID); got.Status != "expired" {
		t.Fatalf("user coupon %s", got.Status)
	}
	if s := e.status(t, o.ID); s != StatusExpired {
		t.Fatalf("order %s", s)
	}
	if r, err := e.shop.sweep(ctx); err != nil || r != (sweepResult{}) {
		t.Fatalf("second sweep: %+v, %v", r, err)
	}
}

// Every pending order is covered by an expiry job for its step, inserted with the order
// or ahead of it; a shop that restarts (an empty memory of committed steps) finds the
// step's job rather than adding a second.
func TestExpiryJobsCoverEveryOrderOncePerStep(t *testing.T) {
	e := newEnv(t, Config{PendingTTL: 10 * time.Second})
	ctx := context.Background()
	var placed []Order
	for i := range 12 {
		shop := e.shop
		if i%4 == 3 {
			shop = NewShop(e.pool, e.shop.enq, e.shop.cfg) // a restarted process
		}
		o, _, err := shop.Create(ctx, e.user(t), e.key(), CreateRequest{Items: []Item{e.course(t, 1000, 0)}})
		if err != nil {
			t.Fatal(err)
		}
		placed = append(placed, o)
		time.Sleep(time.Second) // the orders span several steps
	}
	steps := map[time.Time]bool{}
	for _, o := range placed {
		steps[expiryStepOf(o.ExpiresAt)] = true
		n := e.count(t, `SELECT count(*) FROM river_job WHERE kind = 'orders_expire_due'
			AND (args->>'until')::timestamptz >= $1 AND (args->>'until')::timestamptz < $1 + make_interval(secs => $2)
			AND scheduled_at = (args->>'until')::timestamptz`, o.ExpiresAt, expiryStep.Seconds())
		if n != 1 {
			t.Fatalf("order %d expiring at %s: %d jobs for its step, want 1", o.ID, o.ExpiresAt, n)
		}
	}
	if len(steps) < 2 {
		t.Fatalf("12 orders over 12 s fell in %d steps", len(steps))
	}
	// Besides the orders' own steps, each step's job inserts the next one ahead: no
	// other jobs, and none twice.
	rows, err := e.pool.Query(ctx, `SELECT (args->>'until')::timestamptz FROM river_job WHERE kind = 'orders_expire_due'`)
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
	if err != nil {
		t.Fatal(err)
	}
	seen := map[time.Time]bool{}
	for _, until := range jobs {
		until = until.UTC()
		if seen[until] {
			t.Fatalf("two jobs for the step ending %s", until)
		}
		seen[until] = true
		if !steps[until] && !steps[until.Add(-expiryStep)] {
			t.Fatalf("a job for the step ending %s, which no order falls in or follows", until)
		}
	}
	if n := e.count(t, `SELECT count(*) FROM river_job WHERE kind <> 'orders_expire_due'`); n != 0 {
		t.Fatalf("%d other jobs for pending orders", n)
	}
}

// A step's job closes what is due and nothing else, carries on past an order it cannot
// close, and says how long an order not yet due has left.
func TestExpireDueClosesWhatIsDue(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	broken, due, later := e.user(t), e.user(t), e.user(t)
	e.grant(t, broken, 100)
	ob := e.create(t, broken, CreateRequest{Items: []Item{e.course(t, 1000, 0)}, Points: 100})
	od := e.create(t, due, CreateRequest{Items: []Item{e.course(t, 1000, 0)}})
	ol := e.create(t, later, CreateRequest{Items: []Item{e.course(t, 1000, 0)}})
	e.backdate(t, ob.ID)
	e.backdate(t, od.ID)
	// The broken order's hold is posted behind its back: voiding it fails, so the
	// order cannot close.
	if _, err := e.pool.Exec(ctx, `UPDATE points_transfers SET status = 'posted' WHERE id = (SELECT points_hold_id FROM orders WHERE id = $1)`, ob.ID); err != nil {
		t.Fatal(err)
	}
	// A step's job closes its own step's orders, not older ones.
	if closed, _, err := e.shop.expireDue(ctx, time.Now().Add(-500*time.Millisecond), time.Now()); closed != 0 || err != nil {
		t.Fatalf("a step after the due orders' closed %d, %v", closed, err)
	}
	closed, dueIn, err := e.shop.expireDue(ctx, time.Time{}, time.Now())
	if err == nil || !errors.Is(err, points.ErrNotPending) {
		t.Fatalf("closing an order whose hold was posted: %v, want the error", err)
	}
	if closed != 1 || dueIn != 0 {
		t.Fatalf("closed %d (want 1), due in %v", closed, dueIn)
	}
	if s := e.status(t, od.ID); s != StatusExpired {
		t.Fatalf("the due order is %s after the broken one failed", s)
	}
	if s := e.status(t, ob.ID); s != StatusPending {
		t.Fatalf("the broken order is %s", s)
	}
	if s := e.status(t, ol.ID); s != StatusPending {
		t.Fatalf("the order not yet due is %s", s)
	}
	// A job that runs early (its clock ahead of the database's) closes nothing and waits.
	if _, err := e.pool.Exec(ctx, `UPDATE points_transfers SET status = 'pending' WHERE id = (SELECT points_hold_id FROM orders WHERE id = $1)`, ob.ID); err != nil {
		t.Fatal(err)
	}
	closed, dueIn, err = e.shop.expireDue(ctx, time.Time{}, ol.ExpiresAt.Add(time.Second))
	if err != nil || closed != 1 || dueIn < 29*time.Minute || dueIn > 31*time.Minute {
		t.Fatalf("a run before the order is due: closed %d (want the repaired one), due in %v, %v", closed, dueIn, err)
	}
	if s := e.status(t, ol.ID); s != StatusPending {
		t.Fatalf("an order not due by the database's clock is %s", s)
	}
	if err := snoozeUnlessDone(dueIn, nil); err == nil {
		t.Fatal("the job did not snooze for an order not yet due")
	}
}

// A transaction that rolls back leaves its steps to the next one; once a step's job has
// committed, no later order inserts it again.
func TestExpiryStepsAfterRollbackAndCommit(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	expires := time.Now().Add(time.Hour)
	try := func(commit bool) []time.Time {
		t.Helper()
		tx, err := e.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx) //nolint:errcheck // after Commit a no-op
		steps, err := e.shop.scheduleExpiry(ctx, tx, expires)
		if err != nil {
			t.Fatal(err)
		}
		if commit {
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		}
		e.shop.expiryScheduled(steps, commit)
		return steps
	}
	own := expiryStepOf(expires)
	if got := try(false); len(got) != 2 || !got[0].Equal(own) || !got[1].Equal(own.Add(expiryStep)) {
		t.Fatalf("first transaction inserted steps %v, want %s and the next", got, own)
	}
	if got := try(true); len(got) != 2 {
		t.Fatalf("after a rollback, the next transaction inserted steps %v, want both again", got)
	}
	if got := try(true); len(got) != 0 {
		t.Fatalf("after a commit, steps %v were inserted again", got)
	}
	if n := e.count(t, `SELECT count(*) FROM river_job WHERE kind = 'orders_expire_due'`); n != 2 {
		t.Fatalf("%d jobs, want the two steps once each", n)
	}
}

// An order whose transaction fails after it scheduled its expiry steps leaves them free:
// the next order inserts them instead of waiting on a job that never committed.
func TestFailedOrderFreesItsExpirySteps(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	u := e.user(t)
	if _, err := e.pool.Exec(ctx, `
		CREATE FUNCTION refuse_order() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused for the test'; END $$;
		CREATE TRIGGER refuse_order BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION refuse_order()`); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.shop.Create(ctx, u, e.key(), CreateRequest{Items: []Item{e.course(t, 1000, 0)}}); err == nil {
		t.Fatal("an order the database refused was created")
	}
	e.shop.expiryMu.Lock()
	for step, committed := range e.shop.expiryJobs {
		if !committed {
			t.Errorf("step %d still marked as being inserted after its transaction failed", step)
		}
	}
	e.shop.expiryMu.Unlock()
	if _, err := e.pool.Exec(ctx, `DROP TRIGGER refuse_order ON orders`); err != nil {
		t.Fatal(err)
	}
	o := e.create(t, u, CreateRequest{Items: []Item{e.course(t, 1000, 0)}})
	step := expiryStepOf(o.ExpiresAt)
	if n := e.count(t, `SELECT count(*) FROM river_job WHERE kind = 'orders_expire_due' AND (args->>'until')::timestamptz IN ($1, $2)`,
		step, step.Add(expiryStep)); n != 2 {
		t.Fatalf("%d jobs for the order's step and the next, want 2", n)
	}
}

// A gateway that reports a payment of another amount for an expiring order pays nothing:
// the trade is recorded as a mismatch and a job gives the money back, and the order
// expires, giving back its points hold, rather than staying pending (and holding them)
// through every sweep after.
func TestExpiryWithATradeOfAnotherAmount(t *testing.T) {
	var number atomic.Value
	gateway := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := number.Load().(string)
		json.NewEncoder(w).Encode(map[string]any{"event_id": "odd-" + n, "order_number": n, "trade_no": "T-odd", "amount_fen": 1, "status": "paid"})
	}))
	t.Cleanup(gateway.Close)
	e := newEnv(t, Config{GatewayURL: gateway.URL})
	ctx := context.Background()
	u := e.user(t)
	e.grant(t, u, 500)
	o := e.create(t, u, CreateRequest{Items: []Item{e.course(t, 2000, 0)}, Points: 500})
	number.Store(o.Number)
	e.backdate(t, o.ID)
	if ok, err := e.shop.Expire(ctx, o.ID); !ok || err != nil {
		t.Fatalf("expire: %v %v, want expired", ok, err)
	}
	if s := e.status(t, o.ID); s != StatusExpired {
		t.Fatalf("order is %s", s)
	}
	if n := e.count(t, `SELECT count(*) FROM payment_events WHERE order_number = $1 AND outcome = $2`, o.Number, OutcomeAmountMismatch); n != 1 {
		t.Fatalf("%d mismatch events recorded", n)
	}
	if b := e.balance(t, u); b.Available != 500 || b.Pending != 0 {
		t.Fatalf("points after expiry: %+v, want the 500 held back", b)
	}
	if n := e.count(t, `SELECT count(*) FROM river_job WHERE kind = 'order_refund_late' AND args->>'trade_no' = 'T-odd' AND args->>'reason' = 'amount'`); n != 1 {
		t.Fatalf("%d refund jobs for the trade of another amount, want 1", n)
	}
}
