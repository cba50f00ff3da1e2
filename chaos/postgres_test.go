package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestPostgresRestart restarts Postgres (pg_ctl stop -m fast, a few seconds down, start)
// while buyers register, sign in, order courses with an Idempotency-Key and pay them at
// the payment simulator. Meanwhile the API answers 503 JSON with Retry-After (never a 500,
// never a hanging request), it serves again within 5 seconds of Postgres being back, and
// nothing committed is lost: every order a buyer was told about exists, no other order
// does, every payment is applied with its enrollment and points, and the points ledger
// balances.
func TestPostgresRestart(t *testing.T) {
	var (
		pre, downFor, post = 5 * time.Second, pick(3*time.Second, 20*time.Second), pick(10*time.Second, 20*time.Second)
		buyers             = pick(8, 32)
		recoverWithin      = 5 * time.Second
		hangAfter          = 2 * time.Second // an answer slower than this is a hanging request
	)
	s := newStack(t)
	site := s.startSite(siteOptions{paysim: true})
	db := s.db()

	rows, err := db.Query(context.Background(), `
		SELECT DISTINCT ON (c.id) c.id, p.id, p.price_fen FROM courses c JOIN price_policies p ON p.course_id = c.id
		WHERE c.status = 'published' AND c.deleted_at IS NULL AND p.deleted_at IS NULL AND p.status = 'enabled' AND p.price_fen >= 100
		ORDER BY c.id, p.sort_code, p.id`)
	if err != nil {
		t.Fatal(err)
	}
	offers, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (offer, error) {
		var o offer
		return o, r.Scan(&o.course, &o.policy, &o.price)
	})
	if err != nil || len(offers) < 20 {
		t.Fatalf("courses for sale: %d %v", len(offers), err)
	}

	rec := &recorder{}
	ctx, stopBuying := context.WithCancel(context.Background())
	defer stopBuying()
	settle := time.Now().Add(pre + downFor + post + 60*time.Second) // buyers finish what they started by then
	run := randomHex(3)
	bs := make([]*buyer, buyers)
	var wg, signedIn sync.WaitGroup
	for i := range bs {
		rng := rand.New(rand.NewPCG(uint64(i), 7))
		mine := append([]offer(nil), offers...)
		rng.Shuffle(len(mine), func(a, b int) { mine[a], mine[b] = mine[b], mine[a] })
		bs[i] = &buyer{base: site.originURL, name: fmt.Sprintf("chaos%s%d", run, i), rec: rec, offers: mine, settle: settle, signedIn: &signedIn}
		signedIn.Add(1)
		wg.Go(func() { bs[i].shop(ctx) })
	}
	// The bench's buyers register once the test's have: `luffy bench checkout` takes
	// any answer to its registration as done, and one refused for password hashing at
	// capacity (429) would leave that connection failing to sign in for the whole run.
	signedIn.Wait()
	waitBench := s.bench("checkout", site.originURL, 4, pick(20.0, 100.0), pre+downFor+post, "--courses", strconv.FormatInt(offers[len(offers)-1].course, 10))
	readyCtx, stopReady := context.WithCancel(context.Background())
	var ready load
	ready.run(readyCtx, 20, func(int) target { return target{"readyz", site.originURL + "/readyz"} })
	// Newcomers register and sign in throughout, two a second, across the restart.
	var (
		newcomers   []*buyer
		newcomersMu sync.Mutex
		arrivals    sync.WaitGroup
	)
	arrivals.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			nc := &buyer{base: site.originURL, name: fmt.Sprintf("chaos%sn%d", run, i), rec: rec, settle: settle, signedIn: &sync.WaitGroup{}}
			nc.signedIn.Add(1)
			newcomersMu.Lock()
			newcomers = append(newcomers, nc)
			newcomersMu.Unlock()
			arrivals.Go(func() { nc.shop(ctx) })
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
		}
	})

	time.Sleep(pre)
	stopping := time.Now()
	s.stopPostgres()
	down := time.Now()
	time.Sleep(downFor)
	s.startPostgres()
	up := time.Now()
	time.Sleep(post)
	stopBuying()
	wg.Wait()
	arrivals.Wait()
	stopReady()
	readiness := ready.wait()
	bench := waitBench()
	calls := rec.all()

	// What clients saw: 503 JSON with Retry-After while Postgres was away, nothing else.
	var bad, slow, unavailable []call
	for _, c := range calls {
		switch {
		case c.err != nil || c.status >= 500 && c.status != http.StatusServiceUnavailable:
			bad = append(bad, c)
		case c.status == http.StatusServiceUnavailable:
			unavailable = append(unavailable, c)
			if c.errorCode == "" || c.retryAfter == "" || !strings.HasPrefix(c.contentType, "application/json") {
				bad = append(bad, c)
			}
		}
		// While Postgres is away and coming back, nothing may hang. (Outside that, a
		// registration can take a while on a busy machine: password hashing is slow on
		// purpose.)
		if c.took > hangAfter && !c.sent.Before(stopping) && c.sent.Before(up.Add(recoverWithin)) {
			slow = append(slow, c)
		}
	}
	if len(bad) > 0 {
		t.Errorf("%d answers were not a success, a 4xx or a 503 JSON error with Retry-After:\n%s", len(bad), describeCalls(bad, 20))
	}
	if len(slow) > 0 {
		t.Errorf("%d requests during the restart took longer than %v:\n%s", len(slow), hangAfter, describeCalls(slow, 20))
	}
	if len(unavailable) == 0 {
		t.Errorf("no request was answered 503 while Postgres was down: the outage was not seen")
	}
	// Recovery: the last 503 to a request sent after Postgres was back.
	var lastUnavailable time.Duration
	firstOK := time.Duration(-1)
	for _, c := range calls {
		if c.sent.Before(up) {
			continue
		}
		if c.status == http.StatusServiceUnavailable {
			lastUnavailable = max(lastUnavailable, c.sent.Add(c.took).Sub(up))
		} else if c.status < 300 && c.class != "pay" && (firstOK < 0 || c.sent.Add(c.took).Sub(up) < firstOK) {
			firstOK = c.sent.Add(c.took).Sub(up)
		}
	}
	if lastUnavailable > recoverWithin {
		t.Errorf("the API still answered 503 %v after Postgres was back; want within %v", lastUnavailable, recoverWithin)
	}

	// Nothing committed is lost. (The restart ended the test's own connection too.)
	t.Logf("%d buyers and %d newcomers made %d API calls: %v", buyers, len(newcomers), len(calls), countCalls(calls))
	v := verifyOrders(t, s.db(), append(bs, newcomers...))
	out, err := s.runErr("points", "verify")
	if err != nil || !strings.Contains(out, "balanced") || strings.Contains(out, "NOT BALANCED") {
		t.Errorf("luffy points verify: %v\n%s", err, out)
	}

	unready, readyAgain := readyTransitions(readiness, stopping, up)
	t.Logf("Postgres stopped (pg_ctl stop -m fast, took %v), down %v, back accepting connections %v after its start began",
		down.Sub(stopping).Round(time.Millisecond), downFor, up.Sub(down.Add(downFor)).Round(time.Millisecond))
	t.Logf("503 answers: %d (%v), other failures %d, slower than %v during the restart: %d; all calls: %v",
		len(unavailable), latencyOfCalls(unavailable), len(bad), hangAfter, len(slow), latencyOfCalls(calls))
	t.Logf("after Postgres was back: first success %v, last 503 %v after it; /readyz answered 503 from %v after the stop began until %v after Postgres was back",
		firstOK.Round(time.Millisecond), lastUnavailable.Round(time.Millisecond), unready, readyAgain)
	t.Logf("orders: %d acknowledged (%d with 201, %d replays of an Idempotency-Key answered 200 with the same order), %d in Postgres; %d paid at the gateway, %d seen paid by their buyer, %d paid in Postgres with enrollment and points; %d refused (%v)",
		v.acked, v.created, v.replayed, v.inDB, v.gatewayPaid, v.seenPaid, v.paidInDB, v.refused, v.refusals)
	t.Logf("points verify: %s", strings.TrimSpace(strings.ReplaceAll(out, "\n", "; ")))
	t.Logf("luffy bench %s", benchSummary(bench))
}

type offer struct{ course, policy, price int64 }

// placed is an order a buyer placed, and what the buyer was told about it.
type placed struct {
	offer
	key         string
	points      int64
	id          int64
	number      string
	amount      int64
	ack         int // 201, or 200 for a replayed Idempotency-Key
	payURL      string
	gatewayPaid bool // the gateway took the money
	seenPaid    bool // the buyer saw the order paid
}

// buyer is one client of the shop: it registers, signs in and buys course after course,
// retrying every step that was answered 503 (or not at all) as a well-behaved client does:
// the same Idempotency-Key and body for an order, the same pay URL for a payment.
type buyer struct {
	base, name string
	rec        *recorder
	offers     []offer
	settle     time.Time

	signedIn *sync.WaitGroup // done once signed in, or given up

	registered bool
	userID     int64
	token      string
	orders     []*placed
	refused    map[string]int
}

func (b *buyer) shop(ctx context.Context) {
	b.refused = map[string]int{}
	password := "chaos-password"
	signedIn := sync.OnceFunc(b.signedIn.Done)
	defer signedIn()
	for !b.registered && time.Now().Before(b.settle) {
		var u struct {
			ID int64 `json:"id"`
		}
		switch st := b.call("register", "POST", b.base+"/api/v1/auth/register", nil, map[string]string{"username": b.name, "password": password}, &u); {
		case st == http.StatusCreated:
			b.registered, b.userID = true, u.ID
		case st == http.StatusConflict: // an earlier attempt that went unanswered committed
			b.registered = true
		case !retryable(st):
			b.refused["register "+strconv.Itoa(st)]++
			return
		}
	}
	for b.token == "" && time.Now().Before(b.settle) {
		var out struct {
			Token string `json:"token"`
		}
		switch st := b.call("login", "POST", b.base+"/api/v1/auth/login", nil, map[string]string{"username": b.name, "password": password}, &out); {
		case st == http.StatusOK:
			b.token = out.Token
		case !retryable(st):
			b.refused["login "+strconv.Itoa(st)]++
			return
		}
	}
	signedIn()
	for i := 0; i < len(b.offers) && ctx.Err() == nil && time.Now().Before(b.settle); i++ {
		time.Sleep(200 * time.Millisecond) // a buyer's pace: well inside the origin's per-user rate limit
		o := &placed{offer: b.offers[i], key: b.name + "-" + strconv.FormatInt(b.offers[i].course, 10), points: 5}
		if !b.order(o) {
			continue
		}
		b.orders = append(b.orders, o)
		b.pay(o)
	}
}

// retryable says whether a well-behaved client tries a request again: no answer, 503
// (the database is away), 429 (a rate limit, or password hashing at capacity).
func retryable(status int) bool {
	return status == 0 || status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests
}

// order places o, retrying while the answer is 503 or none; false when it was refused.
func (b *buyer) order(o *placed) bool {
	body := map[string]any{"items": []map[string]int64{{"course_id": o.course, "price_policy_id": o.policy}}, "points": o.points}
	for time.Now().Before(b.settle) {
		var out struct {
			ID        int64  `json:"id"`
			Number    string `json:"number"`
			Status    string `json:"status"`
			AmountFen int64  `json:"amount_fen"`
			PayURL    string `json:"pay_url"`
		}
		st := b.call("order", "POST", b.base+"/api/v1/orders", map[string]string{"Idempotency-Key": o.key}, body, &out)
		switch {
		case st == http.StatusCreated || st == http.StatusOK:
			o.id, o.number, o.amount, o.payURL, o.ack = out.ID, out.Number, out.AmountFen, out.PayURL, st
			return true
		case retryable(st):
			continue
		default:
			b.refused["order "+strconv.Itoa(st)]++
			return false
		}
	}
	return false
}

// pay pays o at the gateway and waits until the order reads paid; a payment whose
// callback the gateway gave up on (its retries all met a database that was down) is
// paid again, and the gateway sends the same event again.
func (b *buyer) pay(o *placed) {
	var paidAt time.Time
	for time.Now().Before(b.settle) {
		if paidAt.IsZero() || time.Since(paidAt) > 5*time.Second {
			switch st := b.call("pay", "POST", o.payURL, nil, nil, nil); st {
			case http.StatusOK:
				o.gatewayPaid, paidAt = true, time.Now()
			case 0:
			default:
				b.refused["pay "+strconv.Itoa(st)]++
				return
			}
			continue
		}
		var out struct {
			Status string `json:"status"`
		}
		if b.call("status", "GET", b.base+"/api/v1/orders/"+strconv.FormatInt(o.id, 10), nil, nil, &out) == http.StatusOK && out.Status == "paid" {
			o.seenPaid = true
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkoutClient waits longer than the origin's own request deadline (5 s), so that a
// request stuck on the database shows as a slow answer rather than a client timeout.
var checkoutClient = &http.Client{Timeout: 15 * time.Second}

// call sends one request, records it, and returns its status (0 when none came); a 503
// or no answer is followed by a short pause, as a client honoring Retry-After would
// (briefly: the test wants to see the recovery).
func (b *buyer) call(class, method, url string, headers map[string]string, in, out any) int {
	var body io.Reader
	if in != nil {
		j, _ := json.Marshal(in)
		body = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, url, body)
	req.Header.Set("Content-Type", "application/json")
	if b.token != "" && !strings.Contains(url, "/pay/") {
		req.Header.Set("Authorization", "Bearer "+b.token)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	c := call{class: class, sent: time.Now()}
	resp, err := checkoutClient.Do(req)
	if err == nil {
		var raw []byte
		raw, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		c.status, c.contentType, c.retryAfter = resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Retry-After")
		if resp.StatusCode >= 400 {
			c.errorCode = errorCode(raw)
		} else if out != nil && err == nil {
			err = json.Unmarshal(raw, out)
		}
	}
	c.took, c.err = time.Since(c.sent), err
	b.rec.add(c)
	if c.err != nil || c.status == http.StatusServiceUnavailable || c.status == http.StatusTooManyRequests {
		time.Sleep(100 * time.Millisecond)
	}
	if c.err != nil {
		return 0
	}
	return c.status
}

// call is one request of a buyer.
type call struct {
	class       string
	sent        time.Time
	took        time.Duration
	status      int
	err         error
	errorCode   string
	retryAfter  string
	contentType string
}

type recorder struct {
	mu    sync.Mutex
	calls []call
}

func (r *recorder) add(c call) {
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
}

func (r *recorder) all() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...)
}

func describeCalls(cs []call, n int) string {
	var b strings.Builder
	for i, c := range cs {
		if i == n {
			fmt.Fprintf(&b, "  ... and %d more\n", len(cs)-n)
			break
		}
		fmt.Fprintf(&b, "  %s %s: status %d code %q retry-after %q content-type %q err %v in %v\n", c.sent.Format("15:04:05.000"), c.class, c.status, c.errorCode, c.retryAfter, c.contentType, c.err, c.took.Round(time.Millisecond))
	}
	return b.String()
}

func countCalls(cs []call) map[string]int {
	m := map[string]int{}
	for _, c := range cs {
		k := c.class + " " + strconv.Itoa(c.status)
		if c.err != nil {
			k = c.class + " error"
		}
		m[k]++
	}
	return m
}

func latencyOfCalls(cs []call) latencies {
	ss := make([]sample, len(cs))
	for i, c := range cs {
		ss[i].took = c.took
	}
	return latencyOf(ss)
}

// readyTransitions says how long after the stop began /readyz first answered 503, and
// how long after Postgres was back it first answered 200 again.
func readyTransitions(ss []sample, stopping, up time.Time) (unready, ready time.Duration) {
	unready, ready = -1, -1
	for _, s := range ss {
		switch {
		case unready < 0 && !s.sent.Before(stopping) && s.status == http.StatusServiceUnavailable:
			unready = s.sent.Add(s.took).Sub(stopping).Round(time.Millisecond)
		case ready < 0 && !s.sent.Before(up) && s.status == http.StatusOK:
			ready = s.sent.Add(s.took).Sub(up).Round(time.Millisecond)
		}
	}
	return unready, ready
}

// verified is what verifyOrders counted.
type verified struct {
	acked, created, replayed, inDB, gatewayPaid, seenPaid, paidInDB, refused int
	refusals                                                                 map[string]int
}

// verifyOrders checks Postgres against what buyers were told: their accounts exist, the
// orders acknowledged are exactly the buyers' orders in Postgres, and every payment the
// gateway took is applied: the order paid, the course enrolled, the points hold posted
// and the purchase points awarded, the gateway's event recorded.
func verifyOrders(t *testing.T, db *pgx.Conn, bs []*buyer) verified {
	t.Helper()
	ctx := context.Background()
	v := verified{refusals: map[string]int{}}
	var names []string
	acked := map[int64]*placed{}
	owner := map[int64]string{}
	for _, b := range bs {
		if !b.registered {
			t.Errorf("buyer %s never got registered", b.name)
			continue
		}
		names = append(names, b.name)
		for k, n := range b.refused {
			v.refusals[k] += n
			v.refused += n
		}
		for _, o := range b.orders {
			acked[o.id] = o
			owner[o.id] = b.name
			v.acked++
			if o.ack == http.StatusCreated {
				v.created++
			} else {
				v.replayed++
			}
			if o.gatewayPaid {
				v.gatewayPaid++
			}
			if o.seenPaid {
				v.seenPaid++
			}
		}
	}
	var users int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM users WHERE username = ANY($1) AND deleted_at IS NULL`, names).Scan(&users); err != nil {
		t.Fatal(err)
	}
	if users != len(names) {
		t.Errorf("%d of %d registered buyers exist in Postgres", users, len(names))
	}
	rows, err := db.Query(ctx, `
		SELECT o.id, o.number, u.username, o.status, o.amount_fen, o.points_used,
			coalesce(h.status, ''),
			coalesce((SELECT a.status FROM points_transfers a WHERE a.client_id = 'award:purchase:order:' || o.id), ''),
			EXISTS (SELECT 1 FROM enrollments e JOIN order_lines l ON l.course_id = e.course_id AND l.order_id = o.id
				WHERE e.user_id = o.user_id AND e.status = 'active' AND e.deleted_at IS NULL),
			EXISTS (SELECT 1 FROM payment_events p WHERE p.order_number = o.number AND p.outcome = 'paid')
		FROM orders o JOIN users u ON u.id = o.user_id
		LEFT JOIN points_transfers h ON h.id = o.points_hold_id
		WHERE u.username = ANY($1)`, names)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	for rows.Next() {
		var (
			id, amount, points      int64
			number, user, status    string
			hold, award             string
			enrolled, eventRecorded bool
		)
		if err := rows.Scan(&id, &number, &user, &status, &amount, &points, &hold, &award, &enrolled, &eventRecorded); err != nil {
			t.Fatal(err)
		}
		v.inDB++
		seen[id] = true
		o := acked[id]
		if o == nil {
			t.Errorf("order %d (%s) of %s is in Postgres but its buyer was never told of it", id, number, user)
			continue
		}
		if number != o.number || amount != o.amount || user != owner[id] || points != o.points {
			t.Errorf("order %d in Postgres: %s of %s, %d fen, %d points; its buyer was told %s of %s, %d fen, %d points",
				id, number, user, amount, points, o.number, owner[id], o.amount, o.points)
		}
		if !o.gatewayPaid {
			continue
		}
		if status == "paid" {
			v.paidInDB++
		}
		if status != "paid" || !enrolled || !eventRecorded || hold != "posted" || (amount >= 100 && award != "posted") {
			t.Errorf("order %d was paid at the gateway (its buyer saw it paid: %v) but in Postgres: status %s, enrolled %v, event recorded %v, points hold %q, purchase points %q",
				id, o.seenPaid, status, enrolled, eventRecorded, hold, award)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for id, o := range acked {
		if !seen[id] {
			t.Errorf("order %d (%s), acknowledged with %d to %s, is not in Postgres", id, o.number, o.ack, owner[id])
		}
	}
	return v
}
