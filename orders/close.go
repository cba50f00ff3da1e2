package orders

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/luffy-edu/luffy/notify"
	"github.com/luffy-edu/luffy/points"
)

// Cancel closes one of the user's pending orders, giving back its coupon and points.
// Another user's order is ErrNotFound; an order no longer pending, ErrNotPending.
func (s *Shop) Cancel(ctx context.Context, userID, orderID int64) (Order, error) {
	var o Order
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		locked, err := lockOrder(ctx, tx, "id = $1", orderID)
		if err != nil {
			return err
		}
		if locked.userID != userID {
			return ErrNotFound
		}
		if locked.Status != StatusPending {
			return ErrNotPending
		}
		if err := closeOrder(ctx, tx, locked, StatusCancelled); err != nil {
			return err
		}
		o, err = s.load(ctx, tx, userID, orderID)
		return err
	})
	if err == nil {
		s.event(StatusCancelled)
	}
	return o, err
}

// Expire closes an order whose time to pay has run out; it is the expiry job, and
// reports false when the order was no longer pending or not yet due.
func (s *Shop) Expire(ctx context.Context, orderID int64) (bool, error) {
	ok, _, err := s.expire(ctx, orderID)
	return ok, err
}

// expire is Expire that also says how long until a pending order is due, so that a job
// that runs early (clocks differ) waits rather than leaving the order to the sweep.
func (s *Shop) expire(ctx context.Context, orderID int64) (expired bool, dueIn time.Duration, err error) {
	// A payment whose callback was lost (the origin down through the gateway's retries)
	// would otherwise be closed here with the money taken: ask the gateway first. If it
	// cannot answer, the order expires, and a callback arriving later is recorded as
	// late with a refund notice. A trade the payment does not apply to (another amount)
	// leaves the order pending, and it expires below like any unpaid one.
	var number string
	var due bool
	if s.pool.QueryRow(ctx, `SELECT number, expires_at <= now() FROM orders WHERE id = $1 AND status = 'pending'`, orderID).Scan(&number, &due) == nil && due {
		if ev, body, askErr := s.askGateway(ctx, number); askErr == nil && ev.Status == "paid" {
			if _, err := s.applyEvent(ctx, ev, body); err != nil {
				return false, 0, fmt.Errorf("apply the trade of expiring order %s: %w", number, err)
			}
		}
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		o, err := lockOrder(ctx, tx, "id = $1", orderID)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if o.Status != StatusPending {
			return nil
		}
		var left float64 // seconds, by the database's clock
		if err := tx.QueryRow(ctx, `SELECT extract(epoch FROM expires_at - now())::float8 FROM orders WHERE id = $1`, orderID).Scan(&left); err != nil {
			return fmt.Errorf("time left on order %d: %w", orderID, err)
		}
		if left > 0 {
			dueIn = time.Duration(left*float64(time.Second)) + time.Millisecond
			return nil
		}
		expired = true
		return closeOrder(ctx, tx, o, StatusExpired)
	})
	if err != nil {
		return false, 0, fmt.Errorf("expire order %d: %w", orderID, err)
	}
	if expired {
		s.event(StatusExpired)
	}
	return expired, dueIn, nil
}

// closeOrder moves a locked pending order to status (cancelled or expired) and gives back
// what it held. The guarded update and the row lock make a second close a no-op, so the
// points hold is voided once.
func closeOrder(ctx context.Context, tx pgx.Tx, o Order, status string) error {
	tag, err := tx.Exec(ctx, `UPDATE orders SET status = $2, closed_at = now() WHERE id = $1 AND status = 'pending'`, o.ID, status)
	if err != nil {
		return fmt.Errorf("close order %d: %w", o.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotPending
	}
	if o.CouponID != nil {
		if _, err := tx.Exec(ctx, `UPDATE coupons SET used_count = used_count - 1 WHERE id = $1 AND used_count > 0`, *o.CouponID); err != nil {
			return fmt.Errorf("release coupon of order %d: %w", o.ID, err)
		}
	}
	if o.UserCouponID != nil {
		if _, err := tx.Exec(ctx, `UPDATE user_coupons SET status = 'available' WHERE id = $1 AND status = 'held'`, *o.UserCouponID); err != nil {
			return fmt.Errorf("release user coupon of order %d: %w", o.ID, err)
		}
	}
	if o.pointsHoldID != nil {
		if err := points.Void(ctx, tx, *o.pointsHoldID); err != nil {
			return fmt.Errorf("void points hold of order %d: %w", o.ID, err)
		}
	}
	title, body := "Order cancelled", "You cancelled order %s."
	if status == StatusExpired {
		title, body = "Order expired", "Order %s was not paid in time and has been closed."
	}
	if o.PointsUsed > 0 {
		body += fmt.Sprintf(" %d points are back in your balance.", o.PointsUsed)
	}
	return notify.Send(ctx, tx, o.userID, notify.KindOrder, title, fmt.Sprintf(body, o.Number),
		map[string]any{"order_id": o.ID, "order_number": o.Number, "status": status},
		"closed:"+strconv.FormatInt(o.ID, 10))
}
