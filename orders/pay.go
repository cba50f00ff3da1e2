package orders

import (
	"cmp"
	"context"
	"crypto/hmac"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/luffy-edu/luffy/notify"
	"github.com/luffy-edu/luffy/paysim"
	"github.com/luffy-edu/luffy/points"
)

// Outcomes of a payment notification, stored on its payment_events row.
const (
	OutcomePaid           = "paid"
	OutcomeDuplicate      = "duplicate"       // this gateway event was seen before
	OutcomeUnknownOrder   = "unknown_order"   // no order has this number
	OutcomeAmountMismatch = "amount_mismatch" // the gateway took another amount; the order is untouched, a job gives it back
	OutcomeLate           = "late"            // the order was closed (or paid by another trade) first; a refund is due
	OutcomeIgnored        = "ignored"         // a status other than paid
)

// maxGatewayID bounds the ids a gateway event names.
const maxGatewayID = 128

// paymentEvent is the body of a gateway notification.
type paymentEvent struct {
	EventID     string `json:"event_id"`
	OrderNumber string `json:"order_number"`
	TradeNo     string `json:"trade_no"`
	AmountFen   int64  `json:"amount_fen"`
	Status      string `json:"status"`
}

// HandleCallback applies the gateway's notification: body is the raw request body and
// signatureHex its X-Luffy-Signature header. It is safe to receive any number of times,
// in any order with the order's own cancel and expiry.
func (s *Shop) HandleCallback(ctx context.Context, body []byte, signatureHex string) (string, error) {
	sig, err := hex.DecodeString(signatureHex)
	want, _ := hex.DecodeString(paysim.Sign(s.cfg.GatewaySecret, body))
	if err != nil || !hmac.Equal(sig, want) {
		return "", ErrBadSignature
	}
	var ev paymentEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		return "", &InputError{"body", "not a payment event: " + err.Error()}
	}
	if ev.EventID == "" || ev.OrderNumber == "" {
		return "", &InputError{"body", "event_id and order_number are required"}
	}
	// A gateway's ids are short; a longer one could not be kept in the unique index of
	// events, and would fail the insert on every retry.
	if len(ev.EventID) > maxGatewayID || len(ev.OrderNumber) > maxGatewayID || len(ev.TradeNo) > maxGatewayID {
		return "", &InputError{"body", fmt.Sprintf("event_id, order_number and trade_no are at most %d bytes", maxGatewayID)}
	}
	return s.applyEvent(ctx, ev, body)
}

// errDuplicateEvent is the unique key of payment events refusing a second record of one
// gateway event: a concurrent delivery recorded it first.
var errDuplicateEvent = errors.New("payment event recorded by a concurrent delivery")

// payLockSQL locks the order a payment names and reads what its points need: who invited
// the buyer, and the points accounts of both (null where there is none yet).
const payLockSQL = `SELECT ` + orderColumns + `, inv.invited_by,
		(SELECT id FROM points_accounts WHERE user_id = o.user_id), (SELECT id FROM points_accounts WHERE user_id = inv.invited_by)
	FROM orders o, LATERAL (SELECT invited_by FROM users WHERE id = o.user_id) inv
	WHERE o.number = $1 AND o.deleted_at IS NULL FOR UPDATE OF o`

// payer is what a payment needs to know of its buyer beyond the order: who invited them,
// and the points accounts of both (nil: none yet).
type payer struct {
	inviter                 *int64
	account, inviterAccount *int64
}

// applyEvent records a gateway event once and, the first time, applies it. A payment
// takes four round trips to the database: begin; the order's lock; the event with its
// outcome, the order's paid state, enrollment, cart, points and notifications; commit.
//
// The event goes in first in the last batch, with no ON CONFLICT: a delivery seen before
// fails there on the event's unique key, and its transaction rolls back whatever it was
// about to do, as a duplicate. A delivery racing the first one waits on the order's lock
// (or, with no order to lock, on the unique key) and then fails the same way.
func (s *Shop) applyEvent(ctx context.Context, ev paymentEvent, body []byte) (string, error) {
	var outcome string
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var o Order
		var p payer
		found := false
		if ev.Status == "paid" {
			var err error
			o, err = scanOrder(tx.QueryRow(ctx, payLockSQL, ev.OrderNumber), &p.inviter, &p.account, &p.inviterAccount)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("lock order %q: %w", ev.OrderNumber, err)
			}
			found = err == nil
		}
		final := &pgx.Batch{}
		var err error
		switch {
		case ev.Status != "paid":
			outcome = OutcomeIgnored
		case !found:
			outcome = OutcomeUnknownOrder
		default:
			outcome, err = s.paymentOutcome(ctx, tx, ev, o)
			if err != nil {
				return err
			}
		}
		final.Queue(`INSERT INTO payment_events (gateway_event_id, order_number, trade_no, amount_fen, outcome, body)
			VALUES ($1, $2, $3, $4, $5, $6)`, ev.EventID, ev.OrderNumber, ev.TradeNo, ev.AmountFen, outcome, string(body))
		switch outcome {
		case OutcomePaid:
			if err := s.markPaid(final, o, ev.TradeNo, p); err != nil {
				return err
			}
		case OutcomeAmountMismatch:
			if ev.AmountFen > 0 {
				if err := notify.Queue(final, o.userID, notify.KindRefund, "Payment of the wrong amount",
					fmt.Sprintf("A payment of %s arrived for order %s, which costs %s; it will be refunded, and the order is still to pay.",
						yuan(ev.AmountFen), o.Number, yuan(o.AmountFen)),
					map[string]any{"order_id": o.ID, "order_number": o.Number, "trade_no": ev.TradeNo, "amount_fen": ev.AmountFen},
					"refund:"+ev.EventID); err != nil {
					return err
				}
			}
		case OutcomeLate:
			if err := notify.Queue(final, o.userID, notify.KindRefund, "Payment received for a closed order",
				fmt.Sprintf("Order %s was %s before your payment of %s arrived; the payment will be refunded.", o.Number, o.Status, yuan(ev.AmountFen)),
				map[string]any{"order_id": o.ID, "order_number": o.Number, "trade_no": ev.TradeNo, "amount_fen": ev.AmountFen},
				"refund:"+ev.EventID); err != nil {
				return err
			}
		}
		err = tx.SendBatch(ctx, final).Close()
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == "payment_events_gateway_event" {
			return errDuplicateEvent
		}
		return err
	})
	if errors.Is(err, errDuplicateEvent) {
		return OutcomeDuplicate, nil
	}
	if err != nil {
		return "", err
	}
	if outcome == OutcomePaid {
		s.event(StatusPaid)
	}
	return outcome, nil
}

// paymentOutcome decides what a paid event does to its locked order o. Money for an order
// already closed (or paid by another trade) leaves the order as it is, and a job gives it
// back.
func (s *Shop) paymentOutcome(ctx context.Context, tx pgx.Tx, ev paymentEvent, o Order) (string, error) {
	if ev.AmountFen != o.AmountFen {
		// The order is left to be paid (or to expire); the money taken goes back.
		if ev.AmountFen > 0 {
			if _, err := s.enq.InsertTx(ctx, tx, RefundLateArgs{EventID: ev.EventID, OrderNumber: o.Number, TradeNo: ev.TradeNo, AmountFen: ev.AmountFen,
				UserID: o.userID, Reason: refundWrongAmount}, nil); err != nil {
				return "", fmt.Errorf("schedule refund of payment %q of the wrong amount: %w", ev.EventID, err)
			}
		}
		return OutcomeAmountMismatch, nil
	}
	if o.Status == StatusPending {
		return OutcomePaid, nil
	}
	if o.tradeNo != nil && *o.tradeNo == ev.TradeNo {
		return OutcomeDuplicate, nil // the same trade under a new event id
	}
	if _, err := s.enq.InsertTx(ctx, tx, RefundLateArgs{EventID: ev.EventID, OrderNumber: o.Number, TradeNo: ev.TradeNo, AmountFen: ev.AmountFen, UserID: o.userID}, nil); err != nil {
		return "", fmt.Errorf("schedule refund of late payment %q: %w", ev.EventID, err)
	}
	return OutcomeLate, nil
}

func yuan(fen int64) string { return fmt.Sprintf("¥%d.%02d", fen/100, fen%100) }

// markPaid queues on b the paid path of a pending order that the caller holds locked (or
// has just inserted): the paid state, the courses, the coupon, the points hold, the
// purchase and invite awards, and the notices. The batch fails if the order is no longer
// pending.
func (s *Shop) markPaid(b *pgx.Batch, o Order, tradeNo string, p payer) error {
	var trade *string
	if tradeNo != "" {
		trade = &tradeNo
	}
	b.Queue(`UPDATE orders SET status = 'paid', paid_at = now(), gateway_trade_no = $2, updated_at = now()
		WHERE id = $1 AND status = 'pending'`, o.ID, trade).Exec(func(tag pgconn.CommandTag) error {
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("mark order %d paid: %w", o.ID, ErrNotPending)
		}
		return nil
	})
	// Access runs from now for the policy's days, or for good; a course already held
	// keeps the later of the two ends (see grantSet). The rows are taken in course order,
	// as a refund takes them.
	b.Queue(`
		INSERT INTO enrollments (user_id, course_id, expires_at, created_by, created_by_name)
		SELECT $1, course_id, CASE WHEN valid_days IS NULL THEN NULL ELSE now() + make_interval(days => valid_days) END, $1, 'order:' || $2::bigint
		FROM order_lines WHERE order_id = $2 AND deleted_at IS NULL ORDER BY course_id
		ON CONFLICT (user_id, course_id) WHERE deleted_at IS NULL DO UPDATE SET `+grantSet+`, updated_at = now()`, o.userID, o.ID)
	if o.UserCouponID != nil {
		b.Queue(`UPDATE user_coupons SET status = 'used', updated_at = now() WHERE id = $1 AND status = 'held'`, *o.UserCouponID)
	}
	b.Queue(`UPDATE cart_items SET deleted_at = now(), updated_at = now() WHERE user_id = $1 AND deleted_at IS NULL
		AND course_id IN (SELECT course_id FROM order_lines WHERE order_id = $2)`, o.userID, o.ID)
	// The inviter's reward draws on the buyer's issuance shard too (below).
	invites := p.inviter != nil && o.AmountFen > 0
	if o.pointsHoldID != nil {
		if points.RuleAmount(points.RulePurchase, o.AmountFen) > 0 || invites {
			// posting, then awarding: the rows of both, in one order (see LockAccounts)
			points.QueueLockForAward(b, o.userID)
		}
		points.QueuePost(b, *o.pointsHoldID)
	}
	ref := "order:" + strconv.FormatInt(o.ID, 10)
	earned, err := points.QueueAward(b, o.userID, p.account, o.userID, points.RulePurchase, ref, o.AmountFen)
	if err != nil {
		return fmt.Errorf("award points for order %d: %w", o.ID, err)
	}
	// The inviter is rewarded once per invitee (the award is idempotent per ref, and
	// the notice per key), so only the invitee's first paid order pays it. Only a
	// payment of real money counts: a ¥0 order (a free policy, a coupon covering it all)
	// would let anyone farm invite rewards with fake accounts. The award draws on the
	// buyer's issuance shard, which the purchase award has locked already.
	if invites {
		reward, err := points.QueueAward(b, *p.inviter, p.inviterAccount, o.userID, points.RuleInvite, "invite:"+strconv.FormatInt(o.userID, 10), o.AmountFen)
		if err != nil {
			return fmt.Errorf("reward inviter of user %d: %w", o.userID, err)
		}
		if err := notify.Queue(b, *p.inviter, notify.KindPoints, "Invite reward",
			fmt.Sprintf("Someone you invited made their first purchase: %d points are yours.", reward),
			map[string]any{"points": reward}, "invite-reward:"+strconv.FormatInt(o.userID, 10)); err != nil {
			return err
		}
	}
	return notify.Queue(b, o.userID, notify.KindPayment, "Payment received",
		fmt.Sprintf("Order %s is paid (%s); your courses are ready.", o.Number, yuan(o.AmountFen)),
		map[string]any{"order_id": o.ID, "order_number": o.Number, "amount_fen": o.AmountFen, "points_earned": earned},
		"paid:"+strconv.FormatInt(o.ID, 10))
}

// Reconcile asks the gateway about pending orders older than two minutes that no
// callback has mentioned, and applies the payments it reports.
func (s *Shop) Reconcile(ctx context.Context) (checked, paid int, err error) {
	rows, err := s.pool.Query(ctx, `
		SELECT number FROM orders o WHERE status = 'pending' AND created_at < now() - make_interval(secs => $1)
			AND NOT EXISTS (SELECT 1 FROM payment_events e WHERE e.order_number = o.number AND e.outcome IN ('paid', 'duplicate', 'late'))
		ORDER BY id LIMIT 500`, s.reconcileAfter.Seconds())
	if err != nil {
		return 0, 0, fmt.Errorf("find orders to reconcile: %w", err)
	}
	numbers, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, 0, fmt.Errorf("find orders to reconcile: %w", err)
	}
	for _, n := range numbers {
		if ctx.Err() != nil {
			return checked, paid, ctx.Err()
		}
		ev, body, askErr := s.askGateway(ctx, n)
		if askErr != nil {
			// One unanswered question must not stop the rest; the next run retries it.
			err = cmp.Or(err, askErr)
			continue
		}
		checked++
		if ev.Status != "paid" {
			continue
		}
		outcome, applyErr := s.applyEvent(ctx, ev, body)
		if applyErr != nil {
			return checked, paid, fmt.Errorf("apply trade of order %s: %w", n, applyErr)
		}
		if outcome == OutcomePaid {
			paid++
		}
	}
	return checked, paid, err
}

// askGateway queries the gateway's trade for order number.
func (s *Shop) askGateway(ctx context.Context, number string) (paymentEvent, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.cfg.GatewayURL+"/api/trades/"+url.PathEscape(number), nil)
	if err != nil {
		return paymentEvent{}, nil, err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return paymentEvent{}, nil, fmt.Errorf("ask gateway about order %s: %w", number, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return paymentEvent{}, nil, fmt.Errorf("ask gateway about order %s: %s", number, resp.Status)
	}
	var ev paymentEvent
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&ev); err != nil {
		return paymentEvent{}, nil, fmt.Errorf("ask gateway about order %s: %w", number, err)
	}
	if ev.Status == "paid" && (ev.EventID == "" || ev.OrderNumber != number) {
		return paymentEvent{}, nil, fmt.Errorf("ask gateway about order %s: a paid trade without event id or for order %q", number, ev.OrderNumber)
	}
	body, _ := json.Marshal(ev)
	return ev, body, nil
}
