package orders

import (
	"context"
	"testing"
	"time"
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
