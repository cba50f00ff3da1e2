package orders

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestCreateRefusesWhatCannotBeSold(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	u := e.user(t)
	ok, other := e.course(t, 1000, 0), e.course(t, 2000, 0)
	disabled, draft, deleted, held := e.course(t, 1000, 0), e.course(t, 1000, 0), e.course(t, 1000, 0), e.course(t, 1000, 0)
	mustExec := func(sql string, args ...any) {
		t.Helper()
		if _, err := e.pool.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	mustExec(`UPDATE price_policies SET status = 'disabled' WHERE id = $1`, disabled.PricePolicyID)
	mustExec(`UPDATE courses SET status = 'draft' WHERE id = $1`, draft.CourseID)
	mustExec(`UPDATE courses SET deleted_at = now() WHERE id = $1`, deleted.CourseID)
	mustExec(`INSERT INTO enrollments (user_id, course_id) VALUES ($1, $2)`, u, held.CourseID)

	f := func(name string, req CreateRequest) {
		t.Helper()
		var ie *InputError
		if _, _, err := e.shop.Create(ctx, u, e.key(), req); !errors.As(err, &ie) {
			t.Fatalf("%s: %v, want an InputError", name, err)
		}
	}
	f("disabled policy", CreateRequest{Items: []Item{disabled}})
	f("draft course", CreateRequest{Items: []Item{draft}})
	f("deleted course", CreateRequest{Items: []Item{deleted}})
	f("policy of another course", CreateRequest{Items: []Item{{CourseID: ok.CourseID, PricePolicyID: other.PricePolicyID}}})
	f("unknown policy", CreateRequest{Items: []Item{{CourseID: ok.CourseID, PricePolicyID: 99999}}})
	f("duplicate course", CreateRequest{Items: []Item{ok, ok}})
	f("already enrolled", CreateRequest{Items: []Item{held}})
	f("negative points", CreateRequest{Items: []Item{ok}, Points: -1})
	f("points over half the price", CreateRequest{Items: []Item{ok}, Points: 501})
	f("two coupons", CreateRequest{Items: []Item{ok}, CouponCode: "X", UserCouponID: 1})
	if _, _, err := e.shop.Create(ctx, u, e.key(), CreateRequest{}); !errors.Is(err, ErrEmpty) {
		t.Fatalf("empty cart: %v", err)
	}
	if _, _, err := e.shop.Create(ctx, u, e.key(), CreateRequest{Items: []Item{ok}, Points: 500}); !errors.Is(err, ErrInsufficientPoints) {
		t.Fatalf("points the user lacks: %v", err)
	}
	if n := e.count(t, `SELECT count(*) FROM orders`); n != 0 {
		t.Fatalf("%d orders from refused requests", n)
	}
}

func TestCreateSnapshotsLinesAndPricesCoupons(t *testing.T) {
	e := newEnv(t, Config{GatewayURL: "http://gw.test"})
	ctx := context.Background()
	u := e.user(t)
	a, b := e.course(t, 6000, 90), e.course(t, 4000, 0)
	until := time.Now().Add(time.Hour)
	for _, c := range []Coupon{
		{Code: "FIXED", Kind: CouponFixed, AmountFen: 1500, ValidUntil: until},
		{Code: "OVER", Kind: CouponThreshold, AmountFen: 2000, ThresholdFen: 10000, ValidUntil: until},
		{Code: "FAR", Kind: CouponThreshold, AmountFen: 2000, ThresholdFen: 10001, ValidUntil: until},
		{Code: "PCT", Kind: CouponPercent, PercentOff: 15, ValidUntil: until},
		{Code: "OFF", Kind: CouponFixed, AmountFen: 100, ValidUntil: until, Status: "disabled"},
		{Code: "LATER", Kind: CouponFixed, AmountFen: 100, ValidFrom: until, ValidUntil: until.Add(time.Hour)},
	} {
		if _, err := e.shop.CreateCoupon(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	f := func(code string, wantDiscount int64) {
		t.Helper()
		o, _, err := e.shop.Create(ctx, u, e.key(), CreateRequest{Items: []Item{a, b}, CouponCode: code, Points: 0})
		if wantDiscount < 0 {
			if !errors.Is(err, ErrCouponUnavailable) {
				t.Fatalf("coupon %s: %v, want unavailable", code, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("coupon %s: %v", code, err)
		}
		if o.TotalFen != 10000 || o.CouponDiscountFen != wantDiscount || o.AmountFen != 10000-wantDiscount {
			t.Fatalf("coupon %s: total %d, discount %d, amount %d", code, o.TotalFen, o.CouponDiscountFen, o.AmountFen)
		}
		if _, err := e.shop.Cancel(ctx, u, o.ID); err != nil {
			t.Fatal(err)
		}
	}
	f("", 0)
	f("FIXED", 1500)
	f("OVER", 2000)
	f("PCT", 1500)
	f("FAR", -1)
	f("OFF", -1)
	f("LATER", -1)
	f("NOSUCH", -1)

	e.grant(t, u, 5000)
	o := e.create(t, u, CreateRequest{Items: []Item{a, b}, CouponCode: "FIXED", Points: 4250})
	if o.PointsUsed != 4250 || o.PointsFen != 4250 || o.AmountFen != 10000-1500-4250 {
		t.Fatalf("points: %+v", o)
	}
	want := "http://gw.test/pay/" + o.Number + "?amount_fen=4250&sig=" + signHex(e.shop.cfg.GatewaySecret, []byte(o.Number+"|4250"))
	if o.PayURL != want || o.Status != StatusPending || len(o.Number) != 24 {
		t.Fatalf("pay url %q, want %q (status %s, number %q)", o.PayURL, want, o.Status, o.Number)
	}
	if !o.ExpiresAt.After(time.Now().Add(29*time.Minute)) || len(o.Lines) != 2 {
		t.Fatalf("expires %v, lines %d", o.ExpiresAt, len(o.Lines))
	}
	l := o.Lines[0]
	if l.CourseID != a.CourseID || l.CourseTitle == "" || l.PolicyTitle != "standard" || l.ValidDays == nil || *l.ValidDays != 90 ||
		l.ListPriceFen != 6000 || l.OriginalPriceFen != 12000 || l.DiscountFen+o.Lines[1].DiscountFen != 1500+4250 {
		t.Fatalf("line snapshot %+v", o.Lines)
	}
	// The snapshot does not follow later price changes.
	if _, err := e.pool.Exec(ctx, `UPDATE price_policies SET price_fen = 1, title = 'changed'`); err != nil {
		t.Fatal(err)
	}
	got, err := e.shop.Get(ctx, u, o.ID)
	if err != nil || got.Lines[0].ListPriceFen != 6000 || got.Lines[0].PolicyTitle != "standard" {
		t.Fatalf("after a price change: %+v, %v", got.Lines, err)
	}
}

func TestCartOrderAndFullyCoveredOrderPaysAtOnce(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	u := e.user(t)
	a, b, free := e.course(t, 1000, 0), e.course(t, 3000, 0), e.course(t, 0, 7)
	for _, it := range []Item{a, b, free} {
		if err := e.shop.CartAdd(ctx, u, it.CourseID, it.PricePolicyID); err != nil {
			t.Fatal(err)
		}
	}
	var ie *InputError
	if err := e.shop.CartAdd(ctx, u, a.CourseID, b.PricePolicyID); !errors.As(err, &ie) {
		t.Fatalf("cart add with another course's policy: %v", err)
	}
	if err := e.shop.CartRemove(ctx, u, b.CourseID); err != nil {
		t.Fatal(err)
	}
	cart, err := e.shop.Cart(ctx, u)
	if err != nil || len(cart) != 2 || cart[0].PriceFen != 1000 || cart[0].CourseTitle == "" || !cart[0].Available {
		t.Fatalf("cart %+v, %v", cart, err)
	}
	o := e.create(t, u, CreateRequest{})
	if o.TotalFen != 1000 || len(o.Lines) != 2 || o.Status != StatusPending {
		t.Fatalf("order from cart: %+v", o)
	}
	if cart, _ := e.shop.Cart(ctx, u); len(cart) != 2 {
		t.Fatal("the cart emptied before payment")
	}

	// A coupon that covers everything: paid in the same transaction, courses granted and
	// the cart cleared.
	if _, err := e.shop.Cancel(ctx, u, o.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.shop.CreateCoupon(ctx, Coupon{Code: "ALL", Kind: CouponFixed, AmountFen: 100000, ValidUntil: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	o = e.create(t, u, CreateRequest{CouponCode: "ALL"})
	if o.Status != StatusPaid || o.AmountFen != 0 || o.PaidAt == nil || o.PayURL != "" {
		t.Fatalf("fully covered order: %+v", o)
	}
	if n := e.count(t, `SELECT count(*) FROM enrollments WHERE user_id = $1 AND status = 'active'`, u); n != 2 {
		t.Fatalf("%d enrollments, want 2", n)
	}
	if cart, _ := e.shop.Cart(ctx, u); len(cart) != 0 {
		t.Fatalf("cart after payment: %+v", cart)
	}
	if ok, err := e.shop.Expire(ctx, o.ID); ok || err != nil {
		t.Fatalf("expiring a paid order: %v, %v", ok, err)
	}
	list, err := e.shop.List(ctx, u, 0, 10)
	if err != nil || len(list) != 2 || list[0].ID != o.ID || len(list[0].Lines) != 2 {
		t.Fatalf("list: %+v, %v", list, err)
	}
}

func TestCouponBoughtWithPoints(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	u := e.user(t)
	e.grant(t, u, 1000)
	price, limit := int64(400), int32(5)
	c, err := e.shop.CreateCoupon(ctx, Coupon{Code: "SHOP", Kind: CouponFixed, AmountFen: 500, ValidUntil: time.Now().Add(time.Hour),
		PointsPrice: &price, PerUserLimit: 2, TotalLimit: &limit})
	if err != nil {
		t.Fatal(err)
	}
	// Ten retries of one purchase at once buy one coupon.
	ucs := make([]UserCoupon, 10)
	errs := all(10, func(i int) error {
		var err error
		ucs[i], err = e.shop.BuyCouponWithPoints(ctx, u, c.ID, "buy-1")
		return err
	})
	for i := range ucs {
		if errs[i] != nil || ucs[i].ID != ucs[0].ID || ucs[i].Status != "available" {
			t.Fatalf("purchase %d: %+v, %v", i, ucs[i], errs[i])
		}
	}
	if b := e.balance(t, u); b.Posted != 600 {
		t.Fatalf("balance after one purchase: %+v", b)
	}
	if n := e.count(t, `SELECT count(*) FROM notifications WHERE user_id = $1 AND kind = 'points' AND (data->>'points')::int = -400`, u); n != 1 {
		t.Fatalf("%d notices of the points spent on one purchase, want 1", n)
	}
	if _, err := e.shop.BuyCouponWithPoints(ctx, u, c.ID, "buy-2"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.shop.BuyCouponWithPoints(ctx, u, c.ID, "buy-3"); !errors.Is(err, ErrCouponUnavailable) {
		t.Fatalf("past the per-user limit: %v", err)
	}
	poor := e.user(t)
	if _, err := e.shop.BuyCouponWithPoints(ctx, poor, c.ID, "buy"); !errors.Is(err, ErrInsufficientPoints) {
		t.Fatalf("without points: %v", err)
	}
	if n := e.count(t, `SELECT used_count FROM coupons WHERE id = $1`, c.ID); n != 2 {
		t.Fatalf("used_count %d, want 2", n)
	}

	item := e.course(t, 2000, 0)
	o := e.create(t, u, CreateRequest{Items: []Item{item}, UserCouponID: ucs[0].ID})
	if o.CouponDiscountFen != 500 || o.AmountFen != 1500 {
		t.Fatalf("order with a user coupon: %+v", o)
	}
	if _, _, err := e.shop.Create(ctx, u, e.key(), CreateRequest{Items: []Item{e.course(t, 2000, 0)}, UserCouponID: ucs[0].ID}); !errors.Is(err, ErrCouponUnavailable) {
		t.Fatalf("a held coupon used again: %v", err)
	}
	if _, err := e.shop.Cancel(ctx, u, o.ID); err != nil {
		t.Fatal(err)
	}
	o = e.create(t, u, CreateRequest{Items: []Item{item}, UserCouponID: ucs[0].ID})
	if got := e.callback(t, callbackBody("uc", o, "t")); got != OutcomePaid {
		t.Fatal(got)
	}
	var status string
	if err := e.pool.QueryRow(ctx, `SELECT status FROM user_coupons WHERE id = $1`, ucs[0].ID).Scan(&status); err != nil || status != "used" {
		t.Fatalf("user coupon after payment: %s, %v", status, err)
	}
}

// Fixes from review: a course in a pending order cannot be ordered again (a retry with a
// new key would charge twice), and a coupon sold for points cannot be used by its code.
func TestNoSecondPendingOrderAndNoFreeRideOnPointsCoupons(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	u := e.user(t)
	item := e.course(t, 1000, 0)
	if _, _, err := e.shop.Create(ctx, u, e.key(), CreateRequest{Items: []Item{item}}); err != nil {
		t.Fatal(err)
	}
	var ie *InputError
	if _, _, err := e.shop.Create(ctx, u, e.key(), CreateRequest{Items: []Item{item}}); !errors.As(err, &ie) {
		t.Fatalf("second pending order for one course: %v, want an InputError", err)
	}
	price := int64(10)
	if _, err := e.shop.CreateCoupon(ctx, Coupon{Code: "POINTS-ONLY", Kind: CouponFixed, AmountFen: 100, ValidUntil: time.Now().Add(time.Hour), PointsPrice: &price}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.shop.Create(ctx, u, e.key(), CreateRequest{Items: []Item{e.course(t, 1000, 0)}, CouponCode: "POINTS-ONLY"}); !errors.Is(err, ErrCouponUnavailable) {
		t.Fatalf("a points coupon by its code: %v", err)
	}
}

// A cart holds as many courses as one order may buy; an order from a cart that holds more
// (two adds at once) is refused with a 4xx, not cut short.
func TestCartHoldsOneOrdersWorth(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	u := e.user(t)
	var items []Item
	for range MaxOrderItems + 1 {
		items = append(items, e.course(t, 100, 0))
	}
	for _, it := range items[:MaxOrderItems] {
		if err := e.shop.CartAdd(ctx, u, it.CourseID, it.PricePolicyID); err != nil {
			t.Fatal(err)
		}
	}
	// changing the policy of a course in a full cart is not adding one
	if err := e.shop.CartAdd(ctx, u, items[0].CourseID, items[0].PricePolicyID); err != nil {
		t.Fatalf("re-adding a course in a full cart: %v", err)
	}
	var ie *InputError
	last := items[MaxOrderItems]
	if err := e.shop.CartAdd(ctx, u, last.CourseID, last.PricePolicyID); !errors.As(err, &ie) {
		t.Fatalf("adding to a full cart: %v, want an input error", err)
	}
	if _, err := e.pool.Exec(ctx, `INSERT INTO cart_items (user_id, course_id, price_policy_id) VALUES ($1, $2, $3)`,
		u, last.CourseID, last.PricePolicyID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.shop.Create(ctx, u, e.key(), CreateRequest{}); !errors.As(err, &ie) || ie.Field != "items" {
		t.Fatalf("order from a cart of %d: %v, want an input error on items", MaxOrderItems+1, err)
	}
	if n := e.count(t, `SELECT count(*) FROM orders WHERE user_id = $1`, u); n != 0 {
		t.Fatalf("%d orders made", n)
	}
}

// The check that none of the buyer's pending orders holds a course reads the buyer's
// orders, not every pending one nor every one that holds the course: during a sale
// thousands are pending for the course on sale, and the statistics the planner has may
// be older than the sale (here: from when the table was empty).
func TestPendingCheckReadsOnlyTheBuyersOrders(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	// statistics of the empty table, kept (autovacuum would bring them up to date)
	if _, err := e.pool.Exec(ctx, `ALTER TABLE orders SET (autovacuum_enabled = false)`); err != nil {
		t.Fatal(err)
	}
	if _, err := e.pool.Exec(ctx, `VACUUM ANALYZE orders`); err != nil {
		t.Fatal(err)
	}
	// A sale: 3,000 others each have a pending order for the course on sale.
	const others = 3000
	crowd := e.users(t, others)
	item := e.course(t, 1000, 0)
	if _, err := e.pool.Exec(ctx, `WITH o AS (
			INSERT INTO orders (number, user_id, total_fen, amount_fen, idempotency_key, request_hash, expires_at)
			SELECT 'sale' || u, u, 1000, 1000, 'k', '\x00', now() + interval '30 minutes' FROM unnest($1::bigint[]) u RETURNING id)
		INSERT INTO order_lines (order_id, course_id, price_policy_id, course_title, policy_title, list_price_fen, original_price_fen)
		SELECT o.id, $2, $3, 'On sale', 'standard', 1000, 1000 FROM o`, crowd, item.CourseID, item.PricePolicyID); err != nil {
		t.Fatal(err)
	}
	buyer := e.user(t)
	e.create(t, buyer, CreateRequest{Items: []Item{e.course(t, 500, 0)}}) // and the buyer one of another course
	conn, err := e.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `PREPARE quote (bigint, bigint, bigint) AS `+quoteSQL); err != nil {
		t.Fatal(err)
	}
	removed := regexp.MustCompile(`Rows Removed by Filter: (\d+)`)
	for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
		if _, err := conn.Exec(ctx, `SET plan_cache_mode = `+mode); err != nil {
			t.Fatal(err)
		}
		rows, err := conn.Query(ctx, fmt.Sprintf(`EXPLAIN (ANALYZE) EXECUTE quote (%d, %d, %d)`, item.PricePolicyID, buyer, item.CourseID))
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		plan := strings.Join(lines, "\n")
		read := 0 // rows read and thrown away
		for _, m := range removed.FindAllStringSubmatch(plan, -1) {
			n, _ := strconv.Atoi(m[1])
			read += n
		}
		if read > 100 {
			t.Errorf("%s: the quote read and passed over %d rows with %d others' orders pending:\n%s", mode, read, others, plan)
		}
	}
}
