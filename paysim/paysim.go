package paysim

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// Config says where the simulator listens and whom it notifies.
type Config struct {
	// Listen is the address the simulator serves on; default 127.0.0.1:8083.
	Listen string `help:"Address the payment simulator listens on." default:"127.0.0.1:8083" env:"LUFFY_PAYSIM_LISTEN"`
	// CallbackURL receives the signed payment notifications; default the local origin's.
	CallbackURL string `help:"Where the simulator posts payment callbacks." default:"http://127.0.0.1:8080/api/v1/payments/callback" env:"LUFFY_CALLBACK_URL"`
	// Secret is the HMAC-SHA256 key shared with the origin; it signs pay URLs and callbacks.
	Secret string `help:"HMAC secret shared with the origin." default:"luffy-dev-gateway-secret" env:"LUFFY_GATEWAY_SECRET"`
}

// Defaults shared with the origin.
const (
	DefaultListen      = "127.0.0.1:8083"
	DefaultCallbackURL = "http://127.0.0.1:8080/api/v1/payments/callback"
	DefaultSecret      = "luffy-dev-gateway-secret"
	// SignatureHeader carries the hex HMAC of a callback's raw body.
	SignatureHeader = "X-Luffy-Signature"
)

// Sign is the hex HMAC-SHA256 of body under secret: the callback signature, and, over
// "<number>|<amount_fen>", the signature of a pay URL.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// PaySignature is the sig parameter of the pay URL of order number for amountFen.
func PaySignature(secret, number string, amountFen int64) string {
	return Sign(secret, []byte(number+"|"+strconv.FormatInt(amountFen, 10)))
}

// Trade is a payment the simulator took, as its query API answers it.
type Trade struct {
	Status      string    `json:"status"` // paid, or unpaid for an unknown number
	OrderNumber string    `json:"order_number"`
	EventID     string    `json:"event_id,omitempty"`
	TradeNo     string    `json:"trade_no,omitempty"`
	AmountFen   int64     `json:"amount_fen,omitempty"`
	PaidAt      time.Time `json:"paid_at,omitzero"`
	// RefundID and RefundedAt are set once the trade is refunded (status "refunded").
	RefundID   string    `json:"refund_id,omitempty"`
	RefundedAt time.Time `json:"refunded_at,omitzero"`
}

// RefundRequest is the body of POST /api/refunds, signed like a callback (the
// X-Luffy-Signature header is the HMAC of the raw body). The simulator refunds a trade
// whole; RefundID makes the request idempotent.
type RefundRequest struct {
	RefundID    string `json:"refund_id"`
	OrderNumber string `json:"order_number"`
	TradeNo     string `json:"trade_no"`
	AmountFen   int64  `json:"amount_fen"`
}

// Callback is the body of the notification the simulator posts.
type Callback struct {
	EventID     string `json:"event_id"`
	OrderNumber string `json:"order_number"`
	TradeNo     string `json:"trade_no"`
	AmountFen   int64  `json:"amount_fen"`
	Status      string `json:"status"`
}

// Server is a running simulator.
type Server struct {
	cfg    Config
	mux    *http.ServeMux
	client *http.Client

	mu     sync.Mutex
	trades map[string]*Trade

	srv  *http.Server
	ln   net.Listener
	wg   sync.WaitGroup // callback deliveries in flight
	stop context.CancelFunc
	// base is cancelled by Stop so that retries in flight give up.
	base context.Context
	// backoff is the first retry delay; tests shorten it.
	backoff time.Duration
}

// New makes a simulator; zero Config fields take their defaults.
func New(cfg Config) *Server {
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.CallbackURL == "" {
		cfg.CallbackURL = DefaultCallbackURL
	}
	if cfg.Secret == "" {
		cfg.Secret = DefaultSecret
	}
	s := &Server{
		cfg:     cfg,
		mux:     http.NewServeMux(),
		client:  &http.Client{Timeout: 10 * time.Second},
		trades:  map[string]*Trade{},
		backoff: 200 * time.Millisecond,
	}
	s.base, s.stop = context.WithCancel(context.Background())
	s.mux.HandleFunc("POST /pay/{number}", s.pay)
	s.mux.HandleFunc("GET /pay/{number}", s.payPage)
	s.mux.HandleFunc("GET /api/trades/{number}", s.trade)
	s.mux.HandleFunc("POST /api/refunds", s.refund)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	return s
}

// Handler serves the simulator's routes (tests may mount it on an httptest server).
func (s *Server) Handler() http.Handler { return s.mux }

// Start listens on cfg.Listen and serves in the background.
func (s *Server) Start(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("paysim listen on %s: %w", s.cfg.Listen, err)
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("paysim serve", "err", err)
		}
	}()
	return nil
}

// Addr is the address the simulator listens on, once started.
func (s *Server) Addr() string {
	if s.ln == nil {
		return s.cfg.Listen
	}
	return s.ln.Addr().String()
}

// Stop stops serving and abandons callbacks still being retried.
func (s *Server) Stop(ctx context.Context) error {
	var err error
	if s.srv != nil {
		err = s.srv.Shutdown(ctx)
	}
	s.stop()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return err
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// pay takes the payment of an order. Paying twice answers the same trade and sends the
// same event again, as a gateway re-notifying would.
func (s *Server) pay(w http.ResponseWriter, r *http.Request) {
	number := r.PathValue("number")
	q := r.URL.Query()
	amount, status, err := s.payLink(number, q)
	switch status {
	case http.StatusBadRequest:
		writeError(w, status, "bad_amount", err.Error())
		return
	case http.StatusForbidden:
		writeError(w, status, "bad_signature", err.Error())
		return
	}
	sends := 1
	if d := q.Get("dup"); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil || n < 1 || n > 100 {
			writeError(w, http.StatusBadRequest, "bad_dup", "dup must be 1..100")
			return
		}
		sends = n
	}
	if q.Get("drop") == "1" {
		sends = 0
	}
	var delay time.Duration
	if d := q.Get("delay_ms"); d != "" {
		ms, err := strconv.Atoi(d)
		if err != nil || ms < 0 || ms > 600_000 {
			writeError(w, http.StatusBadRequest, "bad_delay", "delay_ms must be 0..600000")
			return
		}
		delay = time.Duration(ms) * time.Millisecond
	}

	s.mu.Lock()
	t, ok := s.trades[number]
	if !ok {
		t = &Trade{
			Status: "paid", OrderNumber: number, AmountFen: amount, PaidAt: time.Now().UTC(),
			EventID: "evt_" + randomHex(12),
			TradeNo: time.Now().UTC().Format("20060102150405") + randomHex(6),
		}
		s.trades[number] = t
	}
	tr := *t
	s.mu.Unlock()
	if tr.AmountFen != amount {
		writeError(w, http.StatusConflict, "amount_changed", "this order was already paid with another amount")
		return
	}
	body, _ := json.Marshal(Callback{EventID: tr.EventID, OrderNumber: tr.OrderNumber, TradeNo: tr.TradeNo, AmountFen: tr.AmountFen, Status: tr.Status})
	for range sends {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.deliver(body, delay)
		}()
	}
	if ret, ok := returnURL(q.Get("return")); ok {
		// the hosted page's form: back to the shop, as a gateway's checkout does
		http.Redirect(w, r, ret, http.StatusSeeOther)
		return
	}
	writeJSON(w, http.StatusOK, tr)
}

// deliver posts one callback, retrying up to 5 attempts with doubling delays on an error
// or a non-2xx answer.
func (s *Server) deliver(body []byte, delay time.Duration) {
	ctx := s.base
	wait := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-ctx.Done():
			return false
		}
	}
	if delay > 0 && !wait(delay) {
		return
	}
	sig := Sign(s.cfg.Secret, body)
	backoff := s.backoff
	for attempt := 1; attempt <= 5; attempt++ {
		err := s.post(ctx, body, sig)
		if err == nil {
			return
		}
		slog.Warn("paysim callback", "attempt", attempt, "err", err)
		if attempt == 5 || !wait(backoff) {
			return
		}
		backoff *= 2
	}
}

func (s *Server) post(ctx context.Context, body []byte, sig string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.CallbackURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, sig)
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("callback answered %s", resp.Status)
	}
	return nil
}

// trade answers what the simulator knows of an order: its trade, or unpaid.
func (s *Server) trade(w http.ResponseWriter, r *http.Request) {
	number := r.PathValue("number")
	s.mu.Lock()
	t, ok := s.trades[number]
	var tr Trade
	if ok {
		tr = *t
	}
	s.mu.Unlock()
	if !ok {
		tr = Trade{Status: "unpaid", OrderNumber: number}
	}
	writeJSON(w, http.StatusOK, tr)
}

// refund returns a paid trade's money. The same refund id answers the same refund again;
// a trade refunded under another id, a trade that does not match, or a bad signature
// is refused.
func (s *Server) refund(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_body", "the body could not be read")
		return
	}
	sig, err := hex.DecodeString(r.Header.Get(SignatureHeader))
	want, _ := hex.DecodeString(Sign(s.cfg.Secret, body))
	if err != nil || !hmac.Equal(sig, want) {
		writeError(w, http.StatusUnauthorized, "bad_signature", "the refund request's signature does not match its body")
		return
	}
	var req RefundRequest
	if err := json.Unmarshal(body, &req); err != nil || req.RefundID == "" || req.OrderNumber == "" {
		writeError(w, http.StatusBadRequest, "bad_request", "refund_id and order_number are required")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.trades[req.OrderNumber]
	switch {
	case !ok:
		writeError(w, http.StatusNotFound, "no_trade", "no payment was taken for this order")
	case t.TradeNo != req.TradeNo || t.AmountFen != req.AmountFen:
		writeError(w, http.StatusConflict, "trade_mismatch", "the trade number or amount is not the trade's")
	case t.Status == "refunded" && t.RefundID != req.RefundID:
		writeError(w, http.StatusConflict, "already_refunded", "this trade was refunded by another request")
	default:
		if t.Status != "refunded" {
			t.Status, t.RefundID, t.RefundedAt = "refunded", req.RefundID, time.Now().UTC()
		}
		writeJSON(w, http.StatusOK, *t)
	}
}

// returnURL accepts an absolute http(s) URL to send the buyer back to after paying.
func returnURL(raw string) (string, bool) {
	if raw == "" {
		return "", false
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", false
	}
	return u.String(), true
}

var payPageTmpl = template.Must(template.New("pay").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Luffy Pay (simulator)</title>
<style>body{font:16px system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;color:#222}
.card{border:1px solid #ddd;border-radius:12px;padding:1.5rem}h1{font-size:1.2rem}.amount{font-size:2rem;margin:.5rem 0 1.5rem}
button{font-size:1.1rem;padding:.7rem 1.5rem;border:0;border-radius:8px;background:#0a7;color:#fff;width:100%}
.err{color:#b00}</style></head>
<body><div class="card">{{if .Error}}<h1>Payment link not valid</h1><p class="err" id="pay-error">{{.Error}}</p>{{else}}
<h1>Luffy Pay <small>(simulator)</small></h1><p>Order <b id="pay-order">{{.Number}}</b></p>
<div class="amount" id="pay-amount">¥{{.Yuan}}</div>
<form method="post" action="{{.Action}}"><button id="pay" type="submit">Pay</button></form>{{end}}
</div></body></html>`))

// payLink checks a pay URL's amount and signature: the amount, or the status to refuse
// it with (400 for the amount, 403 for the signature) and why.
func (s *Server) payLink(number string, q url.Values) (int64, int, error) {
	amount, err := strconv.ParseInt(q.Get("amount_fen"), 10, 64)
	if err != nil || amount < 0 {
		return 0, http.StatusBadRequest, errors.New("amount_fen must be a non-negative integer")
	}
	sig, err := hex.DecodeString(q.Get("sig"))
	want, _ := hex.DecodeString(PaySignature(s.cfg.Secret, number, amount))
	if err != nil || !hmac.Equal(sig, want) {
		return 0, http.StatusForbidden, errors.New("the pay URL's signature does not match its order and amount")
	}
	return amount, http.StatusOK, nil
}

// payPage is the gateway's hosted checkout: the order and amount, and a button that
// POSTs the same URL (which takes the payment and, with a return URL, sends the buyer
// back).
func (s *Server) payPage(w http.ResponseWriter, r *http.Request) {
	number := r.PathValue("number")
	q := r.URL.Query()
	data := struct{ Number, Yuan, Action, Error string }{Number: number, Action: r.URL.RequestURI()}
	amount, status, err := s.payLink(number, q)
	if err != nil {
		data.Error = err.Error()
	} else {
		data.Yuan = fmt.Sprintf("%d.%02d", amount/100, amount%100)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	payPageTmpl.Execute(w, data)
}
