package orders

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/luffy-edu/luffy/notify"
	"github.com/luffy-edu/luffy/paysim"
)

// ExpireDueArgs is the job that closes the orders nobody paid in time whose expires_at
// falls in one step of expiryStep ending at Until, scheduled for Until. An order inserts
// its step's job in its own transaction unless the shop has seen that job commit
// (normally inserted ahead, by an order of the step before: see scheduleExpiry). One job
// per step, where there was one per order, spares every checkout a river insert, which
// was the dearest statement of the checkout under load.
type ExpireDueArgs struct {
	Until time.Time `json:"until"`
}

// Kind names the job in river.
func (ExpireDueArgs) Kind() string { return "orders_expire_due" }

// expiryStep is how finely expiry jobs divide time: an unpaid order closes up to this
// long after its expires_at (plus river's poll interval).
const expiryStep = 5 * time.Second

// expiryStepOf is the end of the expiry step expires falls in.
func expiryStepOf(expires time.Time) time.Time {
	until := expires.Round(0).UTC().Truncate(expiryStep)
	if until.Before(expires) {
		until = until.Add(expiryStep)
	}
	return until
}

// ExpireOrderArgs is the job that closed one order nobody paid in time, inserted with
// the order by earlier releases. Its worker stays so that jobs queued before an upgrade
// still close their orders; new orders are covered by ExpireDueArgs.
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
// closed (or paid by another trade), or of another amount than the order's. It is
// inserted with the payment's event.
type RefundLateArgs struct {
	EventID     string `json:"event_id"`
	OrderNumber string `json:"order_number"`
	TradeNo     string `json:"trade_no"`
	AmountFen   int64  `json:"amount_fen"`
	UserID      int64  `json:"user_id"`
	// Reason is refundWrongAmount, or empty for a payment that came late.
	Reason string `json:"reason,omitempty"`
}

// refundWrongAmount is the Reason of a refund of a payment of another amount than the
// order's.
const refundWrongAmount = "amount"

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
	body := fmt.Sprintf("Your payment of %s for closed order %s was refunded.", yuan(a.AmountFen), a.OrderNumber)
	if a.Reason == refundWrongAmount {
		body = fmt.Sprintf("Your payment of %s did not match the amount of order %s and was refunded.", yuan(a.AmountFen), a.OrderNumber)
	}
	return notify.Send(ctx, w.shop.pool, a.UserID, notify.KindRefund, "Payment refunded", body,
		map[string]any{"order_number": a.OrderNumber, "trade_no": a.TradeNo, "amount_fen": a.AmountFen},
		"refunded:"+a.EventID)
}

type expireWorker struct {
	river.WorkerDefaults[ExpireOrderArgs]
	shop *Shop
}

func (w *expireWorker) Work(ctx context.Context, job *river.Job[ExpireOrderArgs]) error {
	_, dueIn, err := w.shop.expire(ctx, job.Args.OrderID)
	return snoozeUnlessDone(dueIn, err)
}

// snoozeUnlessDone is an expiry job's result: its error, or, when an order it was to
// close is not due yet by the database's clock (clocks differ), a snooze until it is.
func snoozeUnlessDone(dueIn time.Duration, err error) error {
	if err != nil {
		return err
	}
	if dueIn > 0 {
		return river.JobSnooze(dueIn)
	}
	return nil
}

type expireDueWorker struct {
	river.WorkerDefaults[ExpireDueArgs]
	shop *Shop
}

// Timeout allows for a step of many orders, each of which asks the gateway first.
func (w *expireDueWorker) Timeout(*river.Job[ExpireDueArgs]) time.Duration { return 10 * time.Minute }

// Work closes the orders of its own step only: an order an earlier step's job could not
// close is left to that job's retries and to the sweep, so that one order that cannot
// close does not fail every later job, and jobs that run together after downtime do
// not all work the same backlog.
func (w *expireDueWorker) Work(ctx context.Context, job *river.Job[ExpireDueArgs]) error {
	_, dueIn, err := w.shop.expireDue(ctx, job.Args.Until.Add(-expiryStep), job.Args.Until)
	return snoozeUnlessDone(dueIn, err)
}

// expireDue closes at most 1,000 pending orders due after from (zero: however long
// ago) and by until, a few at a time; one that fails does not stop the rest, and the
// errors (at most ten of them) come back together so that river retries the job. dueIn
// is the longest any of them has left by the database's clock.
func (s *Shop) expireDue(ctx context.Context, from, until time.Time) (closed int, dueIn time.Duration, err error) {
	var after *time.Time
	if !from.IsZero() {
		after = &from
	}
	rows, err := s.pool.Query(ctx, `SELECT id FROM orders WHERE status = 'pending' AND expires_at <= $2
		AND ($1::timestamptz IS NULL OR expires_at > $1) AND deleted_at IS NULL ORDER BY expires_at LIMIT 1000`, after, until)
	if err != nil {
		return 0, 0, fmt.Errorf("find orders due by %s: %w", until.Format(time.RFC3339), err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return 0, 0, fmt.Errorf("find orders due by %s: %w", until.Format(time.RFC3339), err)
	}
	var mu sync.Mutex
	var errs []error
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, id := range ids {
		g.Go(func() error {
			ok, left, err := s.expire(gctx, id)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil && len(errs) < 10:
				errs = append(errs, err)
			case ok:
				closed++
			}
			dueIn = max(dueIn, left)
			return nil
		})
	}
	g.Wait() //nolint:errcheck // the goroutines return nil; their errors are in errs
	return closed, dueIn, errors.Join(errs...)
}

// scheduleExpiry makes sure that a job covers an order expiring at expires, inserting in
// tx what this shop has not seen committed: the job of the order's own step, and the job
// of the step after it. The own step's job is normally there already, inserted ahead by
// an order of the step before, so orders never wait on each other at a step's start: a
// step's first orders all inserting the one unique job would queue behind each other's
// commits. Only one transaction of this shop at a time inserts a step ahead. Jobs are
// unique by their step, so a job another process or an earlier run inserted is found
// rather than doubled. It returns the steps it inserted jobs for, which the caller passes
// to expiryScheduled once its transaction has ended.
func (s *Shop) scheduleExpiry(ctx context.Context, tx pgx.Tx, expires time.Time) ([]time.Time, error) {
	own := expiryStepOf(expires)
	next := own.Add(expiryStep)
	var steps []time.Time
	s.expiryMu.Lock()
	if s.expiryJobs == nil {
		s.expiryJobs = map[int64]bool{}
	}
	if committed := s.expiryJobs[own.Unix()]; !committed {
		// Not left to another transaction inserting it ahead: that one might roll back.
		steps = append(steps, own)
	}
	if _, seen := s.expiryJobs[next.Unix()]; !seen {
		s.expiryJobs[next.Unix()] = false // in flight
		steps = append(steps, next)
	}
	s.expiryMu.Unlock()
	for i, until := range steps {
		if _, err := s.enq.InsertTx(ctx, tx, ExpireDueArgs{Until: until}, &river.InsertOpts{
			ScheduledAt: until, UniqueOpts: river.UniqueOpts{ByArgs: true},
		}); err != nil {
			return steps[:i+1], fmt.Errorf("schedule expiry at %s: %w", until.Format(time.RFC3339), err)
		}
	}
	return steps, nil
}

// expiryScheduled ends what scheduleExpiry began: the steps' jobs committed, or, when
// the transaction failed, the steps are free for another transaction to insert. Steps
// long past are forgotten.
func (s *Shop) expiryScheduled(steps []time.Time, committed bool) {
	if len(steps) == 0 {
		return
	}
	s.expiryMu.Lock()
	defer s.expiryMu.Unlock()
	for _, st := range steps {
		if committed {
			s.expiryJobs[st.Unix()] = true
		} else if done := s.expiryJobs[st.Unix()]; !done {
			delete(s.expiryJobs, st.Unix())
		}
	}
	if len(s.expiryJobs) > 1024 {
		old := time.Now().Add(-time.Minute).Unix()
		for k := range s.expiryJobs {
			if k < old {
				delete(s.expiryJobs, k)
			}
		}
	}
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
	river.AddWorker(w, &expireDueWorker{shop: s})
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
	r.Orders, _, err = s.expireDue(ctx, time.Time{}, time.Now())
	return r, err
}
