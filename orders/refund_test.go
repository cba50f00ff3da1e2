package orders

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/luffy-edu/luffy/paysim"
	"github.com/luffy-edu/luffy/points"
)

// payWithSim starts the simulator delivering callbacks to e's shop, and returns a
// function that pays an order through its pay URL and waits until it is paid.
func payWithSim(t *testing.T) (*env, *paysim.Server, func(o Order)) {
	t.Helper()
	var shop atomic.Pointer[Shop]
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if _, err := shop.Load().HandleCallback(r.Context(), body, r.Header.Get(paysim.SignatureHeader)); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	}))
	t.Cleanup(origin.Close)
	sim := paysim.New(paysim.Config{Listen: "127.0.0.1:0", CallbackURL: origin.URL})
	if err := sim.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Stop(context.Background()) })
	e := newEnv(t, Config{GatewayURL: "http://" + sim.Addr()})
	shop.Store(e.shop)
	return e, sim, func(o Order) {
		t.Helper()
		resp, err := http.Post(o.PayURL, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("pay %s: %s", o.Number, resp.Status)
		}
		waitFor(t, func() bool { return e.status(t, o.ID) == StatusPaid })
	}
}

func verifyLedger(t *testing.T, e *env) {
	t.Helper()
	r, err := points.Verify(context.Background(), e.pool)
	if err != nil || len(r.Problems) > 0 {
		t.Fatalf("ledger: %v %v", r.Problems, err)
	}
}

// A refund goes through the gateway once, then undoes the payment: courses revoked,
// points paid with returned, points earned taken back, buyer told.
func TestRefundUndoesThePayment(t *testing.T) {
	e, sim, pay := payWithSim(t)
	ctx := context.Background()
	u := e.user(t)
	e.grant(t, u, 1000)
	item := e.course(t, 4900, 0)
	o := e.create(t, u, CreateRequest{Items: []Item{item}, Points: 1000})
	pay(o)
	earned := points.RuleAmount(points.RulePurchase, o.AmountFen)
	if b := e.balance(t, u); b.Available != earned {
		t.Fatalf("after paying: %d points available, want the %d earned", b.Available, earned)
	}
	if ok, _ := NewEnrollments(e.pool).Active(ctx, u, item.CourseID); !ok {
		t.Fatal("no enrollment after paying")
	}

	if _, err := e.shop.Refund(ctx, o.ID+1000, "no such order"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("refund of a missing order: %v", err)
	}
	r, err := e.shop.Refund(ctx, o.ID, "asked by the buyer")
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != StatusRefunded || r.ClosedAt == nil {
		t.Fatalf("refunded order: status %s, closed %v", r.Status, r.ClosedAt)
	}
	if ok, _ := NewEnrollments(e.pool).Active(ctx, u, item.CourseID); ok {
		t.Fatal("the refunded course is still playable")
	}
	if b := e.balance(t, u); b.Available != 1000 || b.Pending != 0 {
		t.Fatalf("after the refund: %+v, want the 1000 points paid with back and the %d earned taken", b, earned)
	}
	if n := e.count(t, `SELECT count(*) FROM notifications WHERE user_id = $1 AND kind = 'refund'`, u); n != 1 {
		t.Fatalf("%d refund notices", n)
	}
	tr := gatewayTrade(t, sim, o.Number)
	if tr.Status != "refunded" || tr.RefundID == "" {
		t.Fatalf("gateway trade after the refund: %+v", tr)
	}
	if _, err := e.shop.Refund(ctx, o.ID, "again"); !errors.Is(err, ErrNotPending) {
		t.Fatalf("second refund: %v, want ErrNotPending", err)
	}
	pending := e.create(t, u, CreateRequest{Items: []Item{e.course(t, 100, 0)}})
	if _, err := e.shop.Refund(ctx, pending.ID, "unpaid"); !errors.Is(err, ErrNotPending) {
		t.Fatalf("refund of a pending order: %v, want ErrNotPending", err)
	}
	verifyLedger(t, e)
}

// Points earned and already spent cannot be taken back; the balance never goes negative.
func TestRefundAfterTheEarnedPointsWereSpent(t *testing.T) {
	e, _, pay := payWithSim(t)
	ctx := context.Background()
	u := e.user(t)
	o := e.create(t, u, CreateRequest{Items: []Item{e.course(t, 9900, 0)}})
	pay(o)
	earned := points.RuleAmount(points.RulePurchase, o.AmountFen)
	if _, err := points.Spend(ctx, e.pool, u, earned-1, "spend-all-but-one", "test", "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.shop.Refund(ctx, o.ID, "test"); err != nil {
		t.Fatal(err)
	}
	if b := e.balance(t, u); b.Available != 0 || b.Posted != 0 {
		t.Fatalf("after the refund: %+v, want the last point taken and nothing below zero", b)
	}
	verifyLedger(t, e)
}

// Eight admins refunding one order at once: one refund, one return of points.
func TestConcurrentRefundsRefundOnce(t *testing.T) {
	e, _, pay := payWithSim(t)
	ctx := context.Background()
	u := e.user(t)
	e.grant(t, u, 500)
	o := e.create(t, u, CreateRequest{Items: []Item{e.course(t, 4900, 0)}, Points: 500})
	pay(o)
	errs := all(8, func(int) error {
		_, err := e.shop.Refund(ctx, o.ID, "race")
		return err
	})
	ok, notPaid, other := countErrs(errs, ErrNotPending)
	if ok != 1 || notPaid != 7 || other != nil {
		t.Fatalf("8 concurrent refunds: %d done, %d refused as not paid, other error %v", ok, notPaid, other)
	}
	if b := e.balance(t, u); b.Available != 500 {
		t.Fatalf("after the refund: %+v, want the 500 points back once", b)
	}
	if n := e.count(t, `SELECT count(*) FROM points_transfers WHERE kind = 'refund'`); n != 2 {
		t.Fatalf("%d refund transfers, want 2 (points returned, points earned taken)", n)
	}
	verifyLedger(t, e)
}

// With the gateway down nothing changes, and a retry once it is back refunds.
func TestRefundWithTheGatewayDown(t *testing.T) {
	e, sim, pay := payWithSim(t)
	ctx := context.Background()
	u := e.user(t)
	o := e.create(t, u, CreateRequest{Items: []Item{e.course(t, 4900, 0)}})
	pay(o)
	down := NewShop(e.pool, e.shop.enq, Config{GatewayURL: "http://127.0.0.1:1"})
	if _, err := down.Refund(ctx, o.ID, "gateway down"); !errors.Is(err, ErrGateway) {
		t.Fatalf("refund with the gateway down: %v, want ErrGateway", err)
	}
	if s := e.status(t, o.ID); s != StatusPaid {
		t.Fatalf("order %s after a failed refund", s)
	}
	if _, err := e.shop.Refund(ctx, o.ID, "retry"); err != nil {
		t.Fatal(err)
	}
	if tr := gatewayTrade(t, sim, o.Number); tr.Status != "refunded" {
		t.Fatalf("gateway trade: %+v", tr)
	}
}

func gatewayTrade(t *testing.T, sim *paysim.Server, number string) paysim.Trade {
	t.Helper()
	resp, err := http.Get("http://" + sim.Addr() + "/api/trades/" + number)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr paysim.Trade
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil {
		t.Fatal(err)
	}
	return tr
}

// Money that arrives for a closed order goes back by itself: the late callback inserts a
// job that asks the gateway for the refund and tells the buyer.
func TestLatePaymentIsRefundedByItsJob(t *testing.T) {
	e, sim, _ := payWithSim(t)
	ctx := context.Background()
	e.workJobs(t)
	u := e.user(t)
	o := e.create(t, u, CreateRequest{Items: []Item{e.course(t, 4900, 0)}})
	if _, err := e.shop.Cancel(ctx, u, o.ID); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(o.PayURL, "", nil) // the buyer pays in a tab left open
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	waitFor(t, func() bool { return gatewayTrade(t, sim, o.Number).Status == "refunded" })
	waitFor(t, func() bool {
		return e.count(t, `SELECT count(*) FROM notifications WHERE user_id = $1 AND title = 'Payment refunded'`, u) == 1
	})
	if s := e.status(t, o.ID); s != StatusCancelled {
		t.Fatalf("order %s after a late payment", s)
	}
}

// Refunds that give back and take back points race payments that post a hold and
// award points, for the same buyer and for another buyer on the same shards: all of
// them finish (no deadlock, SQLSTATE 40P01), and the ledger balances. Among the payments
// is an invitee's first, too small to earn purchase points, whose only award is the
// inviter's reward, drawn on the same issuance shard.
func TestRefundsRacePaymentsOnTheirShard(t *testing.T) {
	e, _, pay := payWithSim(t)
	ctx := context.Background()
	const rounds = 4
	ids := e.users(t, (rounds+1)*points.SystemShards+1)
	a, b := ids[0], ids[points.SystemShards] // the same issuance and spent shards
	e.grant(t, a, 100000)
	e.grant(t, b, 100000)
	invitees := make([]int64, rounds) // one a round, on the same shards again
	for r := range invitees {
		invitees[r] = ids[(r+2)*points.SystemShards]
		if _, err := e.pool.Exec(ctx, `UPDATE users SET invited_by = $2 WHERE id = $1`, invitees[r], ids[1]); err != nil {
			t.Fatal(err)
		}
		e.grant(t, invitees[r], 1000)
	}
	for round := range rounds {
		var refunds []int64
		for range 2 {
			o := e.create(t, a, CreateRequest{Items: []Item{e.course(t, 4900, 0)}, Points: 500})
			pay(o)
			refunds = append(refunds, o.ID)
		}
		var bodies [][]byte
		for i := range 4 {
			buyer, req := b, CreateRequest{Items: []Item{e.course(t, 4900, 0)}, Points: 300}
			if i%2 == 1 {
				buyer, req.Points = a, 0 // the refunded buyer, paying without a hold
			}
			o := e.create(t, buyer, req)
			bodies = append(bodies, callbackBody(fmt.Sprintf("race-%d-%d", round, i), o, fmt.Sprintf("race-trade-%d-%d", round, i)))
		}
		// ¥1.50 less 75 points: 75 fen paid, no purchase points, the inviter's reward
		small := e.create(t, invitees[round], CreateRequest{Items: []Item{e.course(t, 150, 0)}, Points: 75})
		if small.AmountFen != 75 || points.RuleAmount(points.RulePurchase, small.AmountFen) != 0 {
			t.Fatalf("the invitee's order pays %d fen", small.AmountFen)
		}
		bodies = append(bodies, callbackBody(fmt.Sprintf("race-%d-invitee", round), small, fmt.Sprintf("race-trade-%d-invitee", round)))
		errs := all(len(refunds)+len(bodies), func(i int) error {
			if i < len(refunds) {
				_, err := e.shop.Refund(ctx, refunds[i], "race")
				return err
			}
			body := bodies[i-len(refunds)]
			outcome, err := e.shop.HandleCallback(ctx, body, signFor(e, body))
			if err == nil && outcome != OutcomePaid {
				err = fmt.Errorf("outcome %s", outcome)
			}
			return err
		})
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, operation %d: %v", round, i, err)
			}
		}
	}
	if got, want := e.balance(t, ids[1]).Available, rounds*points.RuleAmount(points.RuleInvite, 75); got != want {
		t.Fatalf("the inviter has %d points, want %d from %d invitees", got, want, rounds)
	}
	verifyLedger(t, e)
}

// enrollment is the end of the user's enrollment in course (nil: for good) and its
// status.
func (e *env) enrollment(t testing.TB, userID, courseID int64) (*time.Time, string) {
	t.Helper()
	var until *time.Time
	var status string
	if err := e.pool.QueryRow(context.Background(), `SELECT expires_at, status FROM enrollments WHERE user_id = $1 AND course_id = $2 AND deleted_at IS NULL`,
		userID, courseID).Scan(&until, &status); err != nil {
		t.Fatal(err)
	}
	return until, status
}

// A course refunded and bought again at a shorter policy runs for the new policy's days:
// the refunded lifetime does not come back.
func TestBuyingAgainAfterARefundGrantsTheNewPolicyOnly(t *testing.T) {
	e, _, pay := payWithSim(t)
	ctx := context.Background()
	u := e.user(t)
	lifetime := e.course(t, 9900, 0)
	o := e.create(t, u, CreateRequest{Items: []Item{lifetime}})
	pay(o)
	if _, err := e.shop.Refund(ctx, o.ID, "changed their mind"); err != nil {
		t.Fatal(err)
	}
	week := Item{CourseID: lifetime.CourseID}
	if err := e.pool.QueryRow(ctx, `INSERT INTO price_policies (course_id, title, valid_days, price_fen, original_price_fen)
		VALUES ($1, 'a week', 7, 990, 990) RETURNING id`, lifetime.CourseID).Scan(&week.PricePolicyID); err != nil {
		t.Fatal(err)
	}
	pay(e.create(t, u, CreateRequest{Items: []Item{week}}))
	until, status := e.enrollment(t, u, lifetime.CourseID)
	if status != "active" || until == nil || time.Until(*until) > 7*24*time.Hour || time.Until(*until) < 6*24*time.Hour {
		t.Fatalf("after a refunded lifetime and a week bought: %s until %v, want active for 7 days", status, until)
	}
}

// lapsedPurchase is a new user's paid order of a 30-day course, 40 days on: its access
// has lapsed, and the enrollment still says active until a sweep.
func lapsedPurchase(t *testing.T, e *env, pay func(Order)) (int64, Item, Order) {
	t.Helper()
	ctx := context.Background()
	u := e.user(t)
	item := e.course(t, 1900, 30)
	o := e.create(t, u, CreateRequest{Items: []Item{item}})
	pay(o)
	if _, err := e.pool.Exec(ctx, `UPDATE orders SET paid_at = paid_at - interval '40 days', created_at = created_at - interval '40 days' WHERE id = $1`, o.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.pool.Exec(ctx, `UPDATE enrollments SET expires_at = now() - interval '10 days' WHERE user_id = $1`, u); err != nil {
		t.Fatal(err)
	}
	return u, item, o
}

// Refunding an order whose access had lapsed leaves the access a later order of the same
// course gave; refunding that one too ends it.
func TestRefundOfALapsedOrderKeepsTheLaterOne(t *testing.T) {
	e, _, pay := payWithSim(t)
	ctx := context.Background()
	u, item, first := lapsedPurchase(t, e, pay)
	// the sweep has ended the access
	if _, err := e.shop.sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if _, status := e.enrollment(t, u, item.CourseID); status != "revoked" {
		t.Fatalf("lapsed enrollment is %s after the sweep", status)
	}
	second := e.create(t, u, CreateRequest{Items: []Item{item}})
	pay(second)
	paidUntil, _ := e.enrollment(t, u, item.CourseID)

	if _, err := e.shop.Refund(ctx, first.ID, "a complaint about the first month"); err != nil {
		t.Fatal(err)
	}
	until, status := e.enrollment(t, u, item.CourseID)
	if status != "active" || until == nil || paidUntil == nil || !until.Equal(*paidUntil) {
		t.Fatalf("after refunding the lapsed order: %s until %v, want active until %v as the second order gave", status, until, paidUntil)
	}
	if ok, _ := NewEnrollments(e.pool).Active(ctx, u, item.CourseID); !ok {
		t.Fatal("the course bought again is not playable after the old order's refund")
	}
	if _, err := e.shop.Refund(ctx, second.ID, "and the second"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := NewEnrollments(e.pool).Active(ctx, u, item.CourseID); ok {
		t.Fatal("the course is playable with both its orders refunded")
	}
}

// A refund leaves the coupon's use spent, for the coupon's total and for the buyer's own
// limit alike: refunding is not a way to use a once-per-user coupon twice.
func TestRefundLeavesTheCouponUseSpent(t *testing.T) {
	e, _, pay := payWithSim(t)
	ctx := context.Background()
	u := e.user(t)
	if _, err := e.shop.CreateCoupon(ctx, Coupon{Code: "ONCE", Kind: CouponPercent, PercentOff: 20, ValidUntil: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	o := e.create(t, u, CreateRequest{Items: []Item{e.course(t, 5000, 0)}, CouponCode: "ONCE"})
	pay(o)
	if _, err := e.shop.Refund(ctx, o.ID, "refund"); err != nil {
		t.Fatal(err)
	}
	if n := e.count(t, `SELECT used_count FROM coupons WHERE code = 'ONCE'`); n != 1 {
		t.Fatalf("used_count %d after the refund, want 1", n)
	}
	if _, _, err := e.shop.Create(ctx, u, e.key(), CreateRequest{Items: []Item{e.course(t, 5000, 0)}, CouponCode: "ONCE"}); !errors.Is(err, ErrCouponUnavailable) {
		t.Fatalf("the once-per-user coupon again after a refund: %v, want ErrCouponUnavailable", err)
	}
}

// A refund of a lapsed order that meets a payment of the same course in flight (the
// payment holds the enrollment it is granting) waits for it, and leaves the access the
// payment gave.
func TestRefundWaitsForAPaymentOfTheSameCourse(t *testing.T) {
	e, _, pay := payWithSim(t)
	ctx := context.Background()
	u, item, first := lapsedPurchase(t, e, pay) // and no sweep yet: still marked active
	second := e.create(t, u, CreateRequest{Items: []Item{item}})

	// The second order's payment, halfway: paid and granted, not yet committed.
	tx, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	b := &pgx.Batch{}
	if err := e.shop.markPaid(b, second, "trade-in-flight", payer{}); err != nil {
		t.Fatal(err)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		t.Fatal(err)
	}
	refunded := make(chan error, 1)
	go func() {
		_, err := e.shop.Refund(ctx, first.ID, "a complaint about the first month")
		refunded <- err
	}()
	waitFor(t, func() bool { // the refund waits on the enrollment
		return e.count(t, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`) == 1
	})
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-refunded; err != nil {
		t.Fatal(err)
	}
	until, status := e.enrollment(t, u, item.CourseID)
	if status != "active" || until == nil || time.Until(*until) < 29*24*time.Hour {
		t.Fatalf("after the refund met the second payment: %s until %v, want active for the second order's 30 days", status, until)
	}
}
