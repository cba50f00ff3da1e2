package orders

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/luffy-edu/luffy/notify"
	"github.com/luffy-edu/luffy/points"
	"github.com/luffy-edu/luffy/storage"
)

// Coupon kinds.
const (
	CouponFixed     = "fixed"     // AmountFen off
	CouponThreshold = "threshold" // AmountFen off when the order's total reaches ThresholdFen
	CouponPercent   = "percent"   // PercentOff percent off
)

// Coupon is a discount redeemable by code, or bought with points (PointsPrice) into a
// user's own UserCoupon.
type Coupon struct {
	ID           int64     `json:"id"`
	Code         string    `json:"code"`
	Title        string    `json:"title"`
	Kind         string    `json:"kind"`
	AmountFen    int64     `json:"amount_fen"`
	ThresholdFen int64     `json:"threshold_fen"` // the least total the coupon applies to, for every kind
	PercentOff   int32     `json:"percent_off"`
	ValidFrom    time.Time `json:"valid_from"`
	ValidUntil   time.Time `json:"valid_until"`
	// TotalLimit caps uses by code plus copies bought with points; nil: no cap. A pending
	// order holds a use until it is paid or closed.
	TotalLimit   *int32    `json:"total_limit"`
	PerUserLimit int32     `json:"per_user_limit"`
	UsedCount    int32     `json:"used_count"`
	PointsPrice  *int64    `json:"points_price"` // nil: not for sale for points
	Status       string    `json:"status"`
	SortCode     int32     `json:"sort_code"`
	Remark       string    `json:"remark"`
	CreatedAt    time.Time `json:"created_at"`
}

// UserCoupon is a coupon a user owns, usable once.
type UserCoupon struct {
	ID        int64     `json:"id"`
	UserID    int64     `json:"user_id"`
	CouponID  int64     `json:"coupon_id"`
	Status    string    `json:"status"` // available, held, used, expired
	CreatedAt time.Time `json:"created_at"`
	Coupon    Coupon    `json:"coupon"`
}

const couponColumns = `id, code, title, kind, amount_fen, threshold_fen, percent_off, valid_from, valid_until, total_limit,
	per_user_limit, used_count, points_price, status, sort_code, remark, created_at`

func scanCoupon(row pgx.Row) (Coupon, error) {
	var c Coupon
	err := row.Scan(&c.ID, &c.Code, &c.Title, &c.Kind, &c.AmountFen, &c.ThresholdFen, &c.PercentOff, &c.ValidFrom, &c.ValidUntil,
		&c.TotalLimit, &c.PerUserLimit, &c.UsedCount, &c.PointsPrice, &c.Status, &c.SortCode, &c.Remark, &c.CreatedAt)
	return c, err
}

var couponCode = regexp.MustCompile(`^[A-Za-z0-9_-]{3,32}$`)

// CreateCoupon adds a coupon. A zero ValidFrom means now, a zero PerUserLimit 1 and an
// empty Status enabled.
func (s *Shop) CreateCoupon(ctx context.Context, c Coupon) (Coupon, error) {
	if c.ValidFrom.IsZero() {
		c.ValidFrom = time.Now()
	}
	if c.PerUserLimit == 0 {
		c.PerUserLimit = 1
	}
	if c.Status == "" {
		c.Status = "enabled"
	}
	switch {
	case !couponCode.MatchString(c.Code):
		return Coupon{}, &InputError{"code", "3 to 32 letters, digits, _ or -"}
	case c.Kind != CouponFixed && c.Kind != CouponThreshold && c.Kind != CouponPercent:
		return Coupon{}, &InputError{"kind", "fixed, threshold or percent"}
	case c.Kind != CouponPercent && c.AmountFen <= 0:
		return Coupon{}, &InputError{"amount_fen", "must be positive"}
	case c.Kind == CouponPercent && (c.PercentOff <= 0 || c.PercentOff > 99):
		return Coupon{}, &InputError{"percent_off", "1 to 99"}
	case c.Kind == CouponThreshold && c.ThresholdFen <= 0:
		return Coupon{}, &InputError{"threshold_fen", "must be positive"}
	case c.ThresholdFen < 0 || c.AmountFen < 0:
		return Coupon{}, &InputError{"amount_fen", "must not be negative"}
	case !c.ValidUntil.After(c.ValidFrom):
		return Coupon{}, &InputError{"valid_until", "must be after valid_from"}
	case c.TotalLimit != nil && *c.TotalLimit < 0:
		return Coupon{}, &InputError{"total_limit", "must not be negative"}
	case c.PerUserLimit < 0:
		return Coupon{}, &InputError{"per_user_limit", "must be positive"}
	case c.PointsPrice != nil && *c.PointsPrice <= 0:
		return Coupon{}, &InputError{"points_price", "must be positive"}
	case c.Status != "enabled" && c.Status != "disabled":
		return Coupon{}, &InputError{"status", "enabled or disabled"}
	}
	out, err := scanCoupon(s.pool.QueryRow(ctx, `
		INSERT INTO coupons (code, title, kind, amount_fen, threshold_fen, percent_off, valid_from, valid_until, total_limit,
			per_user_limit, points_price, status, sort_code, remark)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING `+couponColumns,
		c.Code, c.Title, c.Kind, c.AmountFen, c.ThresholdFen, c.PercentOff, c.ValidFrom, c.ValidUntil, c.TotalLimit,
		c.PerUserLimit, c.PointsPrice, c.Status, c.SortCode, c.Remark))
	if storage.IsUniqueViolation(err) {
		return Coupon{}, &InputError{"code", "taken"}
	}
	if err != nil {
		return Coupon{}, fmt.Errorf("create coupon %q: %w", c.Code, err)
	}
	return out, nil
}

// isCheckViolation reports whether err is the database refusing a row its CHECKs forbid,
// here a coupon's used_count going past its total_limit.
func isCheckViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23514"
}

// takeUse counts one more use of a coupon; the row's CHECK refuses it past total_limit,
// and the row lock orders concurrent takers.
func takeUse(ctx context.Context, tx pgx.Tx, couponID int64) error {
	tag, err := tx.Exec(ctx, `UPDATE coupons SET used_count = used_count + 1 WHERE id = $1`, couponID)
	if isCheckViolation(err) {
		return fmt.Errorf("coupon %d used up: %w", couponID, ErrCouponUnavailable)
	}
	if err != nil {
		return fmt.Errorf("take a use of coupon %d: %w", couponID, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrCouponUnavailable
	}
	return nil
}

// usable says why c cannot be applied now, if it cannot.
func (c Coupon) usable(now time.Time) error {
	switch {
	case c.Status != "enabled":
		return fmt.Errorf("coupon %q is disabled: %w", c.Code, ErrCouponUnavailable)
	case now.Before(c.ValidFrom) || !now.Before(c.ValidUntil):
		return fmt.Errorf("coupon %q is not valid now: %w", c.Code, ErrCouponUnavailable)
	}
	return nil
}

// discount is what c takes off totalFen.
func (c Coupon) discount(totalFen int64) (int64, error) {
	if totalFen < c.ThresholdFen {
		return 0, fmt.Errorf("coupon %q needs a total of at least %d fen: %w", c.Code, c.ThresholdFen, ErrCouponUnavailable)
	}
	var d int64
	switch c.Kind {
	case CouponFixed, CouponThreshold:
		d = c.AmountFen
	case CouponPercent:
		d = totalFen * int64(c.PercentOff) / 100
	}
	return min(d, totalFen), nil
}

// BuyCouponWithPoints spends the coupon's points price and gives the user a copy of it,
// in one transaction. A retry with the same clientID returns the same user coupon.
func (s *Shop) BuyCouponWithPoints(ctx context.Context, userID, couponID int64, clientID string) (UserCoupon, error) {
	if clientID == "" || len(clientID) > 64 {
		return UserCoupon{}, &InputError{"client_id", "1 to 64 characters"}
	}
	transferID := "coupon:" + strconv.FormatInt(userID, 10) + ":" + clientID
	var uc UserCoupon
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Two requests with one client id run one after the other, so the second finds
		// the first's purchase.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 7261006))`, transferID); err != nil {
			return err
		}
		var ref string
		err := tx.QueryRow(ctx, `SELECT ref FROM points_transfers WHERE client_id = $1`, transferID).Scan(&ref)
		if err == nil {
			id, _ := strconv.ParseInt(ref[len("user_coupon:"):], 10, 64)
			uc, err = userCoupon(ctx, tx, userID, id)
			return err
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("find purchase %q: %w", transferID, err)
		}
		c, err := scanCoupon(tx.QueryRow(ctx, `SELECT `+couponColumns+` FROM coupons WHERE id = $1 AND deleted_at IS NULL FOR UPDATE`, couponID))
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("read coupon %d: %w", couponID, err)
		}
		if c.PointsPrice == nil {
			return fmt.Errorf("coupon %q is not sold for points: %w", c.Code, ErrCouponUnavailable)
		}
		if err := c.usable(time.Now()); err != nil {
			return err
		}
		var owned int32
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM user_coupons WHERE user_id = $1 AND coupon_id = $2 AND deleted_at IS NULL`,
			userID, couponID).Scan(&owned); err != nil {
			return fmt.Errorf("count coupons of user %d: %w", userID, err)
		}
		if owned >= c.PerUserLimit {
			return fmt.Errorf("user %d owns coupon %q %d times: %w", userID, c.Code, owned, ErrCouponUnavailable)
		}
		if err := takeUse(ctx, tx, couponID); err != nil {
			return err
		}
		var id int64
		if err := tx.QueryRow(ctx, `INSERT INTO user_coupons (user_id, coupon_id, created_by, created_by_name)
			VALUES ($1, $2, $1, 'points') RETURNING id`, userID, couponID).Scan(&id); err != nil {
			return fmt.Errorf("give coupon %d to user %d: %w", couponID, userID, err)
		}
		_, err = points.Spend(ctx, tx, userID, *c.PointsPrice, transferID, "coupon", "user_coupon:"+strconv.FormatInt(id, 10))
		if errors.Is(err, points.ErrInsufficient) {
			return ErrInsufficientPoints
		}
		if err != nil {
			return fmt.Errorf("spend points on coupon %d: %w", couponID, err)
		}
		if err := notify.Send(ctx, tx, userID, notify.KindPoints, "Coupon bought with points",
			fmt.Sprintf("%d points paid for coupon %s.", *c.PointsPrice, cmp.Or(c.Title, c.Code)),
			map[string]any{"points": -*c.PointsPrice, "coupon_id": couponID, "user_coupon_id": id}, "points:"+transferID); err != nil {
			return err
		}
		uc, err = userCoupon(ctx, tx, userID, id)
		return err
	})
	return uc, err
}

func userCoupon(ctx context.Context, q querier, userID, id int64) (UserCoupon, error) {
	uc, err := scanUserCoupon(q.QueryRow(ctx, `SELECT `+userCouponColumns+`
		FROM user_coupons u JOIN coupons c ON c.id = u.coupon_id WHERE u.id = $1 AND u.user_id = $2 AND u.deleted_at IS NULL`, id, userID))
	if errors.Is(err, pgx.ErrNoRows) {
		return UserCoupon{}, ErrNotFound
	}
	if err != nil {
		return UserCoupon{}, fmt.Errorf("read user coupon %d: %w", id, err)
	}
	return uc, nil
}

var userCouponColumns = `u.id, u.user_id, u.coupon_id, u.status, u.created_at, ` + prefixed("c.", couponColumns)

func scanUserCoupon(row pgx.Row) (UserCoupon, error) {
	var uc UserCoupon
	c := &uc.Coupon
	err := row.Scan(&uc.ID, &uc.UserID, &uc.CouponID, &uc.Status, &uc.CreatedAt,
		&c.ID, &c.Code, &c.Title, &c.Kind, &c.AmountFen, &c.ThresholdFen, &c.PercentOff, &c.ValidFrom, &c.ValidUntil,
		&c.TotalLimit, &c.PerUserLimit, &c.UsedCount, &c.PointsPrice, &c.Status, &c.SortCode, &c.Remark, &c.CreatedAt)
	return uc, err
}

// prefixed qualifies a column list with a table alias.
func prefixed(alias, columns string) string {
	var out []byte
	start := true
	for i := 0; i < len(columns); i++ {
		ch := columns[i]
		if start && ch != ' ' && ch != '\t' && ch != '\n' {
			out = append(out, alias...)
			start = false
		}
		out = append(out, ch)
		if ch == ',' {
			start = true
		}
	}
	return string(out)
}

// Coupons lists every coupon, newest first, with id < beforeID (0: from the newest), for
// admins.
func (s *Shop) Coupons(ctx context.Context, beforeID int64, limit int) ([]Coupon, error) {
	if beforeID <= 0 {
		beforeID = 1<<63 - 1
	}
	rows, err := s.pool.Query(ctx, `SELECT `+couponColumns+` FROM coupons WHERE id < $1 AND deleted_at IS NULL ORDER BY id DESC LIMIT $2`, beforeID, limit)
	if err != nil {
		return nil, fmt.Errorf("list coupons: %w", err)
	}
	return collectCoupons(rows)
}

// CouponsForSale lists the coupons a user can buy with points now: enabled, valid, and
// not used up; cheapest first.
func (s *Shop) CouponsForSale(ctx context.Context) ([]Coupon, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+couponColumns+` FROM coupons
		WHERE points_price IS NOT NULL AND status = 'enabled' AND deleted_at IS NULL AND valid_from <= now() AND valid_until > now()
			AND (total_limit IS NULL OR used_count < total_limit)
		ORDER BY sort_code, points_price, id LIMIT 200`)
	if err != nil {
		return nil, fmt.Errorf("list coupons for sale: %w", err)
	}
	return collectCoupons(rows)
}

func collectCoupons(rows pgx.Rows) ([]Coupon, error) {
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Coupon, error) { return scanCoupon(r) })
	if err != nil {
		return nil, fmt.Errorf("read coupons: %w", err)
	}
	if out == nil {
		out = []Coupon{}
	}
	return out, nil
}

// UserCoupons lists the coupons a user owns, newest first: available ones to use on an
// order (user_coupon_id), and held, used and expired ones for the record.
func (s *Shop) UserCoupons(ctx context.Context, userID int64) ([]UserCoupon, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+userCouponColumns+`
		FROM user_coupons u JOIN coupons c ON c.id = u.coupon_id WHERE u.user_id = $1 AND u.deleted_at IS NULL
		ORDER BY u.id DESC LIMIT 500`, userID)
	if err != nil {
		return nil, fmt.Errorf("list coupons of user %d: %w", userID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (UserCoupon, error) { return scanUserCoupon(r) })
	if err != nil {
		return nil, fmt.Errorf("list coupons of user %d: %w", userID, err)
	}
	if out == nil {
		out = []UserCoupon{}
	}
	return out, nil
}

// SetCouponStatus enables or disables a coupon. A disabled coupon can no longer be put
// on an order or bought; orders already holding it keep their discount.
func (s *Shop) SetCouponStatus(ctx context.Context, id int64, status string) (Coupon, error) {
	if status != "enabled" && status != "disabled" {
		return Coupon{}, &InputError{"status", "enabled or disabled"}
	}
	c, err := scanCoupon(s.pool.QueryRow(ctx, `UPDATE coupons SET status = $2 WHERE id = $1 AND deleted_at IS NULL RETURNING `+couponColumns, id, status))
	if errors.Is(err, pgx.ErrNoRows) {
		return Coupon{}, ErrNotFound
	}
	if err != nil {
		return Coupon{}, fmt.Errorf("set status of coupon %d: %w", id, err)
	}
	return c, nil
}
