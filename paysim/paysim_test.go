package paysim

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

type origin struct {
	mu       sync.Mutex
	bodies   [][]byte
	failures int // answer 503 this many times first
}

func (o *origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	o.mu.Lock()
	defer o.mu.Unlock()
	if r.Header.Get(SignatureHeader) != Sign(DefaultSecret, body) || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if o.failures > 0 {
		o.failures--
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	o.bodies = append(o.bodies, body)
}

func (o *origin) received() [][]byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([][]byte(nil), o.bodies...)
}

func start(t *testing.T, o *origin) (*Server, string) {
	t.Helper()
	cb := httptest.NewServer(o)
	t.Cleanup(cb.Close)
	s := New(Config{Listen: "127.0.0.1:0", CallbackURL: cb.URL})
	s.backoff = 10 * time.Millisecond
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop(context.Background()) })
	return s, "http://" + s.Addr()
}

func waitBodies(t *testing.T, o *origin, n int) [][]byte {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(o.received()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d callbacks in 5s, want %d", len(o.received()), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return o.received()
}

func post(t *testing.T, url string) (int, Trade) {
	t.Helper()
	resp, err := http.Post(url, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr Trade
	json.NewDecoder(resp.Body).Decode(&tr)
	return resp.StatusCode, tr
}

func trade(t *testing.T, base, number string) Trade {
	t.Helper()
	resp, err := http.Get(base + "/api/trades/" + number)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr Trade
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestPayRetriesAndResendsTheSameEvent(t *testing.T) {
	o := &origin{failures: 2}
	_, base := start(t, o)
	if tr := trade(t, base, "N1"); tr.Status != "unpaid" {
		t.Fatalf("before paying: %+v", tr)
	}
	url := base + "/pay/N1?amount_fen=990&sig=" + PaySignature(DefaultSecret, "N1", 990)
	if code, _ := post(t, base+"/pay/N1?amount_fen=1&sig="+PaySignature(DefaultSecret, "N1", 990)); code != http.StatusForbidden {
		t.Fatalf("changed amount: %d", code)
	}
	code, tr := post(t, url)
	if code != http.StatusOK || tr.Status != "paid" || tr.TradeNo == "" || tr.EventID == "" || tr.AmountFen != 990 {
		t.Fatalf("pay: %d %+v", code, tr)
	}
	got := waitBodies(t, o, 1) // after two refusals
	var cb Callback
	if err := json.Unmarshal(got[0], &cb); err != nil || cb != (Callback{EventID: tr.EventID, OrderNumber: "N1", TradeNo: tr.TradeNo, AmountFen: 990, Status: "paid"}) {
		t.Fatalf("callback %s, %v", got[0], err)
	}
	if _, again := post(t, url); again.EventID != tr.EventID || again.TradeNo != tr.TradeNo {
		t.Fatalf("paid twice: %+v, first %+v", again, tr)
	}
	got = waitBodies(t, o, 2)
	if string(got[1]) != string(got[0]) {
		t.Fatalf("re-sent %s, first %s", got[1], got[0])
	}
	if q := trade(t, base, "N1"); q.Status != "paid" || q.EventID != tr.EventID {
		t.Fatalf("query after paying: %+v", q)
	}
}

func TestPayMisbehavesOnRequest(t *testing.T) {
	o := &origin{}
	_, base := start(t, o)
	url := func(n string, amount int64) string {
		return base + "/pay/" + n + "?amount_fen=100&sig=" + PaySignature(DefaultSecret, n, amount)
	}
	post(t, url("DUP", 100)+"&dup=3")
	waitBodies(t, o, 3)
	post(t, url("DROP", 100)+"&drop=1")
	start := time.Now()
	post(t, url("LATE", 100)+"&delay_ms=200")
	waitBodies(t, o, 4)
	if time.Since(start) < 200*time.Millisecond {
		t.Fatal("delay_ms did not delay the callback")
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(o.received()); n != 4 {
		t.Fatalf("%d callbacks, want 4 (drop=1 sends none)", n)
	}
	if tr := trade(t, base, "DROP"); tr.Status != "paid" {
		t.Fatalf("dropped callback's trade: %+v", tr)
	}
}

func TestRefundIsSignedAndIdempotent(t *testing.T) {
	_, base := start(t, &origin{})
	_, tr := post(t, base+"/pay/N7?amount_fen=500&sig="+PaySignature(DefaultSecret, "N7", 500))
	refund := func(r RefundRequest, secret string) (int, Trade) {
		t.Helper()
		body, _ := json.Marshal(r)
		req, _ := http.NewRequest(http.MethodPost, base+"/api/refunds", bytes.NewReader(body))
		req.Header.Set(SignatureHeader, Sign(secret, body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out Trade
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	ok := RefundRequest{RefundID: "r1", OrderNumber: "N7", TradeNo: tr.TradeNo, AmountFen: 500}
	for _, c := range []struct {
		name   string
		req    RefundRequest
		secret string
		want   int
	}{
		{"forged", ok, "not-the-secret", http.StatusUnauthorized},
		{"no refund id", RefundRequest{OrderNumber: "N7", TradeNo: tr.TradeNo, AmountFen: 500}, DefaultSecret, http.StatusBadRequest},
		{"unknown order", RefundRequest{RefundID: "r1", OrderNumber: "N8", TradeNo: tr.TradeNo, AmountFen: 500}, DefaultSecret, http.StatusNotFound},
		{"other amount", RefundRequest{RefundID: "r1", OrderNumber: "N7", TradeNo: tr.TradeNo, AmountFen: 600}, DefaultSecret, http.StatusConflict},
		{"other trade", RefundRequest{RefundID: "r1", OrderNumber: "N7", TradeNo: "T0", AmountFen: 500}, DefaultSecret, http.StatusConflict},
	} {
		if code, _ := refund(c.req, c.secret); code != c.want {
			t.Errorf("%s: %d, want %d", c.name, code, c.want)
		}
	}
	if q := trade(t, base, "N7"); q.Status != "paid" {
		t.Fatalf("refused refunds changed the trade: %+v", q)
	}
	code, first := refund(ok, DefaultSecret)
	if code != http.StatusOK || first.Status != "refunded" || first.RefundID != "r1" {
		t.Fatalf("refund: %d %+v", code, first)
	}
	if code, again := refund(ok, DefaultSecret); code != http.StatusOK || again.RefundedAt != first.RefundedAt {
		t.Fatalf("the same refund again: %d %+v, first %+v", code, again, first)
	}
	if code, _ := refund(RefundRequest{RefundID: "r2", OrderNumber: "N7", TradeNo: tr.TradeNo, AmountFen: 500}, DefaultSecret); code != http.StatusConflict {
		t.Fatalf("a second refund of the trade: %d, want 409", code)
	}
}

func TestHostedPayPageReturnsToTheShop(t *testing.T) {
	o := &origin{}
	_, base := start(t, o)
	q := "?amount_fen=4900&sig=" + PaySignature(DefaultSecret, "N9", 4900)
	resp, err := http.Get(base + "/pay/N9" + q)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "¥49.00") || !strings.Contains(string(page), `id="pay"`) {
		t.Fatalf("pay page: %d\n%s", resp.StatusCode, page)
	}
	if resp, _ := http.Get(base + "/pay/N9?amount_fen=1&sig=" + PaySignature(DefaultSecret, "N9", 4900)); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a pay page with a changed amount: %d", resp.StatusCode)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	back := "http://127.0.0.1:8081/#/orders/9"
	resp, err = noFollow.Post(base+"/pay/N9"+q+"&return="+url.QueryEscape(back), "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != back {
		t.Fatalf("paying from the page: %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	waitBodies(t, o, 1)
	resp, err = noFollow.Post(base+"/pay/N9"+q+"&return="+url.QueryEscape("javascript:alert(1)"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("a return URL that is not http(s) is followed: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}
