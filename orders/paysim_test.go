package orders

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/luffy-edu/luffy/paysim"
)

// The simulator pays through pay_url and its callbacks reach the shop as the origin's
// callback route would deliver them.
func TestPaysimEndToEnd(t *testing.T) {
	var shop atomic.Pointer[Shop]
	var duplicates atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		outcome, err := shop.Load().HandleCallback(r.Context(), body, r.Header.Get(paysim.SignatureHeader))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
		if outcome == OutcomeDuplicate {
			duplicates.Add(1)
		}
	}))
	t.Cleanup(origin.Close)
	sim := paysim.New(paysim.Config{Listen: "127.0.0.1:0", CallbackURL: origin.URL})
	if err := sim.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Stop(context.Background()) })
	e := newEnv(t, Config{GatewayURL: "http://" + sim.Addr()})
	shop.Store(e.shop)
	u := e.user(t)

	pay := func(url string, want int) {
		t.Helper()
		resp, err := http.Post(url, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("POST %s: %s, want %d", url, resp.Status, want)
		}
	}
	events := func(o Order, want int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for e.count(t, `SELECT count(*) FROM payment_events WHERE order_number = $1`, o.Number) < want {
			if time.Now().After(deadline) {
				t.Fatalf("order %s: fewer than %d callbacks in 10s", o.Number, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	o := e.create(t, u, CreateRequest{Items: []Item{e.course(t, 4900, 0)}})
	pay(strings.Replace(o.PayURL, "amount_fen=4900", "amount_fen=1", 1), http.StatusForbidden)
	pay(o.PayURL, http.StatusOK)
	events(o, 1)
	if s := e.status(t, o.ID); s != StatusPaid {
		t.Fatalf("status %s after paying", s)
	}
	pay(o.PayURL, http.StatusOK) // paying again re-sends the same event
	waitFor(t, func() bool { return duplicates.Load() == 1 })

	o = e.create(t, u, CreateRequest{Items: []Item{e.course(t, 4900, 0)}})
	pay(o.PayURL+"&dup=3", http.StatusOK)
	waitFor(t, func() bool { return duplicates.Load() == 3 })
	if n := e.count(t, `SELECT count(*) FROM payment_events WHERE order_number = $1 AND outcome = 'paid'`, o.Number); n != 1 {
		t.Fatalf("%d payments applied from three callbacks", n)
	}

	o = e.create(t, u, CreateRequest{Items: []Item{e.course(t, 4900, 0)}})
	pay(o.PayURL+"&drop=1", http.StatusOK)
	time.Sleep(200 * time.Millisecond)
	if s := e.status(t, o.ID); s != StatusPending {
		t.Fatalf("status %s with the callback dropped", s)
	}
	unpaid := e.create(t, u, CreateRequest{Items: []Item{e.course(t, 100, 0)}})
	e.shop.reconcileAfter = 0
	checked, paid, err := e.shop.Reconcile(context.Background())
	if err != nil || checked != 2 || paid != 1 {
		t.Fatalf("reconcile: checked %d, paid %d, %v", checked, paid, err)
	}
	if s := e.status(t, o.ID); s != StatusPaid {
		t.Fatalf("status %s after reconciliation", s)
	}
	if s := e.status(t, unpaid.ID); s != StatusPending {
		t.Fatalf("unpaid order %s after reconciliation", s)
	}
	if n := e.count(t, `SELECT count(*) FROM enrollments WHERE user_id = $1`, u); n != 3 {
		t.Fatalf("%d enrollments, want 3", n)
	}

	// A paid order whose callback was lost is paid, not expired, when its expiry comes.
	o = e.create(t, u, CreateRequest{Items: []Item{e.course(t, 4900, 0)}})
	pay(o.PayURL+"&drop=1", http.StatusOK)
	if _, err := e.pool.Exec(context.Background(), `UPDATE orders SET expires_at = now() - interval '1 second' WHERE id = $1`, o.ID); err != nil {
		t.Fatal(err)
	}
	if expired, err := e.shop.Expire(context.Background(), o.ID); err != nil || expired {
		t.Fatalf("expire a paid order: expired %t, %v", expired, err)
	}
	if s := e.status(t, o.ID); s != StatusPaid {
		t.Fatalf("status %s: the gateway's payment was not applied at expiry", s)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
