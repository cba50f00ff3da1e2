package orders

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/luffy-edu/luffy/points"
)

// MaxOrderItems is how many courses one order, and so one cart, may hold.
const MaxOrderItems = 50

// Item is a course to buy at one of its price policies.
type Item struct {
	CourseID      int64 `json:"course_id"`
	PricePolicyID int64 `json:"price_policy_id"`
}

// CreateRequest is the body of POST /api/v1/orders. No items means: buy the cart.
type CreateRequest struct {
	Items        []Item `json:"items"`
	CouponCode   string `json:"coupon_code"`
	UserCouponID int64  `json:"user_coupon_id"`
	Points       int64  `json:"points"`
}

// hash is the request in a canonical form (items sorted, code trimmed), so that a retry
// that serializes the same request differently is still the same request.
func (r CreateRequest) hash() []byte {
	items := slices.Clone(r.Items)
	slices.SortFunc(items, func(a, b Item) int {
		if a.CourseID != b.CourseID {
			return cmpInt(a.CourseID, b.CourseID)
		}
		return cmpInt(a.PricePolicyID, b.PricePolicyID)
	})
	if items == nil {
		items = []Item{}
	}
	b, _ := json.Marshal(CreateRequest{Items: items, CouponCode: r.CouponCode, UserCouponID: r.UserCouponID, Points: r.Points})
	sum := sha256.Sum256(b)
	return sum[:]
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// newOrderNumber is the time to the second and ten random digits: sortable by time for
// people reading it, and not guessable from a neighbour's.
func newOrderNumber(now time.Time) string {
	n, err := rand.Int(rand.Reader, big.NewInt(1e10))
	if err != nil {
		panic(err)
	}
	return fmt.Sprintf("%s%010d", now.UTC().Format("20060102150405"), n.Int64())
}

// lockUserSQL serializes one user's order creation, so that the per-user coupon limit,
// the pending-order check and the idempotency key are checked against every order the
// user has; it also draws the new order's id.
const lockUserSQL = `SELECT pg_advisory_xact_lock(hashtextextended('orders:user:' || $1::bigint, 0)), nextval(pg_get_serial_sequence('orders', 'id'))`

// Create places an order. The same idempotencyKey with the same request returns the
// order it made the first time (created false); with another request,
// ErrIdempotencyMismatch. An order nothing is left to pay for is paid at once.
//
// A plain order takes four round trips to the database: begin; the user's lock (which
// draws the order's id) with every read the order needs, pipelined in one batch; the
// order and its lines, returned as stored, in a second; commit. Once per expiry step, an
// order takes one more to insert the next step's expiry job (see scheduleExpiry).
func (s *Shop) Create(ctx context.Context, userID int64, idempotencyKey string, req CreateRequest) (Order, bool, error) {
	req.CouponCode = strings.TrimSpace(req.CouponCode)
	switch {
	case len(idempotencyKey) < 1 || len(idempotencyKey) > 128:
		return Order{}, false, &InputError{"Idempotency-Key", "a header of 1 to 128 characters is required"}
	case req.CouponCode != "" && req.UserCouponID != 0:
		return Order{}, false, &InputError{"coupon_code", "one coupon per order"}
	case req.Points < 0:
		return Order{}, false, &InputError{"points", "must not be negative"}
	case len(req.Items) > MaxOrderItems:
		return Order{}, false, &InputError{"items", fmt.Sprintf("at most %d courses per order", MaxOrderItems)}
	}
	if err := checkItems(req.Items); err != nil {
		return Order{}, false, err
	}
	hash := req.hash()
	var o Order
	var created bool
	var steps []time.Time
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Each statement of a batch takes its own snapshot, so the reads after the lock
		// see every order the user's earlier transactions committed.
		b := &pgx.Batch{}
		var id int64
		b.Queue(lockUserSQL, userID).QueryRow(func(row pgx.Row) error { return row.Scan(nil, &id) })
		var prevID int64
		var prevHash []byte
		b.Queue(`SELECT id, request_hash FROM orders WHERE user_id = $1 AND idempotency_key = $2`, userID, idempotencyKey).
			QueryRow(func(row pgx.Row) error { return noRows(row.Scan(&prevID, &prevHash)) })
		items := req.Items
		var q *quote
		if len(items) == 0 {
			queueCart(b, userID, &items)
		} else {
			q = queueQuote(b, userID, items)
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("read for order of user %d: %w", userID, err)
		}
		if prevID != 0 {
			if string(prevHash) != string(hash) {
				return ErrIdempotencyMismatch
			}
			var err error
			o, err = s.load(ctx, tx, userID, prevID)
			return err
		}
		if q == nil { // the cart's items, read above
			if len(items) == 0 {
				return ErrEmpty
			}
			if len(items) > MaxOrderItems {
				return &InputError{"items", fmt.Sprintf("at most %d courses per order; the cart holds %d: order some of them by items", MaxOrderItems, len(items))}
			}
			if err := checkItems(items); err != nil {
				return err
			}
			b := &pgx.Batch{}
			q = queueQuote(b, userID, items)
			if err := tx.SendBatch(ctx, b).Close(); err != nil {
				return fmt.Errorf("read for order of user %d: %w", userID, err)
			}
		}
		var err error
		if o, steps, err = s.place(ctx, tx, userID, id, idempotencyKey, hash, req, q); err != nil {
			return err
		}
		created = true
		return nil
	})
	s.expiryScheduled(steps, err == nil)
	if err != nil {
		return Order{}, false, err
	}
	if created {
		s.event("created")
		if o.Status == StatusPaid {
			s.event(StatusPaid)
		}
	}
	return o, created, nil
}

// noRows is err with pgx.ErrNoRows as nil: a batch callback for a row that may be absent.
func noRows(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	return err
}

// checkItems refuses items without ids and courses listed twice.
func checkItems(items []Item) error {
	seen := make(map[int64]bool, len(items))
	for _, it := range items {
		if it.CourseID <= 0 || it.PricePolicyID <= 0 {
			return &InputError{"items", "course_id and price_policy_id are required"}
		}
		if seen[it.CourseID] {
			return &InputError{"items", fmt.Sprintf("course %d is listed twice", it.CourseID)}
		}
		seen[it.CourseID] = true
	}
	return nil
}

// quote is what an order of items needs to know, read in one batch: the offers of their
// price policies, and the courses the user may not order again.
type quote struct {
	items    []Item
	byPolicy map[int64]offer
	enrolled map[int64]bool
	pending  map[int64]string // course → number of the user's pending order holding it
}

// quoteSQL reads one item's offer, whether the user is enrolled in its course, and the
// number of a pending order of the user's that holds the course. A second pending order
// for the same course (a retry with a new key, another tab) would charge twice for one
// enrollment; the user lock keeps this true until the order commits.
const quoteSQL = `
	SELECT p.id, c.id, c.title, p.title, p.valid_days, p.price_fen, p.original_price_fen,
		p.status = 'enabled' AND p.deleted_at IS NULL AND c.status = 'published' AND c.deleted_at IS NULL,
		EXISTS (SELECT 1 FROM enrollments e
			WHERE e.user_id = $2 AND e.course_id = $3 AND e.status = 'active' AND e.deleted_at IS NULL
				AND (e.expires_at IS NULL OR e.expires_at > now())),
		(SELECT o.number FROM orders o JOIN order_lines l ON l.order_id = o.id
			WHERE o.user_id = $2 AND o.status = 'pending' AND l.course_id = $3 LIMIT 1)
	FROM price_policies p JOIN courses c ON c.id = p.course_id WHERE p.id = $1`

// queueQuote queues the reads of q on b: one statement per course rather than one over
// an array of them, because Postgres plans a statement over an array anew on every
// execution (a one-row custom plan looks cheaper than the generic one), and planning
// cost more than running it. A policy that does not exist reads nothing, and lines
// refuses it before asking about enrollments.
func queueQuote(b *pgx.Batch, userID int64, items []Item) *quote {
	q := &quote{items: items, byPolicy: make(map[int64]offer, len(items)), enrolled: map[int64]bool{}, pending: map[int64]string{}}
	for _, it := range items {
		b.Queue(quoteSQL, it.PricePolicyID, userID, it.CourseID).QueryRow(func(row pgx.Row) error {
			var o offer
			var enrolled bool
			var pending *string
			err := row.Scan(&o.policyID, &o.courseID, &o.courseTitle, &o.policyTitle, &o.validDays, &o.priceFen, &o.originalFen, &o.sellable,
				&enrolled, &pending)
			if err != nil {
				return noRows(err)
			}
			q.byPolicy[o.policyID] = o
			q.enrolled[it.CourseID] = enrolled
			if pending != nil {
				q.pending[it.CourseID] = *pending
			}
			return nil
		})
	}
	return q
}

// lines checks every item, in order, and returns their offers and their total.
func (q *quote) lines() ([]offer, int64, error) {
	lines := make([]offer, len(q.items))
	var total int64
	for i, it := range q.items {
		var err error
		if lines[i], err = checkItem(it, q.byPolicy); err != nil {
			return nil, 0, err
		}
		if q.enrolled[it.CourseID] {
			return nil, 0, &InputError{"items", fmt.Sprintf("already enrolled in course %d", it.CourseID)}
		}
		if n, ok := q.pending[it.CourseID]; ok {
			return nil, 0, &InputError{"items", fmt.Sprintf("course %d is in pending order %s: pay or cancel that one", it.CourseID, n)}
		}
		total += lines[i].priceFen
	}
	return lines, total, nil
}

// orderInsertSQL inserts an order and returns it as stored.
const orderInsertSQL = `
	INSERT INTO orders (id, number, user_id, total_fen, coupon_discount_fen, points_used, points_fen, amount_fen,
		coupon_id, user_coupon_id, points_hold_id, idempotency_key, request_hash, expires_at, created_by)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $3)
	RETURNING ` + orderColumns

// lineInsertSQL inserts an order line and returns it as linesSQL reads it.
const lineInsertSQL = `
	INSERT INTO order_lines (order_id, course_id, price_policy_id, course_title, policy_title, valid_days,
		list_price_fen, original_price_fen, discount_fen, created_by)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
	RETURNING ` + lineColumns

// place inserts order id, which quote q priced, in tx and returns it as stored, with the
// expiry steps whose jobs this transaction inserted.
func (s *Shop) place(ctx context.Context, tx pgx.Tx, userID, id int64, key string, hash []byte, req CreateRequest, q *quote) (o Order, steps []time.Time, err error) {
	lines, total, err := q.lines()
	if err != nil {
		return Order{}, steps, err
	}
	now := time.Now()
	var couponID, userCouponID *int64
	var discount int64
	switch {
	case req.CouponCode != "":
		c, err := s.holdCouponCode(ctx, tx, userID, req.CouponCode, now)
		if err != nil {
			return Order{}, steps, err
		}
		if discount, err = c.discount(total); err != nil {
			return Order{}, steps, err
		}
		couponID = &c.ID
	case req.UserCouponID != 0:
		c, err := holdUserCoupon(ctx, tx, userID, req.UserCouponID, now)
		if err != nil {
			return Order{}, steps, err
		}
		if discount, err = c.discount(total); err != nil {
			return Order{}, steps, err
		}
		userCouponID = &req.UserCouponID
	}

	var holdID *int64
	if req.Points > 0 {
		most := (total - discount) * int64(s.cfg.MaxPointsShare) / 100
		if req.Points > most {
			return Order{}, steps, &InputError{"points", fmt.Sprintf("at most %d points (%d%% of the price) may be used on this order", most, s.cfg.MaxPointsShare)}
		}
		ref := "order:" + strconv.FormatInt(id, 10)
		t, err := points.Hold(ctx, tx, userID, req.Points, ref+":points", ref)
		if errors.Is(err, points.ErrInsufficient) {
			return Order{}, steps, ErrInsufficientPoints
		}
		if err != nil {
			return Order{}, steps, fmt.Errorf("hold %d points for order %d: %w", req.Points, id, err)
		}
		holdID = &t.ID
	}
	pointsFen := req.Points // a point is worth one fen
	amount := total - discount - pointsFen
	expires := now.Add(s.cfg.PendingTTL)
	if amount > 0 {
		// Whatever happens next, the caller learns which steps this transaction
		// inserted, so that it can note them as committed or free them for another.
		if steps, err = s.scheduleExpiry(ctx, tx, expires); err != nil {
			return Order{}, steps, err
		}
	}
	number := newOrderNumber(now)
	b := &pgx.Batch{}
	b.Queue(orderInsertSQL, id, number, userID, total, discount, req.Points, pointsFen, amount, couponID, userCouponID, holdID, key, hash, expires).
		QueryRow(func(row pgx.Row) error {
			var err error
			o, err = scanOrder(row)
			return err
		})
	shares := splitDiscount(lines, discount+pointsFen, total)
	stored := make([]Line, len(lines))
	for i, l := range lines {
		b.Queue(lineInsertSQL, id, l.courseID, l.policyID, l.courseTitle, l.policyTitle, l.validDays, l.priceFen, l.originalFen, shares[i], userID).
			QueryRow(func(row pgx.Row) error {
				var orderID int64
				return row.Scan(append([]any{&orderID}, stored[i].fields()...)...)
			})
	}
	if amount == 0 {
		// Nothing to pay: paid at once, in the same round trip. A free order rewards no
		// inviter, so who that is does not matter here.
		free := Order{ID: id, Number: number, UserCouponID: userCouponID, userID: userID, pointsHoldID: holdID}
		if err := s.markPaid(b, free, "", payer{}); err != nil {
			return Order{}, steps, err
		}
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return Order{}, steps, fmt.Errorf("insert order %d: %w", id, err)
	}
	if amount == 0 {
		o, err = s.load(ctx, tx, userID, id) // as paid
		return o, steps, err
	}
	o.Lines = stored
	s.prepare(&o)
	return o, steps, nil
}

// splitDiscount shares discount among lines in proportion to their prices, so that a
// line can be refunded alone; no line's share exceeds its price.
func splitDiscount(lines []offer, discount, total int64) []int64 {
	shares := make([]int64, len(lines))
	if total == 0 || discount == 0 {
		return shares
	}
	left := discount
	for i, l := range lines {
		// discount × price overflows int64 past about ¥30M totals; big.Int does not
		shares[i] = new(big.Int).Div(new(big.Int).Mul(big.NewInt(discount), big.NewInt(l.priceFen)), big.NewInt(total)).Int64()
		left -= shares[i]
	}
	for left > 0 {
		for i, l := range lines {
			if left > 0 && shares[i] < l.priceFen {
				shares[i]++
				left--
			}
		}
	}
	return shares
}

// holdCouponCode takes a use of the coupon with code for an order of userID.
func (s *Shop) holdCouponCode(ctx context.Context, tx pgx.Tx, userID int64, code string, now time.Time) (Coupon, error) {
	c, err := scanCoupon(tx.QueryRow(ctx, `SELECT `+couponColumns+` FROM coupons WHERE code = $1 AND deleted_at IS NULL`, code))
	if errors.Is(err, pgx.ErrNoRows) {
		return Coupon{}, fmt.Errorf("no coupon %q: %w", code, ErrCouponUnavailable)
	}
	if err != nil {
		return Coupon{}, fmt.Errorf("read coupon %q: %w", code, err)
	}
	if err := c.usable(now); err != nil {
		return Coupon{}, err
	}
	if c.PointsPrice != nil {
		// sold for points: only an owned copy (user_coupon_id) may be used
		return Coupon{}, fmt.Errorf("coupon %q is bought with points: %w", code, ErrCouponUnavailable)
	}
	// Orders holding or having used the coupon (a refund leaves its use spent, as it
	// leaves the coupon's total count); the user lock keeps this count true until the
	// order commits.
	var uses int32
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM orders WHERE user_id = $1 AND coupon_id = $2 AND status IN ('pending', 'paid', 'refunded')`,
		userID, c.ID).Scan(&uses); err != nil {
		return Coupon{}, fmt.Errorf("count uses of coupon %q: %w", code, err)
	}
	if uses >= c.PerUserLimit {
		return Coupon{}, fmt.Errorf("coupon %q already used %d times: %w", code, uses, ErrCouponUnavailable)
	}
	return c, takeUse(ctx, tx, c.ID)
}

// holdUserCoupon marks one of the user's own coupons held by an order.
func holdUserCoupon(ctx context.Context, tx pgx.Tx, userID, userCouponID int64, now time.Time) (Coupon, error) {
	var couponID int64
	err := tx.QueryRow(ctx, `UPDATE user_coupons SET status = 'held' WHERE id = $1 AND user_id = $2 AND status = 'available'
		AND deleted_at IS NULL RETURNING coupon_id`, userCouponID, userID).Scan(&couponID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Coupon{}, fmt.Errorf("user coupon %d is not available: %w", userCouponID, ErrCouponUnavailable)
	}
	if err != nil {
		return Coupon{}, fmt.Errorf("hold user coupon %d: %w", userCouponID, err)
	}
	c, err := scanCoupon(tx.QueryRow(ctx, `SELECT `+couponColumns+` FROM coupons WHERE id = $1`, couponID))
	if err != nil {
		return Coupon{}, fmt.Errorf("read coupon %d: %w", couponID, err)
	}
	return c, c.usable(now)
}
