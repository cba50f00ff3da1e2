package orders

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/luffy-edu/luffy/accounts"
	"github.com/luffy-edu/luffy/jobs"
	"github.com/luffy-edu/luffy/paysim"
	"github.com/luffy-edu/luffy/points"
	"github.com/luffy-edu/luffy/storage/pgtest"
)

type env struct {
	pool     *pgxpool.Pool
	shop     *Shop
	accounts *accounts.Service
	category int64
	seq      atomic.Int64
}

// newEnv gives a test its own database and a shop whose jobs are only inserted: tests
// run Expire themselves, at the moment they choose.
func newEnv(t testing.TB, cfg Config) *env {
	t.Helper()
	db := pgtest.New(t)
	client, err := jobs.NewClient(db.Pool, jobs.Config{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{pool: db.Pool, shop: NewShop(db.Pool, client, cfg), accounts: accounts.NewService(db.Pool, time.Hour)}
	if err := db.Pool.QueryRow(context.Background(), `INSERT INTO categories (level, name, slug) VALUES (1, 'Test', 'test') RETURNING id`).Scan(&e.category); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) user(t testing.TB) int64 {
	t.Helper()
	u, err := e.accounts.EnsureUser(context.Background(), fmt.Sprintf("user%d", e.seq.Add(1)), "luffy-demo", accounts.RoleStudent)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// users makes n users at once, without the cost of hashing n passwords.
func (e *env) users(t testing.TB, n int) []int64 {
	t.Helper()
	base := e.seq.Add(int64(n))
	rows, err := e.pool.Query(context.Background(), `INSERT INTO users (username, password_hash, invite_code)
		SELECT 'crowd' || ($1 + g), 'x', 'crowd' || ($1 + g) FROM generate_series(1, $2) g RETURNING id`, base, n)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// course adds a published course sold at priceFen for validDays (0: for good) and
// answers it as an order item.
func (e *env) course(t testing.TB, priceFen int64, validDays int) Item {
	t.Helper()
	n := e.seq.Add(1)
	var days *int
	if validDays > 0 {
		days = &validDays
	}
	var it Item
	err := e.pool.QueryRow(context.Background(), `WITH c AS (
			INSERT INTO courses (slug, title, course_type, category_id) VALUES ($1, $2, 'practical', $3) RETURNING id)
		INSERT INTO price_policies (course_id, title, valid_days, price_fen, original_price_fen)
		SELECT id, 'standard', $4::int, $5::bigint, $5::bigint * 2 FROM c RETURNING course_id, id`,
		fmt.Sprintf("course-%d", n), fmt.Sprintf("Course %d", n), e.category, days, priceFen).Scan(&it.CourseID, &it.PricePolicyID)
	if err != nil {
		t.Fatal(err)
	}
	return it
}

// grant gives a user points from the issuance account.
func (e *env) grant(t testing.TB, userID, amount int64) {
	t.Helper()
	ctx := context.Background()
	acct, err := points.UserAccount(ctx, e.pool, userID)
	if err != nil {
		t.Fatal(err)
	}
	issuance, err := points.SystemAccount(ctx, e.pool, points.IssuanceAccount)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = points.Create(ctx, e.pool, points.Transfer{ClientID: fmt.Sprintf("test-grant:%d", e.seq.Add(1)),
		DebitAccountID: issuance, CreditAccountID: acct, Amount: amount, Kind: "grant"}, false)
	if err != nil {
		t.Fatal(err)
	}
}

func (e *env) balance(t testing.TB, userID int64) points.Balance {
	t.Helper()
	b, err := points.BalanceOf(context.Background(), e.pool, userID)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (e *env) key() string { return fmt.Sprintf("key-%d", e.seq.Add(1)) }

func (e *env) create(t testing.TB, userID int64, req CreateRequest) Order {
	t.Helper()
	o, created, err := e.shop.Create(context.Background(), userID, e.key(), req)
	if err != nil {
		t.Fatalf("create order: %v", err)
	}
	if !created {
		t.Fatal("create order: not created")
	}
	return o
}

// callbackBody is what the gateway would send for o.
func callbackBody(eventID string, o Order, tradeNo string) []byte {
	b, _ := json.Marshal(map[string]any{"event_id": eventID, "order_number": o.Number, "trade_no": tradeNo,
		"amount_fen": o.AmountFen, "status": "paid"})
	return b
}

func (e *env) callback(t testing.TB, body []byte) string {
	t.Helper()
	outcome, err := e.shop.HandleCallback(context.Background(), body, paysim.Sign(e.shop.cfg.GatewaySecret, body))
	if err != nil {
		t.Fatalf("callback: %v", err)
	}
	return outcome
}

// backdate makes an order due for expiry.
func (e *env) backdate(t testing.TB, orderID int64) {
	t.Helper()
	if _, err := e.pool.Exec(context.Background(), `UPDATE orders SET expires_at = now() - interval '1 second',
		created_at = now() - interval '1 hour' WHERE id = $1`, orderID); err != nil {
		t.Fatal(err)
	}
}

func (e *env) count(t testing.TB, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func (e *env) status(t testing.TB, orderID int64) string {
	t.Helper()
	var s string
	if err := e.pool.QueryRow(context.Background(), `SELECT status FROM orders WHERE id = $1`, orderID).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func (e *env) holdStatus(t testing.TB, orderID int64) string {
	t.Helper()
	var s string
	if err := e.pool.QueryRow(context.Background(), `SELECT t.status FROM orders o JOIN points_transfers t ON t.id = o.points_hold_id
		WHERE o.id = $1`, orderID).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// all runs n copies of fn at once, released together, and returns their errors.
func all(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	ready.Add(n)
	done.Add(n)
	for i := range n {
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	return errs
}

func countErrs(errs []error, target error) (nilCount, matching int, other error) {
	for _, err := range errs {
		switch {
		case err == nil:
			nilCount++
		case errors.Is(err, target):
			matching++
		default:
			other = err
		}
	}
	return
}

func signHex(secret string, body []byte) string { return paysim.Sign(secret, body) }

// workJobs makes the shop's jobs run: a river client with the shop's workers, stopped
// when the test ends. Without it (newEnv) jobs are only inserted.
func (e *env) workJobs(t testing.TB) {
	t.Helper()
	late := &jobs.Late{}
	e.shop.enq = late
	workers := river.NewWorkers()
	RegisterWorkers(workers, e.shop)
	client, err := jobs.NewClient(e.pool, jobs.Config{Workers: 2}, workers, nil)
	if err != nil {
		t.Fatal(err)
	}
	late.Set(client)
	if err := client.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		client.Stop(ctx)
	})
}
