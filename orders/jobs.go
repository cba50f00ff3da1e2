package orders

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/luffy-edu/luffy/notify"
	"github.com/luffy-edu/luffy/paysim"
)

// ExpireOrderArgs is the job that closes an order nobody paid in time. It is inserted
// with the order, scheduled for its expires_at.
type ExpireOrderArgs struct {
	OrderID int64 `json:"order_id"`
}

// Kind names the job in river.
func (ExpireOrderArgs) Kind() string { return "order_expire" }

// ReconcileArgs is the periodic job that asks the gateway about orders with no callback.
type ReconcileArgs struct{}

// Kind names the job in river.
func (ReconcileArgs) Kind() string { return "order_reconcile" }

// SweepArgs is the periodic job that ends what has run out: user coupons past their
// coupon's validity, enrollments past their end, and (a safety net for the expiry job)
// pending orders past their time.
type SweepArgs struct{}

// Kind names the job in river.
func (SweepArgs) Kind() string { return "shop_sweep" }

// RefundLateArgs is the job that gives back a payment that arrived for an order already
// closed (or paid by another trade). It is inserted with the payment's event.
type RefundLateArgs struct {
	EventID     string `json:"event_id"`
	OrderNumber string `json:"order_number"`
	TradeNo     string `json:"trade_no"`
	AmountFen   int64  `json:"amount_fen"`
	UserID      int64  `json:"user_id"`
}

// Kind names the job in river.
func (RefundLateArgs) Kind() string { return "order_refund_late" }

type refundLateWorker struct {
	river.WorkerDefaults[RefundLateArgs]
	shop *Shop
}

// Work asks the gateway for the refund (idempotent by the refund id, so a retried job
// refunds once) and tells the buyer.
func (w *refundLateWorker) Work(ctx context.Context, job *river.Job[RefundLateArgs]) error {
	a := job.Args
	if err := w.shop.gatewayRefund(ctx, paysim.RefundRequest{RefundID: "late:" + a.EventID, OrderNumber: a.OrderNumber, TradeNo: a.TradeNo, AmountFen: a.AmountFen}); err != nil {
		return err // river retries with backoff
	}
	return notify.Send(ctx, w.shop.pool, a.UserID, notify.KindRefund, "Payment refunded",
		fmt.Sprintf("Your payment of %s for closed order %s was refunded.", yuan(a.AmountFen), a.OrderNumber),
		map[string]any{"order_number": a.OrderNumber, "trade_no": a.TradeNo, "amount_fen": a.AmountFen},
		"refunded:"+a.EventID)
}

type expireWorker struct {
	river.WorkerDefaults[ExpireOrderArgs]
	shop *Shop
}

func (w *expireWorker) Work(ctx context.Context, job *river.Job[ExpireOrderArgs]) error {
	_, dueIn, err := w.shop.expire(ctx, job.Args.OrderID)
	if err != nil {
		return err
	}
	if dueIn > 0 {
		return river.JobSnooze(dueIn)
	}
	return nil
}

type reconcileWorker struct {
	river.WorkerDefaults[ReconcileArgs]
	shop *Shop
}

func (w *reconcileWorker) Work(ctx context.Context, _ *river.Job[ReconcileArgs]) error {
	checked, paid, err := w.shop.Reconcile(ctx)
	if paid > 0 || err != nil {
		slog.Info("orders reconciled with the gateway", "checked", checked, "paid", paid, "err", err)
	}
	return err
}

type sweepWorker struct {
	river.WorkerDefaults[SweepArgs]
	shop *Shop
}

func (w *sweepWorker) Work(ctx context.Context, _ *river.Job[SweepArgs]) error {
	_, err := w.shop.sweep(ctx)
	return err
}

// RegisterWorkers adds the shop's jobs to w.
func RegisterWorkers(w *river.Workers, s *Shop) {
	river.AddWorker(w, &expireWorker{shop: s})
	river.AddWorker(w, &reconcileWorker{shop: s})
	river.AddWorker(w, &sweepWorker{shop: s})
	river.AddWorker(w, &refundLateWorker{shop: s})
}

// PeriodicJobs are the shop's timers: reconciliation every minute, the sweep every five.
func PeriodicJobs() []*river.PeriodicJob {
	return []*river.PeriodicJob{
		river.NewPeriodicJob(river.PeriodicInterval(time.Minute),
			func() (river.JobArgs, *river.InsertOpts) { return ReconcileArgs{}, nil },
			&river.PeriodicJobOpts{ID: "order_reconcile"}),
		river.NewPeriodicJob(river.PeriodicInterval(5*time.Minute),
			func() (river.JobArgs, *river.InsertOpts) { return SweepArgs{}, nil },
			&river.PeriodicJobOpts{ID: "shop_sweep", RunOnStart: true}),
	}
}

// sweepResult counts what a sweep ended.
type sweepResult struct {
	UserCoupons, Enrollments, Orders int
}

func (s *Shop) sweep(ctx context.Context) (sweepResult, error) {
	var r sweepResult
	tag, err := s.pool.Exec(ctx, `UPDATE user_coupons u SET status = 'expired' FROM coupons c
		WHERE c.id = u.coupon_id AND u.status = 'available' AND u.deleted_at IS NULL AND c.valid_until <= now()`)
	if err != nil {
		return r, fmt.Errorf("expire user coupons: %w", err)
	}
	r.UserCoupons = int(tag.RowsAffected())
	tag, err = s.pool.Exec(ctx, `UPDATE enrollments SET status = 'revoked'
		WHERE status = 'active' AND expires_at <= now() AND deleted_at IS NULL`)
	if err != nil {
		return r, fmt.Errorf("revoke ended enrollments: %w", err)
	}
	r.Enrollments = int(tag.RowsAffected())
	rows, err := s.pool.Query(ctx, `SELECT id FROM orders WHERE status = 'pending' AND expires_at <= now() ORDER BY expires_at LIMIT 1000`)
	if err != nil {
		return r, fmt.Errorf("find overdue orders: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return r, fmt.Errorf("find overdue orders: %w", err)
	}
	for _, id := range ids {
		ok, err := s.Expire(ctx, id)
		if err != nil {
			return r, err
		}
		if ok {
			r.Orders++
		}
	}
	return r, nil
}
