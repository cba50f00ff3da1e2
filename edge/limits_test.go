package edge

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestAbuseLimits: the per-address rate (429 JSON with Retry-After, cache hits
// included: a flood costs the edge even when it costs the origin nothing), the
// per-address connection cap, the header cap, and a slow client cut off by the read
// timeout while others are served.
func TestAbuseLimits(t *testing.T) {
	o := newScriptOrigin(t)
	var v atomic.Int64
	o.route("/api/v1/things", static("public, max-age=60", &v))
	e := startEdge(t, Config{Origins: []string{o.base}, RateLimit: 5, RateBurst: 5, MaxConnsPerIP: 3, ReadTimeout: time.Second})
	base := "http://" + e.Addr()

	t.Run("per address", func(t *testing.T) {
		var codes []int
		var last resp
		for range 8 {
			last = get(t, base+"/api/v1/things")
			codes = append(codes, last.status)
		}
		if fmt.Sprint(codes) != "[200 200 200 200 200 429 429 429]" {
			t.Fatalf("8 requests at once: %v, want 5 then 429s", codes)
		}
		var body struct{ Error struct{ Code string } }
		json.Unmarshal([]byte(last.body), &body)
		if body.Error.Code != "rate_limited" || last.header.Get("Retry-After") == "" {
			t.Errorf("refusal: %s, Retry-After %q", last.body, last.header.Get("Retry-After"))
		}
		if r := get(t, base+"/healthz"); r.status != 200 {
			t.Errorf("health checks are limited: %d", r.status)
		}
		if n := o.count("/api/v1/things"); n != 1 {
			t.Errorf("the origin was asked %d times", n)
		}
		time.Sleep(time.Second)
		if r := get(t, base+"/api/v1/things"); r.status != 200 {
			t.Errorf("after waiting: %d", r.status)
		}
	})

	t.Run("connections per address", func(t *testing.T) {
		client.CloseIdleConnections()
		time.Sleep(50 * time.Millisecond)
		for range 3 {
			c, err := net.Dial("tcp4", e.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
		}
		time.Sleep(100 * time.Millisecond)
		fourth, err := net.Dial("tcp4", e.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer fourth.Close()
		fmt.Fprintf(fourth, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		fourth.SetReadDeadline(time.Now().Add(2 * time.Second))
		if n, err := fourth.Read(make([]byte, 64)); err != io.EOF && !isReset(err) {
			t.Fatalf("a fourth connection from one address: read %d bytes, %v; want it closed", n, err)
		}
	})

	t.Run("header cap", func(t *testing.T) {
		client.CloseIdleConnections()
		time.Sleep(100 * time.Millisecond) // the capped connections above are closed by now
		time.Sleep(time.Second)            // and the rate has refilled
		r := get(t, base+"/api/v1/things", "X-Padding", strings.Repeat("a", 16<<10))
		if r.status != 431 || !strings.Contains(r.body, "headers_too_large") {
			t.Errorf("16 KiB of headers: %d %s", r.status, r.body)
		}
	})

	t.Run("slow client", func(t *testing.T) {
		client.CloseIdleConnections()
		c, err := net.Dial("tcp4", e.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		fmt.Fprintf(c, "GET /api/v1/things HTTP/1.1\r\nHost: x\r\n")
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
			case <-deadline.C:
				t.Fatal("a slow client held its connection for 5s")
			}
		}
	})
}

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe"))
}

// An origin's 503 marked as its own answer (its database or object store is out) is
// relayed with its Retry-After, and the origin is not ejected: the next request still
// goes to it, where an unmarked 503 would count against it.
func TestOriginDependencyOutageIsRelayed(t *testing.T) {
	o := newScriptOrigin(t)
	var down atomic.Bool
	down.Store(true)
	o.route("/api/v1/seg", func(ctx *fasthttp.RequestCtx) {
		if down.Load() {
			ctx.Response.Header.Set("Luffy-Origin-Up", "1")
			ctx.Response.Header.Set("Retry-After", "1")
			ctx.SetStatusCode(503)
			ctx.SetContentType("application/json")
			ctx.SetBodyString(`{"error":{"code":"unavailable","message":"the object store is unavailable; retry shortly"}}`)
			return
		}
		ctx.Response.Header.Set("Cache-Control", "public, max-age=60")
		ctx.SetBodyString("segment")
	})
	e := startEdge(t, Config{Origins: []string{o.base}})
	for i := range 5 {
		start := time.Now()
		r := get(t, "http://"+e.Addr()+"/api/v1/seg")
		if r.status != 503 || !strings.Contains(r.body, `"unavailable"`) || r.header.Get("Retry-After") != "1" {
			t.Fatalf("request %d with the origin's store out: %d %v %s", i+1, r.status, r.header, r.body)
		}
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Errorf("request %d took %v", i+1, d)
		}
	}
	if n := o.count("/api/v1/seg"); n != 5 {
		t.Fatalf("the origin was asked %d times for 5 requests: it was ejected", n)
	}
	down.Store(false)
	if r := get(t, "http://"+e.Addr()+"/api/v1/seg"); r.status != 200 || r.body != "segment" {
		t.Fatalf("after the store is back: %d %s", r.status, r.body)
	}
}
