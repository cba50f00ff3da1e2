package orders

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/luffy-edu/luffy/points"
)

// Issue 6: a coupon redeemed past its limit.
func TestCouponTotalLimitHoldsUnderConcurrentRedemption(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	item := e.course(t, 10000, 365)
	limit := int32(10)
	c, err := e.shop.CreateCoupon(ctx, Coupon{Code: "TEN-ONLY", Kind: CouponFixed, AmountFen: 1000,
		ValidUntil: time.Now().Add(time.Hour), TotalLimit: &limit})
	if err != nil {
		t.Fatal(err)
	}
	users := e.users(t, 50)
	errs := all(len(users), func(i int) error {
		_, _, err := e.shop.Create(ctx, users[i], "k", CreateRequest{Items: []Item{item}, CouponCode: "TEN-ONLY"})
		return err
	})
	ok, refused, other := countErrs(errs, ErrCouponUnavailable)
	if ok != 10 || refused != 40 || other != nil {
		t.Fatalf("created %d, refused %d (want 10, 40); other error: %v", ok, refused, other)
	}
	if n := e.count(t, `SELECT used_count FROM coupons WHERE id = $1`, c.ID); n != 10 {
		t.Fatalf("used_count = %d, want 10", n)
	}
	if n := e.count(t, `SELECT count(*) FROM orders WHERE coupon_id = $1 AND coupon_discount_fen = 1000 AND amount_fen = 9000`, c.ID); n != 10 {
		t.Fatalf("%d orders hold the coupon, want 10", n)
	}

	// A cancelled order gives its use back, and one more user gets it.
	var id, owner int64
	if err := e.pool.QueryRow(ctx, `SELECT id, user_id FROM orders WHERE coupon_id = $1 LIMIT 1`, c.ID).Scan(&id, &owner); err != nil {
		t.Fatal(err)
	}
	if _, err := e.shop.Cancel(ctx, owner, id); err != nil {
		t.Fatal(err)
	}
	// the 40 users refused before (the others hold a pending order for this course,
	// and a second pending order for one course is refused whatever the coupon)
	var refusedUsers []int64
	for i, err := range errs {
		if err != nil {
			refusedUsers = append(refusedUsers, users[i])
		}
	}
	errs = all(len(refusedUsers), func(i int) error {
		_, _, err := e.shop.Create(ctx, refusedUsers[i], "k2", CreateRequest{Items: []Item{item}, CouponCode: "TEN-ONLY"})
		return err
	})
	if ok, _, other := countErrs(errs, ErrCouponUnavailable); ok != 1 || other != nil {
		t.Fatalf("after a cancel %d orders got the coupon, want 1 (other error %v)", ok, other)
	}
	if n := e.count(t, `SELECT used_count FROM coupons WHERE id = $1`, c.ID); n != 10 {
		t.Fatalf("used_count = %d, want 10", n)
	}
}

func TestCouponPerUserLimitHoldsUnderConcurrentOrders(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	u := e.user(t)
	if _, err := e.shop.CreateCoupon(ctx, Coupon{Code: "ONCE", Kind: CouponPercent, PercentOff: 20, ValidUntil: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	items := make([]Item, 10)
	for i := range items {
		items[i] = e.course(t, 5000, 0)
	}
	errs := all(len(items), func(i int) error {
		_, _, err := e.shop.Create(ctx, u, fmt.Sprint("k", i), CreateRequest{Items: []Item{items[i]}, CouponCode: "ONCE"})
		return err
	})
	if ok, refused, other := countErrs(errs, ErrCouponUnavailable); ok != 1 || refused != 9 || other != nil {
		t.Fatalf("created %d, refused %d (want 1, 9); other error: %v", ok, refused, other)
	}
}

// Issue 6: a callback delivered twice, and twenty times at once.
func TestCallbackDeliveredManyTimesPaysOnce(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	inviter, buyer := e.user(t), e.user(t)
	if _, err := e.pool.Exec(ctx, `UPDATE users SET invited_by = $1 WHERE id = $2`, inviter, buyer); err != nil {
		t.Fatal(err)
	}
	e.grant(t, buyer, 1000)
	item := e.course(t, 19900, 180)
	o := e.create(t, buyer, CreateRequest{Items: []Item{item}, Points: 900})
	if o.AmountFen != 19000 || o.PointsFen != 900 {
		t.Fatalf("amount %d, points %d; want 19000, 900", o.AmountFen, o.PointsFen)
	}
	body := callbackBody("evt-1", o, "trade-1")
	if got := e.callback(t, body); got != OutcomePaid {
		t.Fatalf("first callback: %s", got)
	}
	if got := e.callback(t, body); got != OutcomeDuplicate {
		t.Fatalf("second callback: %s", got)
	}

	o2 := e.create(t, buyer, CreateRequest{Items: []Item{e.course(t, 30000, 0)}})
	body2 := callbackBody("evt-2", o2, "trade-2")
	outcomes := make([]string, 20)
	errs := all(20, func(i int) error {
		var err error
		outcomes[i], err = e.shop.HandleCallback(ctx, body2, signFor(e, body2))
		return err
	})
	paid := 0
	for i := range outcomes {
		if errs[i] != nil {
			t.Fatalf("callback %d: %v", i, errs[i])
		}
		if outcomes[i] == OutcomePaid {
			paid++
		} else if outcomes[i] != OutcomeDuplicate {
			t.Fatalf("callback %d: outcome %s", i, outcomes[i])
		}
	}
	if paid != 1 {
		t.Fatalf("%d concurrent callbacks paid, want 1", paid)
	}
	// The same trade under a new event id changes nothing either.
	if got := e.callback(t, callbackBody("evt-3", o2, "trade-2")); got != OutcomeDuplicate {
		t.Fatalf("same trade, new event: %s", got)
	}

	if n := e.count(t, `SELECT count(*) FROM enrollments WHERE user_id = $1 AND status = 'active'`, buyer); n != 2 {
		t.Fatalf("%d enrollments, want 2", n)
	}
	if n := e.count(t, `SELECT count(*) FROM enrollments WHERE user_id = $1 AND course_id = $2
		AND expires_at BETWEEN now() + interval '179 days' AND now() + interval '181 days'`, buyer, item.CourseID); n != 1 {
		t.Fatal("the 180-day policy did not grant 180 days")
	}
	if n := e.count(t, `SELECT count(*) FROM payment_events`); n != 3 {
		t.Fatalf("%d payment events, want 3", n)
	}
	if n := e.count(t, `SELECT count(*) FROM notifications WHERE user_id = $1 AND kind = 'payment'`, buyer); n != 2 {
		t.Fatalf("%d payment notices, want 2", n)
	}
	// 1000 granted - 900 spent + 190 for 190 yuan + 300 for 300 yuan.
	if b := e.balance(t, buyer); b.Posted != 590 || b.Pending != 0 {
		t.Fatalf("buyer balance %+v, want 590 posted", b)
	}
	// Rewarded once, for the first paid order only.
	if b := e.balance(t, inviter); b.Posted != points.RuleAmount(points.RuleInvite, 0) {
		t.Fatalf("inviter balance %+v, want %d", b, points.RuleAmount(points.RuleInvite, 0))
	}
	if n := e.count(t, `SELECT count(*) FROM notifications WHERE user_id = $1 AND kind = 'points' AND (data->>'points')::int = $2`,
		inviter, points.RuleAmount(points.RuleInvite, 0)); n != 1 {
		t.Fatalf("the inviter has %d notices of the reward, want 1", n)
	}
	got, err := e.shop.Get(ctx, buyer, o.ID)
	if err != nil || got.Status != StatusPaid || got.PaidAt == nil || got.PayURL != "" {
		t.Fatalf("order after payment: %+v, %v", got, err)
	}
}

func signFor(e *env, body []byte) string {
	return signHex(e.shop.cfg.GatewaySecret, body)
}

// Issue 6: a callback racing the order's expiry.
func TestCallbackRacingExpiryEndsOneWay(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	u := e.user(t)
	e.grant(t, u, 100000)
	var paidN, expiredN, spent int64
	for i := range 25 {
		item := e.course(t, 2000, 30)
		o := e.create(t, u, CreateRequest{Items: []Item{item}, Points: 500})
		e.backdate(t, o.ID)
		body := callbackBody(fmt.Sprint("race-", i), o, fmt.Sprint("trade-", i))
		var outcome string
		var expired bool
		errs := all(2, func(j int) error {
			var err error
			if j == 0 {
				outcome, err = e.shop.HandleCallback(ctx, body, signFor(e, body))
			} else {
				expired, err = e.shop.Expire(ctx, o.ID)
			}
			return err
		})
		if errs[0] != nil || errs[1] != nil {
			t.Fatalf("round %d: %v", i, errs)
		}
		enrolled := e.count(t, `SELECT count(*) FROM enrollments WHERE user_id = $1 AND course_id = $2`, u, item.CourseID)
		status, hold := e.status(t, o.ID), e.holdStatus(t, o.ID)
		switch {
		case status == StatusPaid && outcome == OutcomePaid && !expired && enrolled == 1 && hold == points.StatusPosted:
			paidN++
			spent += 500
		case status == StatusExpired && outcome == OutcomeLate && expired && enrolled == 0 && hold == points.StatusVoided:
			expiredN++
		default:
			t.Fatalf("round %d: status %s, outcome %s, expired %v, enrollments %d, hold %s", i, status, outcome, expired, enrolled, hold)
		}
	}
	t.Logf("paid %d, expired %d", paidN, expiredN)
	// Each paid order of 15 yuan earns 15 points.
	if b := e.balance(t, u); b.Pending != 0 || b.Posted != 100000-spent+15*paidN {
		t.Fatalf("balance %+v, want %d posted and none pending", b, 100000-spent+15*paidN)
	}
	if n := e.count(t, `SELECT count(*) FROM notifications WHERE user_id = $1 AND kind = 'refund'`, u); int64(n) != expiredN {
		t.Fatalf("%d refund notices for %d late payments", n, expiredN)
	}
}

// Issue 6: cancel after expiry must not refund the points twice.
func TestCancelAfterExpiryRefundsPointsOnce(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	u := e.user(t)
	e.grant(t, u, 1000)
	o := e.create(t, u, CreateRequest{Items: []Item{e.course(t, 1000, 0)}, Points: 300})
	if b := e.balance(t, u); b.Available != 700 || b.Pending != 300 {
		t.Fatalf("balance with the hold: %+v", b)
	}
	if ok, err := e.shop.Expire(ctx, o.ID); ok || err != nil {
		t.Fatalf("expire before due: %v, %v", ok, err)
	}
	e.backdate(t, o.ID)
	if ok, err := e.shop.Expire(ctx, o.ID); !ok || err != nil {
		t.Fatalf("expire: %v, %v", ok, err)
	}
	if _, err := e.shop.Cancel(ctx, u, o.ID); !errors.Is(err, ErrNotPending) {
		t.Fatalf("cancel after expiry: %v", err)
	}
	if ok, err := e.shop.Expire(ctx, o.ID); ok || err != nil {
		t.Fatalf("second expiry: %v, %v", ok, err)
	}
	if b := e.balance(t, u); b.Available != 1000 || b.Posted != 1000 || b.Pending != 0 {
		t.Fatalf("balance: %+v, want 1000 available", b)
	}

	// Cancels and expiries at once: one of them closes the order.
	for i := range 15 {
		o := e.create(t, u, CreateRequest{Items: []Item{e.course(t, 1000, 0)}, Points: 500})
		e.backdate(t, o.ID)
		var mu sync.Mutex
		closed := 0
		errs := all(6, func(j int) error {
			if j%2 == 0 {
				_, err := e.shop.Cancel(ctx, u, o.ID)
				if err == nil {
					mu.Lock()
					closed++
					mu.Unlock()
				}
				if errors.Is(err, ErrNotPending) {
					return nil
				}
				return err
			}
			ok, err := e.shop.Expire(ctx, o.ID)
			if ok {
				mu.Lock()
				closed++
				mu.Unlock()
			}
			return err
		})
		for _, err := range errs {
			if err != nil {
				t.Fatalf("round %d: %v", i, err)
			}
		}
		if closed != 1 || e.holdStatus(t, o.ID) != points.StatusVoided {
			t.Fatalf("round %d: closed %d times, hold %s", i, closed, e.holdStatus(t, o.ID))
		}
		if b := e.balance(t, u); b.Available != 1000 || b.Posted != 1000 || b.Pending != 0 {
			t.Fatalf("round %d: balance %+v, want 1000", i, b)
		}
	}
	if n := e.count(t, `SELECT count(*) FROM notifications WHERE user_id = $1 AND kind = 'order'`, u); n != 16 {
		t.Fatalf("%d close notices, want 16", n)
	}
}

// Issue 6: another user's order cancelled or paid; a forged callback.
func TestOtherUsersOrderAndForgedCallbacks(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	owner, other := e.user(t), e.user(t)
	o := e.create(t, owner, CreateRequest{Items: []Item{e.course(t, 5000, 0)}})
	if _, err := e.shop.Cancel(ctx, other, o.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("cancel by another user: %v", err)
	}
	if _, err := e.shop.Get(ctx, other, o.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get by another user: %v", err)
	}
	if list, err := e.shop.List(ctx, other, 0, 10); err != nil || len(list) != 0 {
		t.Fatalf("another user's list: %v, %v", list, err)
	}
	body := callbackBody("forged", o, "trade")
	f := func(body []byte, sig string) {
		t.Helper()
		if _, err := e.shop.HandleCallback(ctx, body, sig); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("callback with signature %q: %v", sig, err)
		}
	}
	f(body, "")
	f(body, "zz")
	f(body, signHex("another-secret", body))
	tampered := callbackBody("forged", Order{Number: o.Number, AmountFen: 1}, "trade")
	f(tampered, signFor(e, body))
	if n := e.count(t, `SELECT count(*) FROM payment_events`); n != 0 {
		t.Fatalf("%d payment events recorded from forged callbacks", n)
	}
	if s := e.status(t, o.ID); s != StatusPending {
		t.Fatalf("order %s after forged callbacks", s)
	}
	// A genuine callback with the wrong amount leaves the order alone.
	if got := e.callback(t, tampered); got != OutcomeAmountMismatch {
		t.Fatalf("wrong amount: %s", got)
	}
	if n := e.count(t, `SELECT count(*) FROM river_job WHERE kind = 'order_refund_late' AND args->>'event_id' = 'forged' AND args->>'reason' = 'amount'`); n != 1 {
		t.Fatalf("%d refund jobs for the payment of the wrong amount, want 1", n)
	}
	if n := e.count(t, `SELECT count(*) FROM notifications WHERE user_id = $1 AND title = 'Payment of the wrong amount'`, owner); n != 1 {
		t.Fatalf("%d notices of the payment of the wrong amount, want 1", n)
	}
	if got := e.callback(t, callbackBody("nobody", Order{Number: "nope", AmountFen: 1}, "t")); got != OutcomeUnknownOrder {
		t.Fatalf("unknown order: %s", got)
	}
	if s := e.status(t, o.ID); s != StatusPending {
		t.Fatalf("order %s after a wrong amount", s)
	}
	if got, err := e.shop.Cancel(ctx, owner, o.ID); err != nil || got.Status != StatusCancelled || got.ClosedAt == nil {
		t.Fatalf("cancel by its owner: %+v, %v", got, err)
	}
}

// Issue 6: idempotency keys.
func TestIdempotencyKey(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	u := e.user(t)
	a, b := e.course(t, 1000, 0), e.course(t, 2000, 0)
	req := CreateRequest{Items: []Item{a, b}}
	first, created, err := e.shop.Create(ctx, u, "same", req)
	if err != nil || !created {
		t.Fatalf("first: %v, %v", created, err)
	}
	again, created, err := e.shop.Create(ctx, u, "same", CreateRequest{Items: []Item{b, a}})
	if err != nil || created || again.ID != first.ID || again.Number != first.Number || len(again.Lines) != 2 {
		t.Fatalf("same key and body: %+v, created %v, %v", again, created, err)
	}
	if _, _, err := e.shop.Create(ctx, u, "same", CreateRequest{Items: []Item{a}}); !errors.Is(err, ErrIdempotencyMismatch) {
		t.Fatalf("same key, other body: %v", err)
	}
	var ie *InputError
	if _, _, err := e.shop.Create(ctx, u, "", req); !errors.As(err, &ie) {
		t.Fatalf("no key: %v", err)
	}
	// Twenty retries at once make one order.
	c := e.course(t, 3000, 0)
	ids := make([]int64, 20)
	errs := all(20, func(i int) error {
		o, _, err := e.shop.Create(ctx, u, "burst", CreateRequest{Items: []Item{c}})
		ids[i] = o.ID
		return err
	})
	for i := range ids {
		if errs[i] != nil || ids[i] != ids[0] {
			t.Fatalf("retry %d: order %d (first %d), %v", i, ids[i], ids[0], errs[i])
		}
	}
	if n := e.count(t, `SELECT count(*) FROM orders WHERE user_id = $1`, u); n != 2 {
		t.Fatalf("%d orders, want 2", n)
	}
}

// One buyer's payments arriving at once, some posting a points hold and some not, all
// pay: posting and awarding take the buyer's account rows in one order, so two payments
// never wait on each other in a cycle (SQLSTATE 40P01).
func TestConcurrentPaymentsOfOneBuyerWithPoints(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	inviter, buyer := e.user(t), e.user(t)
	if _, err := e.pool.Exec(ctx, `UPDATE users SET invited_by = $1 WHERE id = $2`, inviter, buyer); err != nil {
		t.Fatal(err)
	}
	e.grant(t, buyer, 10000)
	const rounds, perRound = 5, 6
	var spent, paidFen int64
	for r := range rounds {
		var bodies [][]byte
		for i := range perRound {
			req := CreateRequest{Items: []Item{e.course(t, 2000, 0)}}
			if i%2 == 0 {
				req.Points = 100
			}
			o := e.create(t, buyer, req)
			spent += req.Points
			paidFen += o.AmountFen
			bodies = append(bodies, callbackBody(fmt.Sprintf("evt-%d-%d", r, i), o, fmt.Sprintf("trade-%d-%d", r, i)))
		}
		outcomes := make([]string, perRound)
		errs := all(perRound, func(i int) error {
			var err error
			outcomes[i], err = e.shop.HandleCallback(ctx, bodies[i], signFor(e, bodies[i]))
			return err
		})
		for i, err := range errs {
			if err != nil || outcomes[i] != OutcomePaid {
				t.Fatalf("round %d, payment %d: %s, %v", r, i, outcomes[i], err)
			}
		}
	}
	want := 10000 - spent + paidFen/100 // one point per yuan paid
	if b := e.balance(t, buyer); b.Posted != want || b.Pending != 0 {
		t.Fatalf("buyer balance %+v, want %d posted", b, want)
	}
	if b := e.balance(t, inviter); b.Posted != points.RuleAmount(points.RuleInvite, 0) {
		t.Fatalf("inviter balance %+v, want one reward", b)
	}
	if n := e.count(t, `SELECT count(*) FROM points_transfers WHERE status = 'pending'`); n != 0 {
		t.Fatalf("%d holds left pending", n)
	}
}

// Deliveries of one event that lock no order (an unknown order, a status other than
// paid) race on the event's unique key: one records it, the rest are duplicates.
func TestConcurrentDeliveriesWithoutAnOrder(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	for _, c := range []struct {
		status, want string
	}{{"paid", OutcomeUnknownOrder}, {"closed", OutcomeIgnored}} {
		body, _ := json.Marshal(map[string]any{"event_id": "evt-" + c.status, "order_number": "no-such-order",
			"trade_no": "t", "amount_fen": 100, "status": c.status})
		outcomes := make([]string, 12)
		errs := all(12, func(i int) error {
			var err error
			outcomes[i], err = e.shop.HandleCallback(ctx, body, signFor(e, body))
			return err
		})
		first := 0
		for i, err := range errs {
			switch {
			case err != nil:
				t.Fatalf("%s delivery %d: %v", c.status, i, err)
			case outcomes[i] == c.want:
				first++
			case outcomes[i] != OutcomeDuplicate:
				t.Fatalf("%s delivery %d: %s", c.status, i, outcomes[i])
			}
		}
		if first != 1 {
			t.Fatalf("%d of 12 deliveries of a %s event came back %s, want 1", first, c.status, c.want)
		}
		if n := e.count(t, `SELECT count(*) FROM payment_events WHERE gateway_event_id = $1 AND outcome = $2`, "evt-"+c.status, c.want); n != 1 {
			t.Fatalf("%d records of the %s event", n, c.status)
		}
	}
}
