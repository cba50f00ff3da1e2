package origin

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/luffy-edu/luffy/accounts"
	"github.com/luffy-edu/luffy/catalog"
	"github.com/luffy-edu/luffy/storage/pgtest"
)

// TestAbuseLimits: per-address and per-user request rates (429 JSON with Retry-After),
// exempt networks, the per-address connection cap, header and body caps, and a slow
// client cut off by the read timeout while others are served.
func TestAbuseLimits(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	if _, err := catalog.Seed(ctx, db.Pool, 3); err != nil {
		t.Fatal(err)
	}
	svc := accounts.NewService(db.Pool, 0)
	for name, role := range map[string]accounts.Role{"admin": accounts.RoleAdmin, "student1": accounts.RoleStudent} {
		if _, err := svc.EnsureUser(ctx, name, testPassword, role); err != nil {
			t.Fatal(err)
		}
	}
	o := startOrigin(t, db, Config{RateLimit: 5, RateBurst: 5, UserRateLimit: 2, UserRateBurst: 3, MaxConnsPerIP: 4,
		LimitExempt: []string{"198.51.100.0/24"}, ReadTimeout: time.Second, MaxHeaderBytes: 8 << 10})
	from := func(ip string) []string { return []string{"X-Forwarded-For", ip} } // loopback is a trusted proxy

	t.Run("per address", func(t *testing.T) {
		var codes []int
		var last response
		for range 8 {
			last = do(t, "GET", o.base+"/api/v1/categories", "", nil, from("203.0.113.7")...)
			codes = append(codes, last.status)
		}
		if fmt.Sprint(codes) != "[200 200 200 200 200 429 429 429]" {
			t.Fatalf("8 requests at once from one address: %v, want 5 then 429s", codes)
		}
		if last.errorCode() != "rate_limited" || last.header.Get("Retry-After") == "" {
			t.Errorf("refusal: %s, Retry-After %q", last.body, last.header.Get("Retry-After"))
		}
		if r := do(t, "GET", o.base+"/api/v1/categories", "", nil, from("203.0.113.8")...); r.status != 200 {
			t.Errorf("another address is limited too: %d", r.status)
		}
		for i := range 20 {
			if r := do(t, "GET", o.base+"/api/v1/categories", "", nil, from("198.51.100.9")...); r.status != 200 {
				t.Fatalf("exempt address, request %d: %d", i+1, r.status)
			}
		}
		if r := do(t, "GET", o.base+"/healthz", "", nil, from("203.0.113.7")...); r.status != 200 {
			t.Errorf("health checks are limited: %d", r.status)
		}
		time.Sleep(time.Second) // 5 tokens a second: the address may ask again
		if r := do(t, "GET", o.base+"/api/v1/categories", "", nil, from("203.0.113.7")...); r.status != 200 {
			t.Errorf("after waiting: %d", r.status)
		}
	})

	t.Run("per user", func(t *testing.T) {
		student := o.login(t, "student1")
		admin := o.login(t, "admin")
		var codes []int
		for i := range 5 { // a new address each time: only the account is over
			codes = append(codes, do(t, "GET", o.base+"/api/v1/auth/me", student, nil, from(fmt.Sprintf("192.0.2.%d", i+1))...).status)
		}
		if fmt.Sprint(codes) != "[200 200 200 429 429]" {
			t.Fatalf("5 requests at once from one account: %v, want 3 then 429s", codes)
		}
		if r := do(t, "GET", o.base+"/api/v1/auth/me", admin, nil, from("192.0.2.50")...); r.status != 200 {
			t.Errorf("another account is limited too: %d", r.status)
		}
	})

	t.Run("connections per address", func(t *testing.T) {
		// loopback is not exempt here, so these count; the test client's idle
		// keep-alive connections would too
		client.CloseIdleConnections()
		time.Sleep(50 * time.Millisecond)
		var conns []net.Conn
		for range 4 {
			c, err := net.Dial("tcp4", strings.TrimPrefix(o.base, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			conns = append(conns, c)
		}
		time.Sleep(100 * time.Millisecond)
		fifth, err := net.Dial("tcp4", strings.TrimPrefix(o.base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer fifth.Close()
		fmt.Fprintf(fifth, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		fifth.SetReadDeadline(time.Now().Add(2 * time.Second))
		if n, err := fifth.Read(make([]byte, 64)); err != io.EOF && !isReset(err) {
			t.Fatalf("a fifth connection from one address: read %d bytes, %v; want it closed", n, err)
		}
		conns[0].Close()
		time.Sleep(100 * time.Millisecond)
		if r := do(t, "GET", o.base+"/healthz", "", nil); r.status != 200 {
			t.Errorf("after one closed: %d", r.status)
		}
		m := string(do(t, "GET", o.base+"/metrics", "", nil).body)
		if !strings.Contains(m, `luffy_limited_total{by="conns",service="origin"} 1`) {
			t.Errorf("metrics:\n%s", grepLines(m, "luffy_limited_total"))
		}
	})

	t.Run("header and body caps", func(t *testing.T) {
		r := do(t, "GET", o.base+"/api/v1/categories", "", nil, "X-Padding", strings.Repeat("a", 16<<10))
		if r.status != 431 || r.errorCode() != "headers_too_large" {
			t.Errorf("16 KiB of headers: %d %s", r.status, r.body)
		}
		r = do(t, "POST", o.base+"/api/v1/auth/login", "", strings.Repeat("x", 2<<20), from("192.0.2.200")...)
		if r.status != 413 || r.errorCode() != "body_too_large" {
			t.Errorf("a 2 MiB body: %d %s", r.status, r.body)
		}
	})

	t.Run("slow client", func(t *testing.T) {
		c, err := net.Dial("tcp4", strings.TrimPrefix(o.base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		fmt.Fprintf(c, "GET /api/v1/categories HTTP/1.1\r\nHost: x\r\n")
		closed := make(chan time.Duration, 1)
		go func() {
			br := bufio.NewReader(c)
			for {
				if _, err := br.ReadByte(); err != nil {
					closed <- time.Since(start)
					return
				}
			}
		}()
		// a header line every 300 ms, never ending: slowloris
		tick := time.NewTicker(300 * time.Millisecond)
		defer tick.Stop()
		// One deadline for the whole wait: a time.After in the select would start
		// anew on every tick and never fire.
		deadline := time.NewTimer(5 * time.Second)
		defer deadline.Stop()
		for i := 0; ; i++ {
			select {
			case d := <-closed:
				if d > 3*time.Second {
					t.Errorf("the slow client was cut off after %v, want about the 1s read timeout", d)
				}
				t.Logf("slow client cut off after %v", d.Round(time.Millisecond))
				return
			case <-tick.C:
				fmt.Fprintf(c, "X-Slow-%d: 1\r\n", i)
				if r := do(t, "GET", o.base+"/healthz", "", nil); r.status != 200 && i < 3 {
					t.Errorf("others are not served while a client is slow: %d", r.status)
				}
			case <-deadline.C:
				t.Fatal("a slow client held its connection for 5s")
			}
		}
	})
}

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe"))
}
