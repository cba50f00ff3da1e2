package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/minio/minio-go/v7"

	"github.com/luffy-edu/luffy/judge/sandbox/sandboxtest"
	"github.com/luffy-edu/luffy/storage"
	"github.com/luffy-edu/luffy/storage/pgtest"
)

// chromium is Debian's package, which `make stack` installs; playwright-core drives it
// and downloads no browser of its own.
const chromium = "/usr/bin/chromium"

// TestE2E runs the browser scripts against one `luffy up` with everything real: Postgres,
// MinIO, the judge's Docker sandboxes, ffmpeg-ingested demo video, the payment simulator.
func TestE2E(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	node := requireTools(t, root)
	db := pgtest.New(t)
	sandboxtest.Engine(t) // fails with what to run when the judge's image is missing
	bucket := tempBucket(t)
	bin := buildLuffy(t, root)
	base := startLuffy(t, bin, db.URL, bucket)
	shots := screenshotDir(t)
	env := []string{"LUFFY_E2E_BASE=" + base, "LUFFY_E2E_SCREENSHOTS=" + shots, "LUFFY_E2E_CHROMIUM=" + chromium,
		"LUFFY_E2E_EXPIRE_URL=" + expireHook(t, db.Pool)}

	for _, script := range []string{"flow", "errors"} {
		t.Run(script, func(t *testing.T) { runScript(t, node, script+".mjs", env) })
	}
	t.Logf("screenshots of every page: %s", shots)
}

// requireTools checks for what the browser tests need beyond Postgres, MinIO and Docker,
// and answers the path of node.
func requireTools(t *testing.T, root string) string {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("Chromium is missing at %s: run `make stack` (it installs Debian's chromium package)", chromium)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("Node.js is missing: run `make stack` (it installs Node.js and npm)")
	}
	if _, err := os.Stat(filepath.Join(root, "web/node_modules/playwright-core/package.json")); err != nil {
		t.Fatal("playwright-core is missing from web/node_modules: run `make web` (npm ci of the pinned packages)")
	}
	if _, err := os.Stat(filepath.Join(root, "web/app/vendor/hls.min.js")); err != nil {
		t.Fatal("hls.js is not vendored into web/app/vendor: run `make web` (the player needs it where the browser lacks native HLS)")
	}
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatal("ffmpeg is missing (luffy up ingests the demo videos with it): run `make stack`")
	}
	return node
}

// tempBucket is a bucket of this test's own, so that the demo videos it ingests leave
// nothing behind in the shared one; it is removed with its objects at the end.
func tempBucket(t *testing.T) string {
	t.Helper()
	name := "luffy-e2e-" + randomHex(6)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	objects, err := storage.OpenObjects(ctx, storage.ObjectConfig{
		Endpoint: os.Getenv("LUFFY_S3_ENDPOINT"), AccessKey: os.Getenv("LUFFY_S3_ACCESS_KEY"),
		SecretKey: os.Getenv("LUFFY_S3_SECRET_KEY"), Bucket: name,
	})
	if err != nil {
		t.Fatalf("%v\nstart the local stack with `make stack`", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := objects.RemoveBucketWithOptions(ctx, name, minio.RemoveBucketOptions{ForceDelete: true}); err != nil {
			t.Errorf("remove bucket %s: %v", name, err)
		}
	})
	return name
}

func buildLuffy(t *testing.T, root string) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal("no go tool on PATH to build cmd/luffy with")
	}
	bin := filepath.Join(t.TempDir(), "luffy")
	start := time.Now()
	cmd := exec.Command(gobin, "build", "-o", bin, "./cmd/luffy")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build cmd/luffy: %v\n%s", err, out)
	}
	t.Logf("built luffy in %s", time.Since(start).Round(time.Millisecond))
	return bin
}

// startLuffy runs `luffy up` on free ports and a judge worker beside it, and answers the
// edge's URL once the stack is ready (migrated, demo data and videos seeded, every
// service answering). Everything is stopped when the test ends.
//
// The judge is a `luffy judge work` of its own rather than the one `luffy up` runs:
// that one is named after the host, and a worker removes the sandboxes of its name when
// it starts, so another `luffy up` starting on this machine meanwhile (cmd/luffy's tests
// run one) would remove the sandbox of a submission this test is waiting for (IE).
func startLuffy(t *testing.T, bin, pgURL, bucket string) string {
	t.Helper()
	origin, edge, paysim, judge := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	start := time.Now()
	up := startService(t, "luffy up", bin, "up", "--pg-url", pgURL, "--s3-bucket", bucket,
		"--origin-listen", origin, "--edge-listen", edge, "--paysim-listen", paysim, "--no-judge",
		// the browser's pages come from the edge, which playback URLs point at, so the
		// video's Referer names the edge's host
		"--origin-referer-hosts", "127.0.0.1",
		"--origin-shutdown-timeout", "5s", "--log-format", "text")
	base := "http://" + edge
	up.waitReady(t, 150*time.Second, base+"/readyz", "http://"+paysim+"/healthz")
	t.Logf("luffy up ready in %s (migrate, seed with 2 demo videos, start): edge %s, origin %s, paysim %s",
		time.Since(start).Round(time.Millisecond), base, origin, paysim)
	jw := startService(t, "luffy judge", bin, "judge", "work", "--pg-url", pgURL, "--s3-bucket", bucket,
		"--name", "e2e-"+randomHex(4), "--listen", judge, "--log-format", "text")
	jw.waitReady(t, 30*time.Second, "http://"+judge+"/readyz")
	return base
}

// service is a luffy process of the test's, in a process group of its own so that the
// stop reaches anything it started (ffmpeg); it dies with the test if the test is killed
// first.
type service struct {
	name   string
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
	err    error // once exited is closed
}

func startService(t *testing.T, name, bin string, args ...string) *service {
	t.Helper()
	s := &service{name: name, log: filepath.Join(t.TempDir(), "luffy.log"), exited: make(chan struct{})}
	f, err := os.Create(s.log)
	if err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = f, f
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		s.err = s.cmd.Wait()
		f.Close()
		close(s.exited)
	}()
	t.Cleanup(func() { s.stop(t) })
	return s
}

// waitReady waits for every URL to answer 200, failing at once if the process exits.
func (s *service) waitReady(t *testing.T, within time.Duration, urls ...string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for _, u := range urls {
		for {
			resp, err := http.Get(u)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
				err = fmt.Errorf("answered %s", resp.Status)
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s is not ready after %s (%s: %v); its log:\n%s", s.name, within, u, err, tail(s.log, 60))
			}
			select {
			case <-s.exited:
				t.Fatalf("%s exited before it was ready (%v); its log:\n%s", s.name, s.err, tail(s.log, 60))
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
}

// stop ends the service gracefully if it will and by force if not, and checks that
// nothing of its process group is left.
func (s *service) stop(t *testing.T) {
	pgid := s.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		t.Errorf("%s did not stop within 15 s of SIGTERM; killing it", s.name)
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-s.exited
	}
	if err := syscall.Kill(-pgid, 0); !errors.Is(err, syscall.ESRCH) {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		t.Errorf("processes of %s's group were left running (killed now)", s.name)
	}
	if t.Failed() {
		t.Logf("the end of %s's log:\n%s", s.name, tail(s.log, 60))
	}
}

// expireHook serves a URL the errors script posts a bearer token to, to make its session
// expire now: a real expiry, which no browser can cause, without waiting out a short
// token lifetime that the main flow would also live under.
func expireHook(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, err := io.ReadAll(io.LimitReader(r.Body, 256))
		if r.Method != http.MethodPost || err != nil || len(token) == 0 {
			http.Error(w, "POST the bearer token", http.StatusBadRequest)
			return
		}
		sum := sha256.Sum256(token)
		tag, err := pool.Exec(r.Context(), `UPDATE sessions SET expires_at = now() - interval '1 second' WHERE token_hash = $1`, sum[:])
		switch {
		case err != nil:
			http.Error(w, err.Error(), http.StatusInternalServerError)
		case tag.RowsAffected() != 1:
			http.Error(w, "no session has that token", http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/expire"
}

// screenshotDir is $LUFFY_E2E_SCREENSHOTS or web/e2e/screenshots, emptied of the last
// run's images.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("LUFFY_E2E_SCREENSHOTS")
	if dir == "" {
		dir = "screenshots"
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	old, _ := filepath.Glob(filepath.Join(dir, "*.png"))
	for _, f := range old {
		_ = os.Remove(f)
	}
	return dir
}

// runScript runs one browser script, streaming its lines into the test's log, and fails
// the test when it exits non-zero.
func runScript(t *testing.T, node, script string, env []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// node and the Chromium processes playwright starts share the group
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node %s: %v", script, err)
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		t.Log(sc.Text())
	}
	err = cmd.Wait()
	// a script that died without closing its browser leaves Chromium in the group
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%s did not finish within 150 s", script)
	case err != nil:
		t.Fatalf("%s failed (%v) after %s: see its lines above, and the screenshot of the failure", script, err, time.Since(start).Round(time.Millisecond))
	}
}

// freeAddr is a loopback address nobody listens on at the moment of asking.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return "127.0.0.1:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// tail is the last n lines of a file, for a failure message.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
