package limit

import (
	"io"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

func TestRateAllowsBurstThenRefusesPerKey(t *testing.T) {
	r := NewRate(2, 3)
	now := time.Unix(1000, 0)
	for i := range 3 {
		if ok, _ := r.Allow("a", now); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, wait := r.Allow("a", now)
	if ok || wait <= 0 || wait > time.Second {
		t.Fatalf("past the burst: ok %t, wait %v (want refused, about 500ms)", ok, wait)
	}
	if ok, _ := r.Allow("b", now); !ok {
		t.Fatal("another key shares the first one's bucket")
	}
	// a refused request takes no token: half a second later, one is there
	if ok, _ := r.Allow("a", now.Add(500*time.Millisecond)); !ok {
		t.Fatal("no token after waiting what the refusal said")
	}
	if r.Len() != 2 {
		t.Fatalf("%d keys tracked", r.Len())
	}
	r.Forget(now.Add(time.Millisecond))
	if r.Len() != 1 {
		t.Fatalf("after forgetting idle keys: %d tracked, want 1", r.Len())
	}
	var none *Rate = NewRate(0, 0)
	if ok, _ := none.Allow("x", now); !ok || none != nil {
		t.Fatal("a zero rate limits")
	}
}

func TestParseExempt(t *testing.T) {
	e, err := ParseExempt([]string{"127.0.0.0/8", "::1", "", "10.1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{"127.0.0.1": true, "127.9.9.9": true, "::1": true, "::ffff:127.0.0.1": true,
		"10.1.2.3": true, "10.1.2.4": false, "192.0.2.1": false} {
		if got := e.Contains(netip.MustParseAddr(addr)); got != want {
			t.Errorf("%s exempt: %t, want %t", addr, got, want)
		}
	}
	if _, err := ParseExempt([]string{"not-a-network"}); err == nil {
		t.Error("a bad network parsed")
	}
}

func TestConnsCapsOneAddress(t *testing.T) {
	raw, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var rejected atomic.Int64 // OnReject runs on the accept goroutine
	ln := NewConns(raw, 2, nil).(*Conns)
	ln.OnReject = func() { rejected.Add(1) }
	defer ln.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	addr := ln.Addr().String()
	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp4", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	dial()
	dial()
	s1, s2 := <-accepted, <-accepted
	third := dial()
	third.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := third.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("a third connection from one address: read %v, want it closed (EOF)", err)
	}
	if n := rejected.Load(); n != 1 {
		t.Fatalf("%d rejections counted", n)
	}
	s1.Close() // a slot frees
	dial()
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(2 * time.Second):
		t.Fatal("no connection accepted after one closed")
	}
	s2.Close()

	ln.Close()

	exempt, _ := ParseExempt([]string{"127.0.0.0/8"})
	if got := NewConns(raw, 0, nil); got != raw {
		t.Error("a zero cap wraps the listener")
	}
	raw2, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	open := NewConns(raw2, 1, exempt).(*Conns)
	defer open.Close()
	go func() {
		for {
			c, err := open.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	addr = open.Addr().String()
	for range 3 {
		dial()
	}
	for range 3 {
		select {
		case c := <-accepted:
			defer c.Close()
		case <-time.After(2 * time.Second):
			t.Fatal("an exempt address was capped")
		}
	}
}
