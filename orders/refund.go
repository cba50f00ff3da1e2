package orders

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/luffy-edu/luffy/notify"
	"github.com/luffy-edu/luffy/paysim"
	"github.com/luffy-edu/luffy/points"
)

// ErrGateway is a payment gateway that refused or did not answer a request of ours; the
// order is left as it was (502).
var ErrGateway = errors.New("payment gateway error")

// Refund returns a paid order's money and undoes what the payment granted: the gateway
// refunds the trade first (idempotent by the refund id "refund:<order id>", so a retry
// after any failure is safe), then one transaction moves the order paid → refunded,
// ends its enrollments, gives back the points it was paid with, takes back the purchase
// points it earned (as many as the buyer still has), and tells the buyer. The coupon use
// stays spent and an inviter keeps the invite reward. A refund of an order that is not
// paid, including a second refund, is ErrNotPending.
func (s *Shop) Refund(ctx context.Context, orderID int64, reason string) (Order, error) {
	o, err := s.load(ctx, s.pool, 0, orderID)
	if err != nil {
		return Order{}, err
	}
	if o.Status != StatusPaid {
		return Order{}, fmt.Errorf("refund order %d: it is %s: %w", orderID, o.Status, ErrNotPending)
	}
	// An order paid by points and coupon alone had no trade: nothing to ask the gateway.
	if o.tradeNo != nil && o.AmountFen > 0 {
		if err := s.gatewayRefund(ctx, paysim.RefundRequest{
			RefundID: "refund:" + strconv.FormatInt(o.ID, 10), OrderNumber: o.Number, TradeNo: *o.tradeNo, AmountFen: o.AmountFen,
		}); err != nil {
			return Order{}, err
		}
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		locked, err := lockOrder(ctx, tx, "id = $1", orderID)
		if err != nil {
			return err
		}
		if locked.Status != StatusPaid {
			return fmt.Errorf("refund order %d: it is %s: %w", orderID, locked.Status, ErrNotPending)
		}
		if _, err := tx.Exec(ctx, `UPDATE orders SET status = 'refunded', closed_at = now(), remark = $2 WHERE id = $1`, orderID, reason); err != nil {
			return fmt.Errorf("mark order %d refunded: %w", orderID, err)
		}
		// The enrollments first, locked: a payment of the same course granting them now
		// commits before revokeSQL reads the buyer's paid orders (a statement of its
		// own, so with a snapshot taken after the lock), and one that comes after finds
		// them revoked and grants its own access anew.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM enrollments WHERE user_id = $1 AND deleted_at IS NULL
			AND course_id IN (SELECT course_id FROM order_lines WHERE order_id = $2) ORDER BY course_id FOR UPDATE`, locked.userID, orderID); err != nil {
			return fmt.Errorf("lock the enrollments of order %d: %w", orderID, err)
		}
		if _, err := tx.Exec(ctx, revokeSQL, locked.userID, orderID); err != nil {
			return fmt.Errorf("revoke the courses of order %d: %w", orderID, err)
		}
		ref := "order:" + strconv.FormatInt(orderID, 10)
		earned := points.RuleAmount(points.RulePurchase, locked.AmountFen)
		if locked.PointsUsed > 0 || earned > 0 {
			// Giving back (spent shard, user) and taking back (the user's row, then
			// the issuance shard) would take the rows in another order than a payment
			// of the same shard or buyer does, and the two could deadlock.
			if err := points.LockAccounts(ctx, tx, locked.userID); err != nil {
				return err
			}
		}
		if locked.PointsUsed > 0 {
			if _, err := points.Return(ctx, tx, locked.userID, locked.PointsUsed, "refund:"+ref+":points", "refund", ref); err != nil {
				return err
			}
		}
		var reclaimed int64
		if earned > 0 {
			if reclaimed, err = points.Reclaim(ctx, tx, locked.userID, earned, "refund:"+ref+":earned", "refund", ref); err != nil {
				return err
			}
		}
		return notify.Send(ctx, tx, locked.userID, notify.KindRefund, "Order refunded",
			fmt.Sprintf("Order %s was refunded (%s); its courses are no longer yours.", locked.Number, yuan(locked.AmountFen)),
			map[string]any{"order_id": locked.ID, "order_number": locked.Number, "amount_fen": locked.AmountFen,
				"points_returned": locked.PointsUsed, "points_reclaimed": reclaimed},
			"refund:"+ref)
	})
	if err != nil {
		return Order{}, err
	}
	s.event(StatusRefunded)
	return s.load(ctx, s.pool, 0, orderID)
}

// revokeSQL ends the access a refunded order granted, and only that: a course the buyer
// also holds by another paid order (bought again after this one lapsed, or extended
// since) keeps the access that order gives, as if the refunded one had never been paid.
// Each paid order gave access from its payment for its policy's days, or for good, and
// access is the latest of those ends (see grantSet).
const revokeSQL = `
	WITH courses AS (
		SELECT course_id FROM order_lines WHERE order_id = $2 AND deleted_at IS NULL
	), kept AS (
		SELECT l.course_id, bool_or(l.valid_days IS NULL) AS forever, max(o.paid_at + make_interval(days => l.valid_days)) AS until
		FROM orders o JOIN order_lines l ON l.order_id = o.id
		WHERE o.user_id = $1 AND o.status = 'paid' AND o.id <> $2 AND o.deleted_at IS NULL AND l.deleted_at IS NULL
			AND l.course_id IN (SELECT course_id FROM courses)
		GROUP BY l.course_id
	)
	UPDATE enrollments e SET
		status = CASE WHEN kept.forever OR kept.until > now() THEN 'active' ELSE 'revoked' END,
		expires_at = CASE WHEN kept.forever THEN NULL WHEN kept.until > now() THEN kept.until ELSE e.expires_at END,
		updated_at = now()
	FROM courses LEFT JOIN kept USING (course_id)
	WHERE e.user_id = $1 AND e.course_id = courses.course_id AND e.status = 'active' AND e.deleted_at IS NULL`

// gatewayRefund asks the gateway to refund a trade.
func (s *Shop) gatewayRefund(ctx context.Context, r paysim.RefundRequest) error {
	body, _ := json.Marshal(r)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.GatewayURL+"/api/refunds", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrGateway, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(paysim.SignatureHeader, paysim.Sign(s.cfg.GatewaySecret, body))
	resp, err := s.http.Do(req)
	if err != nil {
		return fmt.Errorf("%w: refund of order %s: %v", ErrGateway, r.OrderNumber, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: refund of order %s: %s %s", ErrGateway, r.OrderNumber, resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}
