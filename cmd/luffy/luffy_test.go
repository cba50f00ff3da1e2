package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/luffy-edu/luffy/accounts"
	"github.com/luffy-edu/luffy/catalog"
	"github.com/luffy-edu/luffy/storage/pgtest"
)

var luffyBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "luffy-bin")
	if err != nil {
		panic(err)
	}
	luffyBin = filepath.Join(dir, "luffy")
	if out, err := exec.Command("go", "build", "-o", luffyBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build luffy: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// process is a luffy subcommand running as its own OS process.
type process struct {
	cmd  *exec.Cmd
	out  *bytes.Buffer
	base string
}

func start(t *testing.T, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(luffyBin, args...), out: &bytes.Buffer{}}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("output of luffy %s:\n%s", strings.Join(args, " "), p.out)
		}
	})
	return p
}

func get(url string, headers ...string) (int, http.Header, []byte, error) {
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b, err
}

// waitReady waits until the origin answers /readyz and its change listener is up.
func waitReady(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		st, _, body, err := get(base + "/metrics")
		if err == nil && st == 200 && bytes.Contains(body, []byte("luffy_origin_invalidation_listener_up 1")) {
			if st, _, _, _ := get(base + "/readyz"); st == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("origin at %s not ready within 20s", base)
}

func seededDB(t *testing.T, courses int) *pgtest.DB {
	t.Helper()
	db := pgtest.New(t)
	if _, err := catalog.Seed(context.Background(), db.Pool, courses); err != nil {
		t.Fatal(err)
	}
	if _, err := accounts.NewService(db.Pool, 0).EnsureUser(context.Background(), "admin", "luffy-demo", accounts.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	return db
}

func courseTitle(t *testing.T, base string, id int64) (string, string) {
	t.Helper()
	st, h, body, err := get(fmt.Sprintf("%s/api/v1/courses/%d", base, id))
	if err != nil || st != 200 {
		t.Fatalf("GET course %d from %s: %d %v %s", id, base, st, err, body)
	}
	var c struct{ Title string }
	json.Unmarshal(body, &c)
	return c.Title, h.Get("Cache-Status")
}

// A change made through one origin process is served by another within one second:
// Postgres NOTIFY reaches every process's cache.
func TestInvalidationAcrossOriginProcesses(t *testing.T) {
	db := seededDB(t, 20)
	addrA, addrB := freeAddr(t), freeAddr(t)
	a := start(t, "origin", "--pg-url", db.URL, "--listen", addrA, "--log-format", "text")
	b := start(t, "origin", "--pg-url", db.URL, "--listen", addrB, "--log-format", "text")
	a.base, b.base = "http://"+addrA, "http://"+addrB
	waitReady(t, a.base)
	waitReady(t, b.base)

	const id = 3
	// B's cache is in use once its change listener has connected (until then, and at the
	// moment it connects, the cache is bypassed and flushed): wait for a hit.
	before, _ := courseTitle(t, b.base, id)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, status := courseTitle(t, b.base, id)
		if status == "luffy-origin; hit" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GETs from B are not cache hits: %q", status)
		}
	}
	_, _, listBefore, _ := get(b.base + "/api/v1/courses?limit=100")

	resp, err := http.Post(a.base+"/api/v1/auth/login", "application/json", strings.NewReader(`{"username":"admin","password":"luffy-demo"}`))
	if err != nil {
		t.Fatal(err)
	}
	var login struct{ Token string }
	json.NewDecoder(resp.Body).Decode(&login)
	resp.Body.Close()

	newTitle := before + "（已更新）"
	req, _ := http.NewRequest("PATCH", fmt.Sprintf("%s/api/v1/admin/courses/%d", a.base, id), strings.NewReader(`{"title":"`+newTitle+`"}`))
	req.Header.Set("Authorization", "Bearer "+login.Token)
	changed := time.Now()
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("PATCH through A: %v %v", err, resp)
	}
	resp.Body.Close()
	for {
		title, _ := courseTitle(t, b.base, id)
		if title == newTitle {
			break
		}
		if time.Since(changed) > time.Second {
			t.Fatalf("B still serves %q one second after the change", title)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("B served the change %v after the PATCH returned", time.Since(changed))
	_, _, listAfter, _ := get(b.base + "/api/v1/courses?limit=100")
	if bytes.Equal(listBefore, listAfter) || !bytes.Contains(listAfter, []byte(newTitle)) {
		t.Error("B's list page does not show the new title")
	}
}

// SIGTERM stops an origin cleanly: exit status 0.
func TestOriginStopsOnSIGTERM(t *testing.T) {
	db := seededDB(t, 1)
	addr := freeAddr(t)
	p := start(t, "origin", "--pg-url", db.URL, "--listen", addr)
	waitReady(t, "http://"+addr)
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("origin exited with %v after SIGTERM", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("origin did not exit within 10s of SIGTERM")
	}
}

// `luffy up` on an empty database migrates, seeds the demo data, serves the catalog and
// prints its URLs; the demo admin can sign in.
func TestUpServesSeededCatalog(t *testing.T) {
	db := pgtest.New(t)
	addr := freeAddr(t)
	cmd := exec.Command(luffyBin, "up", "--pg-url", db.URL, "--origin-listen", addr, "--judge-listen", freeAddr(t))
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	lines := bufio.NewScanner(stdout)
	printed := ""
	for lines.Scan() {
		printed += lines.Text() + "\n"
		if strings.Contains(lines.Text(), "Stop with Ctrl-C") {
			break
		}
	}
	if !strings.Contains(printed, "http://"+addr) {
		t.Fatalf("luffy up did not print its URL:\n%s", printed)
	}
	st, _, body, err := get("http://" + addr + "/api/v1/courses?limit=100")
	var page struct{ Items []any }
	json.Unmarshal(body, &page)
	if err != nil || st != 200 || len(page.Items) != 100 {
		t.Fatalf("catalog after luffy up: %d %v, %d items", st, err, len(page.Items))
	}
	resp, err := http.Post("http://"+addr+"/api/v1/auth/login", "application/json", strings.NewReader(`{"username":"student1","password":"luffy-demo"}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("demo login: %v %v", err, resp)
	}
	var login struct{ Token string }
	json.NewDecoder(resp.Body).Decode(&login)
	resp.Body.Close()

	// the student submits a-plus-b and the worker luffy up runs judges it
	req, _ := http.NewRequest("POST", "http://"+addr+"/api/v1/submissions", strings.NewReader(`{"problem":"a-plus-b","language":"python3","source":"a, b = map(int, input().split())\nprint(a + b)\n"}`))
	req.Header.Set("Authorization", "Bearer "+login.Token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("submit a-plus-b: %v %v", err, resp)
	}
	var sub struct {
		ID      int64
		Status  string
		Verdict *string
	}
	json.NewDecoder(resp.Body).Decode(&sub)
	resp.Body.Close()
	for deadline := time.Now().Add(60 * time.Second); sub.Status != "done" && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		req, _ := http.NewRequest("GET", fmt.Sprintf("http://%s/api/v1/submissions/%d", addr, sub.ID), nil)
		req.Header.Set("Authorization", "Bearer "+login.Token)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			json.NewDecoder(resp.Body).Decode(&sub)
			resp.Body.Close()
		}
	}
	if sub.Status != "done" || sub.Verdict == nil || *sub.Verdict != "AC" {
		t.Fatalf("a-plus-b under luffy up: status %s verdict %v", sub.Status, sub.Verdict)
	}

	// the printed demo lesson plays: its master playlist is served
	m := regexp.MustCompile(`/api/v1/lessons/(\d+)/play`).FindStringSubmatch(printed)
	if m == nil || m[1] == "0" {
		t.Fatalf("luffy up printed no playable lesson:\n%s", printed)
	}
	resp, err = http.Post("http://"+addr+"/api/v1/lessons/"+m[1]+"/play", "application/json", nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("play demo lesson %s: %v %v", m[1], err, resp)
	}
	var play struct{ URL string }
	json.NewDecoder(resp.Body).Decode(&play)
	resp.Body.Close()
	if st, _, body, err := get(play.URL); err != nil || st != 200 || !strings.HasPrefix(string(body), "#EXTM3U") {
		t.Fatalf("master playlist of the demo lesson: %d %v %.80s", st, err, body)
	}
}

// `luffy edge --workers 2`: two processes share the port, metrics say which worker
// answered, and a purge sent to either reaches both.
func TestEdgeWorkersShareThePortAndPurges(t *testing.T) {
	db := seededDB(t, 5)
	originAddr, edgeAddr := freeAddr(t), freeAddr(t)
	start(t, "origin", "--pg-url", db.URL, "--listen", originAddr)
	waitReady(t, "http://"+originAddr)
	start(t, "edge", "--workers", "2", "--listen", edgeAddr, "--origin", "http://"+originAddr, "--purge-secret", "s3cret")
	base := "http://" + edgeAddr
	// each request on a new connection: the kernel spreads them over the workers
	fresh := func() *http.Client { return &http.Client{Transport: &http.Transport{DisableKeepAlives: true}} }
	seen := map[string]bool{}
	deadline := time.Now().Add(20 * time.Second)
	for len(seen) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("saw workers %v within 20s, want 1 and 2", seen)
		}
		resp, err := fresh().Get(base + "/metrics")
		if err != nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, w := range []string{"1", "2"} {
			if bytes.Contains(b, []byte(`luffy_edge_cache_hits_total{worker="`+w+`"}`)) {
				seen[w] = true
			}
		}
	}
	for range 20 {
		if r, err := fresh().Get(base + "/api/v1/courses/1"); err == nil {
			r.Body.Close()
		}
	}
	req, _ := http.NewRequest("POST", base+"/edge/purge", strings.NewReader(`{"keys": ["course-1"]}`))
	req.Header.Set("Authorization", "Bearer s3cret")
	resp, err := fresh().Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("purge through the shared port: %v %v", err, resp)
	}
	resp.Body.Close()
	purged := map[string]bool{}
	for tries := 0; len(purged) < 2 && tries < 200; tries++ {
		resp, err := fresh().Get(base + "/metrics")
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, w := range []string{"1", "2"} {
			if bytes.Contains(b, []byte(`luffy_edge_purges_total{worker="`+w+`"} 1`)) {
				purged[w] = true
			}
		}
	}
	if len(purged) != 2 {
		t.Errorf("the purge reached workers %v, want both", purged)
	}
}

// `luffy points verify` passes on a sound ledger and exits non-zero on a broken one.
func TestPointsVerify(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	if _, err := accounts.NewService(db.Pool, time.Hour).Register(ctx, "someone", "luffy-demo"); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(luffyBin, "points", "verify", "--pg-url", db.URL).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "balanced") {
		t.Fatalf("verify a sound ledger: %v\n%s", err, out)
	}
	if _, err := db.Pool.Exec(ctx, `UPDATE points_accounts SET credits_posted = credits_posted + 7 WHERE kind = 'user'`); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(luffyBin, "points", "verify", "--pg-url", db.URL).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() == 0 || !strings.Contains(string(out), "NOT BALANCED") {
		t.Fatalf("verify a broken ledger: %v\n%s", err, out)
	}
}

// `luffy bench` writes its result file and fails when a threshold is missed.
func TestBenchThresholds(t *testing.T) {
	db := seededDB(t, 5)
	originAddr := freeAddr(t)
	start(t, "origin", "--pg-url", db.URL, "--listen", originAddr)
	waitReady(t, "http://"+originAddr)
	result := filepath.Join(t.TempDir(), "r.json")
	bench := func(extra ...string) (string, error) {
		args := append([]string{"bench", "static", "--target", "http://" + originAddr, "--connections", "4", "--rate", "200", "--duration", "1s", "--json", result}, extra...)
		out, err := exec.Command(luffyBin, args...).CombinedOutput()
		return string(out), err
	}
	if out, err := bench("--max-p99", "2s", "--max-error-rate", "0.001"); err != nil || !strings.Contains(out, "PASSED") {
		t.Fatalf("a run within its thresholds: %v\n%s", err, out)
	}
	var r struct {
		Sent      int64 `json:"sent"`
		Corrected struct {
			P99 float64 `json:"p99_ms"`
		} `json:"corrected"`
	}
	b, _ := os.ReadFile(result)
	if err := json.Unmarshal(b, &r); err != nil || r.Sent != 200 {
		t.Fatalf("result file: %v %s", err, b)
	}
	out, err := bench("--max-p99", "1ns")
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(out, "FAILED: p99") {
		t.Fatalf("a missed p99 threshold: %v\n%s", err, out)
	}
}
