package orders

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/luffy-edu/luffy/jobs"
	"github.com/luffy-edu/luffy/paysim"
)

// Config says how the shop sells and whom it trusts for payment.
type Config struct {
	// PendingTTL is how long an unpaid order holds its coupon and points before it
	// expires; default 30m.
	PendingTTL time.Duration `help:"Unpaid orders expire after this." default:"30m" env:"LUFFY_ORDER_TTL"`
	// GatewayURL is the payment gateway's base URL: pay URLs point there and
	// reconciliation asks it; default the simulator on :8083.
	GatewayURL string `help:"Payment gateway base URL." default:"http://127.0.0.1:8083" env:"LUFFY_GATEWAY_URL"`
	// GatewaySecret is the HMAC-SHA256 key shared with the gateway; it signs pay URLs
	// and the gateway's callbacks.
	GatewaySecret string `help:"HMAC secret shared with the payment gateway." default:"luffy-dev-gateway-secret" env:"LUFFY_GATEWAY_SECRET"`
	// MaxPointsShare is the percentage of an order's price (after its coupon) that
	// points may pay; default 50.
	MaxPointsShare int `help:"Percent of an order's price points may pay." default:"50" env:"LUFFY_MAX_POINTS_SHARE"`
}

// Shop sells courses.
type Shop struct {
	pool *pgxpool.Pool
	enq  jobs.Enqueuer
	cfg  Config
	http *http.Client
	// reconcileAfter is how old a pending order must be before reconciliation asks the
	// gateway about it: younger ones may still get their callback. Tests shorten it.
	reconcileAfter time.Duration
	// expiryJobs are the expiry steps (by Until's Unix second) whose job this shop saw
	// commit (true) or is inserting ahead (false); expiryMu guards it.
	expiryMu   sync.Mutex
	expiryJobs map[int64]bool
	// OnEvent, when set, is told of each order event once its transaction committed:
	// created, paid, cancelled, expired or refunded (the origin counts them in /metrics).
	OnEvent func(event string)
}

// event reports an order event to OnEvent.
func (s *Shop) event(e string) {
	if s.OnEvent != nil {
		s.OnEvent(e)
	}
}

// NewShop returns a Shop over pool; zero Config fields take their defaults.
func NewShop(pool *pgxpool.Pool, enq jobs.Enqueuer, cfg Config) *Shop {
	if cfg.PendingTTL <= 0 {
		cfg.PendingTTL = 30 * time.Minute
	}
	if cfg.GatewayURL == "" {
		cfg.GatewayURL = "http://127.0.0.1:8083"
	}
	if cfg.GatewaySecret == "" {
		cfg.GatewaySecret = paysim.DefaultSecret
	}
	if cfg.MaxPointsShare <= 0 {
		cfg.MaxPointsShare = 50
	}
	if cfg.MaxPointsShare > 100 {
		cfg.MaxPointsShare = 100
	}
	return &Shop{pool: pool, enq: enq, cfg: cfg, http: &http.Client{Timeout: 10 * time.Second}, reconcileAfter: 2 * time.Minute}
}

// Errors a caller can cause; the HTTP layer maps them to statuses.
var (
	ErrNotFound = errors.New("not found")
	// ErrIdempotencyMismatch is an Idempotency-Key reused with a different request (422).
	ErrIdempotencyMismatch = errors.New("idempotency key was used with a different request")
	// ErrNotPending is a cancel or payment of an order that is no longer pending (409).
	ErrNotPending = errors.New("order is not pending")
	// ErrCouponUnavailable is a coupon that is unknown, disabled, out of its validity,
	// below its spend threshold, or used up overall or by this user.
	ErrCouponUnavailable  = errors.New("coupon unavailable")
	ErrInsufficientPoints = errors.New("not enough points")
	// ErrBadSignature is a payment callback whose signature does not verify (401).
	ErrBadSignature = errors.New("bad gateway signature")
	// ErrEmpty is an order with no items and an empty cart.
	ErrEmpty = errors.New("nothing to order: the cart is empty")
)

// InputError says which field of a request is wrong and why (400).
type InputError struct{ Field, Reason string }

func (e *InputError) Error() string { return e.Field + ": " + e.Reason }

// Order statuses.
const (
	StatusPending   = "pending"
	StatusPaid      = "paid"
	StatusCancelled = "cancelled"
	StatusExpired   = "expired"
	StatusRefunded  = "refunded"
)

// Order is an order as its buyer sees it.
type Order struct {
	ID                int64      `json:"id"`
	Number            string     `json:"number"`
	Status            string     `json:"status"`
	TotalFen          int64      `json:"total_fen"`
	CouponDiscountFen int64      `json:"coupon_discount_fen"`
	PointsUsed        int64      `json:"points_used"`
	PointsFen         int64      `json:"points_fen"`
	AmountFen         int64      `json:"amount_fen"`
	CouponID          *int64     `json:"coupon_id,omitempty"`
	UserCouponID      *int64     `json:"user_coupon_id,omitempty"`
	PayURL            string     `json:"pay_url"` // set while pending
	ExpiresAt         time.Time  `json:"expires_at"`
	PaidAt            *time.Time `json:"paid_at"`
	ClosedAt          *time.Time `json:"closed_at"`
	Lines             []Line     `json:"lines"`
	CreatedAt         time.Time  `json:"created_at"`

	userID       int64
	pointsHoldID *int64
	tradeNo      *string
	requestHash  []byte
}

// Line is one course of an order, with its price as it was when ordered.
type Line struct {
	ID               int64  `json:"id"`
	CourseID         int64  `json:"course_id"`
	PricePolicyID    int64  `json:"price_policy_id"`
	CourseTitle      string `json:"course_title"`
	PolicyTitle      string `json:"policy_title"`
	ValidDays        *int32 `json:"valid_days"` // nil: access for good
	ListPriceFen     int64  `json:"list_price_fen"`
	OriginalPriceFen int64  `json:"original_price_fen"`
	// DiscountFen is this line's share of the coupon and points discounts.
	DiscountFen int64 `json:"discount_fen"`
}

const orderColumns = `id, number, user_id, status, total_fen, coupon_discount_fen, points_used, points_fen, amount_fen,
	coupon_id, user_coupon_id, points_hold_id, expires_at, paid_at, closed_at, gateway_trade_no, created_at, request_hash`

// scanOrder reads a row of orderColumns, followed by the columns extra points to.
func scanOrder(row pgx.Row, extra ...any) (Order, error) {
	var o Order
	err := row.Scan(append([]any{&o.ID, &o.Number, &o.userID, &o.Status, &o.TotalFen, &o.CouponDiscountFen, &o.PointsUsed, &o.PointsFen,
		&o.AmountFen, &o.CouponID, &o.UserCouponID, &o.pointsHoldID, &o.ExpiresAt, &o.PaidAt, &o.ClosedAt, &o.tradeNo,
		&o.CreatedAt, &o.requestHash}, extra...)...)
	return o, err
}

// querier is a pgx.Tx or the pool.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// batcher is a pgx.Tx or the pool: what sends a pipelined batch of statements.
type batcher interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// withLines fills in the lines and pay URLs of orders.
func (s *Shop) withLines(ctx context.Context, q querier, orders []Order) error {
	if len(orders) == 0 {
		return nil
	}
	ids := make([]int64, len(orders))
	for i := range orders {
		ids[i] = orders[i].ID
	}
	rows, err := q.Query(ctx, linesSQL, ids)
	if err != nil {
		return fmt.Errorf("order lines: %w", err)
	}
	return s.scanLines(rows, orders)
}

// lineColumns are an order line's columns: its order's id, then Line.fields.
const lineColumns = `order_id, id, course_id, price_policy_id, course_title, policy_title, valid_days,
	list_price_fen, original_price_fen, discount_fen`

// fields are where a row of lineColumns after the order's id goes.
func (l *Line) fields() []any {
	return []any{&l.ID, &l.CourseID, &l.PricePolicyID, &l.CourseTitle, &l.PolicyTitle, &l.ValidDays,
		&l.ListPriceFen, &l.OriginalPriceFen, &l.DiscountFen}
}

const linesSQL = `SELECT ` + lineColumns + ` FROM order_lines WHERE order_id = ANY($1) ORDER BY id`

// orderLinesSQL is linesSQL for one order, which Postgres plans once.
const orderLinesSQL = `SELECT ` + lineColumns + ` FROM order_lines WHERE order_id = $1 ORDER BY id`

// scanLines reads the rows of linesSQL into orders, sets their pay URLs, and closes rows.
func (s *Shop) scanLines(rows pgx.Rows, orders []Order) error {
	at := make(map[int64]int, len(orders))
	for i := range orders {
		at[orders[i].ID] = i
		orders[i].Lines = []Line{}
		s.prepare(&orders[i])
	}
	var oid int64
	var l Line
	_, err := pgx.ForEachRow(rows, append([]any{&oid}, l.fields()...), func() error {
		if i, ok := at[oid]; ok {
			orders[i].Lines = append(orders[i].Lines, l)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("order lines: %w", err)
	}
	return nil
}

// prepare readies an order read from the database for its buyer: no lines is [], and a
// pending order has its pay URL.
func (s *Shop) prepare(o *Order) {
	if o.Lines == nil {
		o.Lines = []Line{}
	}
	if o.Status == StatusPending {
		o.PayURL = s.payURL(o.Number, o.AmountFen)
	}
}

func (s *Shop) payURL(number string, amountFen int64) string {
	return fmt.Sprintf("%s/pay/%s?amount_fen=%d&sig=%s", s.cfg.GatewayURL, number, amountFen,
		paysim.PaySignature(s.cfg.GatewaySecret, number, amountFen))
}

// load reads one order of userID (any user's with userID 0) with its lines.
func (s *Shop) load(ctx context.Context, q batcher, userID, orderID int64) (Order, error) {
	var o Order
	b := &pgx.Batch{}
	s.queueLoad(b, userID, orderID, &o)
	if err := q.SendBatch(ctx, b).Close(); err != nil {
		return Order{}, err
	}
	return o, nil
}

// queueLoad queues on b the reads of one order of userID (any user's with userID 0) and
// its lines into o; the batch fails with ErrNotFound when there is no such order.
func (s *Shop) queueLoad(b *pgx.Batch, userID, orderID int64, o *Order) {
	b.Queue(`SELECT `+orderColumns+` FROM orders WHERE id = $1 AND ($2 = 0 OR user_id = $2) AND deleted_at IS NULL`, orderID, userID).
		QueryRow(func(row pgx.Row) error {
			var err error
			*o, err = scanOrder(row)
			if errors.Is(err, pgx.ErrNoRows) {
				return ErrNotFound
			}
			if err != nil {
				return fmt.Errorf("load order %d: %w", orderID, err)
			}
			return nil
		})
	b.Queue(orderLinesSQL, orderID).Query(func(rows pgx.Rows) error {
		one := []Order{*o}
		if err := s.scanLines(rows, one); err != nil {
			return err
		}
		*o = one[0]
		return nil
	})
}

// Get returns one of the user's orders; another user's is ErrNotFound.
func (s *Shop) Get(ctx context.Context, userID, orderID int64) (Order, error) {
	if userID <= 0 {
		return Order{}, ErrNotFound
	}
	return s.load(ctx, s.pool, userID, orderID)
}

// List returns the user's orders newest first, with id < beforeID (0: from the newest).
func (s *Shop) List(ctx context.Context, userID, beforeID int64, limit int) ([]Order, error) {
	if limit <= 0 || limit > 500 {
		limit = 20
	}
	if beforeID <= 0 {
		beforeID = 1<<63 - 1
	}
	rows, err := s.pool.Query(ctx, `SELECT `+orderColumns+` FROM orders
		WHERE user_id = $1 AND id < $2 AND deleted_at IS NULL ORDER BY id DESC LIMIT $3`, userID, beforeID, limit)
	if err != nil {
		return nil, fmt.Errorf("list orders of user %d: %w", userID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Order, error) { return scanOrder(r) })
	if err != nil {
		return nil, fmt.Errorf("list orders of user %d: %w", userID, err)
	}
	if out == nil {
		out = []Order{}
	}
	return out, s.withLines(ctx, s.pool, out)
}

// lockOrderSQL reads and locks an order row for a status change.
func lockOrderSQL(where string) string {
	return `SELECT ` + orderColumns + ` FROM orders WHERE ` + where + ` AND deleted_at IS NULL FOR UPDATE`
}

// lockOrder locks an order row for a status change.
func lockOrder(ctx context.Context, tx pgx.Tx, where string, arg any) (Order, error) {
	o, err := scanOrder(tx.QueryRow(ctx, lockOrderSQL(where), arg))
	if errors.Is(err, pgx.ErrNoRows) {
		return Order{}, ErrNotFound
	}
	return o, err
}
