package chaos

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// What TestMain found and built: the luffy binary under test and the stack's binaries.
var (
	luffyBin  string // built once from this checkout
	pgBin     string // directory of initdb, postgres, pg_ctl
	minioBin  string // .data/bin/minio, built by deploy/stack.sh
	ffmpegBin string
	pgUser    *syscall.Credential // the postgres OS user when running as root; nil otherwise
	workDir   string              // holds the binary and the shared test video source
)

const stackHint = "run `make stack` (deploy/stack.sh up) first: it installs PostgreSQL and ffmpeg and builds .data/bin/minio"

func TestMain(m *testing.M) {
	if err := findPrerequisites(); err != nil {
		fmt.Fprintf(os.Stderr, "chaos: %v\n%s\n", err, stackHint)
		os.Exit(1)
	}
	var err error
	if workDir, err = os.MkdirTemp("", "luffy-chaos-"); err == nil {
		err = buildLuffy()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "chaos: %v\n", err)
		os.RemoveAll(workDir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(workDir)
	os.Exit(code)
}

func findPrerequisites() error {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	slices.Sort(matches)
	if len(matches) == 0 {
		p, err := exec.LookPath("initdb")
		if err != nil {
			return errors.New("no PostgreSQL server binaries (initdb) under /usr/lib/postgresql/*/bin or on PATH")
		}
		matches = []string{p}
	}
	pgBin = filepath.Dir(matches[len(matches)-1])
	root, err := filepath.Abs("..")
	if err != nil {
		return err
	}
	data := os.Getenv("LUFFY_DATA")
	if data == "" {
		data = filepath.Join(root, ".data")
	}
	minioBin = filepath.Join(data, "bin", "minio")
	if _, err := os.Stat(minioBin); err != nil {
		return fmt.Errorf("no MinIO server binary at %s", minioBin)
	}
	if ffmpegBin, err = exec.LookPath("ffmpeg"); err != nil {
		return errors.New("no ffmpeg on PATH")
	}
	if os.Geteuid() == 0 {
		// initdb and postgres refuse to run as root: the cluster belongs to the postgres
		// user that the stack script creates.
		u, err := user.Lookup("postgres")
		if err != nil {
			return errors.New("running as root and there is no postgres OS user to run the cluster as")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		pgUser = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	return nil
}

func buildLuffy() error {
	gobin, err := exec.LookPath("go")
	if err != nil {
		return errors.New("no go tool on PATH to build cmd/luffy with")
	}
	luffyBin = filepath.Join(workDir, "luffy")
	cmd := exec.Command(gobin, "build", "-o", luffyBin, "github.com/luffy-edu/luffy/cmd/luffy")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build cmd/luffy: %v\n%s", err, out)
	}
	return nil
}

// long says whether to run the long variant (make chaos): more load, longer outages.
func long() bool { return os.Getenv("LUFFY_CHAOS_LONG") != "" }

// pick is short in the default run and long under LUFFY_CHAOS_LONG.
func pick[T any](short, longer T) T {
	if long() {
		return longer
	}
	return short
}

// freePort asks the kernel for a loopback port nobody listens on.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// proc is one subprocess of a test. It runs in a process group of its own, so that a
// kill reaches what it started (postgres backends, bench generator processes), and dies
// with the test process if that is killed first.
type proc struct {
	name string
	path string
	args []string
	env  []string
	cred *syscall.Credential
	log  string

	cmd  *exec.Cmd
	done chan struct{}
	err  error // once done is closed
}

func (p *proc) start() error {
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(f, "---- %s start %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(append([]string{p.path}, p.args...), " "))
	cmd := exec.Command(p.path, p.args...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: p.cred}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	p.cmd, p.done = cmd, make(chan struct{})
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return nil
}

func (p *proc) running() bool {
	if p.done == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL to the process group and waits for the process to be reaped.
func (p *proc) kill() {
	if !p.running() {
		return
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// wait waits up to d for the process to exit by itself.
func (p *proc) wait(d time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		return fmt.Errorf("%s still runs after %v", p.name, d)
	}
}

// tail is the end of the process's log, for failure reports.
func (p *proc) tail(lines int) string {
	b, _ := os.ReadFile(p.log)
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// stack is one test's private site: Postgres, MinIO, and the luffy processes in front.
type stack struct {
	t   *testing.T
	dir string

	pgPort int
	pgData string
	pgURL  string
	pg     *proc

	minioPort int
	minioKey  string
	minio     *proc

	procs []*proc // everything started, killed in cleanup
	mu    sync.Mutex
}

// newStack starts a private Postgres cluster and MinIO server, migrates and seeds the
// demo catalog and accounts (no videos or problems: the seed's demo videos take half a
// minute of ffmpeg on a small machine; tests ingest short ones of their own instead).
func newStack(t *testing.T) *stack {
	t.Helper()
	dir, err := os.MkdirTemp("", "luffy-chaos-"+t.Name()+"-")
	if err != nil {
		t.Fatal(err)
	}
	// The postgres user must reach its data directory through this one.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := &stack{t: t, dir: dir, minioKey: "chaos-" + randomHex(8)}
	t.Cleanup(func() {
		s.mu.Lock()
		procs := slices.Clone(s.procs)
		s.mu.Unlock()
		for i := len(procs) - 1; i >= 0; i-- {
			p := procs[i]
			if p == s.pg && p.running() {
				// Stopped by pg_ctl rather than killed, so that it removes its System V
				// shared memory segment; the kill is the fallback.
				s.asPostgres("pg_ctl", "-D", s.pgData, "-m", "immediate", "-w", "-t", "10", "stop")
				p.wait(10 * time.Second)
			}
			p.kill()
		}
		if t.Failed() {
			logged := map[string]bool{}
			for _, p := range procs {
				if !logged[p.log] {
					logged[p.log] = true
					t.Logf("---- last lines of %s (%s):\n%s", p.name, p.log, p.tail(25))
				}
			}
		}
		if keep := os.Getenv("LUFFY_CHAOS_KEEP"); keep == "all" || keep != "" && t.Failed() {
			t.Logf("kept %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	for _, d := range []string{"log", "pgrun", "minio"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s.initPostgres()
	s.startPostgres()
	s.minioPort = freePort(t)
	s.startMinIO()
	s.run("migrate")
	s.run("seed", "--no-videos", "--no-problems")
	return s
}

func (s *stack) track(p *proc) {
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
}

func (s *stack) logPath(name string) string { return filepath.Join(s.dir, "log", name+".log") }

// asPostgres runs a Postgres tool as the cluster's owner.
func (s *stack) asPostgres(tool string, args ...string) error {
	cmd := exec.Command(filepath.Join(pgBin, tool), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: pgUser}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v\n%s", tool, strings.Join(args, " "), err, out)
	}
	return nil
}

func (s *stack) chownPostgres(paths ...string) {
	if pgUser == nil {
		return
	}
	for _, p := range paths {
		if err := os.Chown(p, int(pgUser.Uid), int(pgUser.Gid)); err != nil {
			s.t.Fatal(err)
		}
	}
}

func (s *stack) initPostgres() {
	s.pgData = filepath.Join(s.dir, "pg")
	if err := os.Mkdir(s.pgData, 0o700); err != nil {
		s.t.Fatal(err)
	}
	s.chownPostgres(s.pgData, filepath.Join(s.dir, "pgrun"))
	if err := s.asPostgres("initdb", "-D", s.pgData, "-U", "luffy", "--auth=trust", "--encoding=UTF8",
		"--locale=C.UTF-8", "--no-sync"); err != nil {
		s.t.Fatal(err)
	}
	s.pgPort = freePort(s.t)
	s.pgURL = fmt.Sprintf("postgres://luffy@127.0.0.1:%d/luffy?sslmode=disable", s.pgPort)
}

// startPostgres runs the postmaster in the foreground (a child of the test) and waits
// until the luffy database answers, creating it the first time.
func (s *stack) startPostgres() {
	s.t.Helper()
	p := &proc{name: "postgres", path: filepath.Join(pgBin, "postgres"), cred: pgUser, log: s.logPath("postgres"),
		args: []string{"-D", s.pgData, "-c", "listen_addresses=127.0.0.1", "-c", "port=" + strconv.Itoa(s.pgPort),
			"-c", "unix_socket_directories=" + filepath.Join(s.dir, "pgrun"), "-c", "max_connections=200",
			"-c", "fsync=on", "-c", "synchronous_commit=on"},
		env: []string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8"}}
	if err := p.start(); err != nil {
		s.t.Fatal(err)
	}
	s.pg = p
	s.track(p)
	admin := strings.Replace(s.pgURL, "/luffy?", "/postgres?", 1)
	s.waitFor("postgres", 30*time.Second, func() error {
		if !p.running() {
			return errStop{fmt.Errorf("postgres exited: %v\n%s", p.err, p.tail(20))}
		}
		return pingDB(admin)
	})
	if pingDB(s.pgURL) != nil {
		conn, err := pgx.Connect(context.Background(), admin)
		if err != nil {
			s.t.Fatal(err)
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "CREATE DATABASE luffy"); err != nil {
			s.t.Fatal(err)
		}
	}
}

// stopPostgres shuts the cluster down the way an operator restarting it would:
// pg_ctl stop -m fast (clients are disconnected, their transactions rolled back, and a
// shutdown checkpoint is written).
func (s *stack) stopPostgres() {
	s.t.Helper()
	if err := s.asPostgres("pg_ctl", "-D", s.pgData, "-m", "fast", "-w", "-t", "60", "stop"); err != nil {
		s.t.Fatal(err)
	}
	if err := s.pg.wait(10 * time.Second); err != nil && s.pg.running() {
		s.t.Fatal(err)
	}
}

func pingDB(url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.Ping(ctx)
}

// db opens a connection to the private cluster for the test's own checks.
func (s *stack) db() *pgx.Conn {
	s.t.Helper()
	conn, err := pgx.Connect(context.Background(), s.pgURL)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func (s *stack) minioURL() string { return "http://127.0.0.1:" + strconv.Itoa(s.minioPort) }

// startMinIO runs the MinIO server on the stack's port and data directory (the same
// every time, so a restart finds what was stored) and waits until it is live.
func (s *stack) startMinIO() {
	s.t.Helper()
	p := &proc{name: "minio", path: minioBin, log: s.logPath("minio"),
		args: []string{"server", "--quiet", "--address", "127.0.0.1:" + strconv.Itoa(s.minioPort),
			"--console-address", "127.0.0.1:" + strconv.Itoa(freePort(s.t)), filepath.Join(s.dir, "minio")},
		env: []string{"PATH=/usr/bin:/bin", "HOME=" + s.dir, "MINIO_ROOT_USER=chaos", "MINIO_ROOT_PASSWORD=" + s.minioKey,
			"MINIO_BROWSER=off", "MINIO_UPDATE=off"}}
	if err := p.start(); err != nil {
		s.t.Fatal(err)
	}
	s.minio = p
	s.track(p)
	s.waitFor("minio", 60*time.Second, func() error {
		if !p.running() {
			return errStop{fmt.Errorf("minio exited: %v\n%s", p.err, p.tail(20))}
		}
		return httpOK(s.minioURL() + "/minio/health/live")
	})
}

// env is the environment of luffy subprocesses: none of the caller's LUFFY_ settings,
// the private stack's addresses.
func (s *stack) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LUFFY_") {
			env = append(env, kv)
		}
	}
	return append(env, "LUFFY_PG_URL="+s.pgURL, "LUFFY_S3_ENDPOINT="+s.minioURL(), "LUFFY_S3_ACCESS_KEY=chaos",
		"LUFFY_S3_SECRET_KEY="+s.minioKey, "LUFFY_S3_BUCKET=luffy", "LUFFY_LOG_FORMAT=text")
}

// run runs a luffy command to completion and returns its standard output.
func (s *stack) run(args ...string) string {
	s.t.Helper()
	out, err := s.runErr(args...)
	if err != nil {
		s.t.Fatalf("luffy %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (s *stack) runErr(args ...string) (string, error) {
	cmd := exec.Command(luffyBin, args...)
	cmd.Env = s.env()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

// service starts a luffy subcommand in the background and waits until ready answers.
func (s *stack) service(name string, ready func() error, args ...string) *proc {
	s.t.Helper()
	p := &proc{name: name, path: luffyBin, args: args, env: s.env(), log: s.logPath(name)}
	s.startService(p, ready)
	s.track(p)
	return p
}

// startService starts (or starts again, with the same arguments) a luffy service.
func (s *stack) startService(p *proc, ready func() error) {
	s.t.Helper()
	if err := p.start(); err != nil {
		s.t.Fatal(err)
	}
	s.waitFor(p.name, 60*time.Second, func() error {
		if !p.running() {
			return errStop{fmt.Errorf("%s exited: %v\n%s", p.name, p.err, p.tail(20))}
		}
		return ready()
	})
}

// errStop ends a waitFor early.
type errStop struct{ error }

func (s *stack) waitFor(what string, limit time.Duration, f func() error) {
	s.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		err := f()
		if err == nil {
			return
		}
		var stop errStop
		if errors.As(err, &stop) || time.Now().After(deadline) {
			s.t.Fatalf("%s is not ready: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func httpOK(url string) error {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// site is the luffy processes of a test: an origin, and an edge and a payment simulator
// in front of it when asked for.
type site struct {
	origin      *proc
	originURL   string
	edge        *proc
	edgeURL     string
	paysim      *proc
	paysimURL   string
	purgeSecret string
	originReady func() error
	adminToken  string
}

type siteOptions struct {
	edge, paysim bool
	originArgs   []string // more flags for the origin
}

func (s *stack) startSite(o siteOptions) *site {
	s.t.Helper()
	st := &site{purgeSecret: randomHex(12)}
	originPort, edgePort, paysimPort := freePort(s.t), freePort(s.t), freePort(s.t)
	st.originURL = "http://127.0.0.1:" + strconv.Itoa(originPort)
	st.edgeURL = "http://127.0.0.1:" + strconv.Itoa(edgePort)
	st.paysimURL = "http://127.0.0.1:" + strconv.Itoa(paysimPort)
	args := []string{"origin", "--listen", "127.0.0.1:" + strconv.Itoa(originPort), "--edge-url", st.edgeURL,
		"--gateway-url", st.paysimURL, "--job-workers", "2", "--pg-max-conns", "24"}
	if o.edge {
		args = append(args, "--edge-purge-url", st.edgeURL+"/edge/purge", "--purge-secret", st.purgeSecret)
	}
	args = append(args, o.originArgs...)
	st.originReady = func() error { return httpOK(st.originURL + "/readyz") }
	st.origin = s.service("origin", st.originReady, args...)
	if o.paysim {
		st.paysim = s.service("paysim", func() error { return httpOK(st.paysimURL + "/healthz") },
			"paysim", "--listen", "127.0.0.1:"+strconv.Itoa(paysimPort), "--callback-url", st.originURL+"/api/v1/payments/callback")
	}
	if o.edge {
		st.edge = s.service("edge", func() error { return httpOK(st.edgeURL + "/healthz") },
			"edge", "--listen", "127.0.0.1:"+strconv.Itoa(edgePort), "--origin", st.originURL, "--purge-secret", st.purgeSecret)
	}
	st.adminToken = login(s.t, st.originURL, "admin", "luffy-demo")
	return st
}

// bench runs `luffy bench` in the background; the returned function waits for it and
// reads its result file.
func (s *stack) bench(scenario, target string, connections int, rate float64, d time.Duration, more ...string) func() *benchResult {
	s.t.Helper()
	out := filepath.Join(s.dir, "bench-"+scenario+".json")
	args := append([]string{"bench", scenario, "--target", target, "--connections", strconv.Itoa(connections),
		"--rate", strconv.FormatFloat(rate, 'f', -1, 64), "--duration", d.String(), "--dial-rate", "200",
		"--timeout", "3s", "--json", out}, more...)
	p := &proc{name: "bench-" + scenario, path: luffyBin, args: args, env: s.env(), log: s.logPath("bench-" + scenario)}
	if err := p.start(); err != nil {
		s.t.Fatal(err)
	}
	s.track(p)
	return func() *benchResult {
		s.t.Helper()
		// Exit status 1 is an invalid run (a generator that fell behind on a busy
		// machine); the result file is written either way and is what counts here.
		if err := p.wait(d + 2*time.Minute); err != nil && p.running() {
			s.t.Fatal(err)
		}
		return readBench(s.t, out)
	}
}

// login signs a user in at base and returns the bearer token.
func login(t *testing.T, base, username, password string) string {
	t.Helper()
	var out struct {
		Token string `json:"token"`
	}
	status := doJSON(t, "POST", base+"/api/v1/auth/login", "", map[string]string{"username": username, "password": password}, &out)
	if status != http.StatusOK || out.Token == "" {
		t.Fatalf("login %s: status %d", username, status)
	}
	return out.Token
}

// readLines returns the non-empty lines of a playlist body.
func readLines(b []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out
}

var (
	sourceOnce sync.Once
	sourcePath string
	sourceErr  error
)

// videoSource is a short test clip (16 s, small frames), made once per test run.
func videoSource() (string, error) {
	sourceOnce.Do(func() {
		sourcePath = filepath.Join(workDir, "clip.mp4")
		cmd := exec.Command(ffmpegBin, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
			"-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25:duration=16",
			"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=16",
			"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k",
			"-movflags", "+faststart", sourcePath)
		if out, err := cmd.CombinedOutput(); err != nil {
			sourceErr = fmt.Errorf("make the test clip with ffmpeg: %v\n%s", err, out)
		}
	})
	return sourcePath, sourceErr
}

// ingestVideos publishes the test clip on n free-preview lessons (two small renditions
// of 2-second segments, through `luffy ingest`) and returns the lessons.
func (s *stack) ingestVideos(n int) []int64 {
	s.t.Helper()
	src, err := videoSource()
	if err != nil {
		s.t.Fatal(err)
	}
	rows, err := s.db().Query(context.Background(), `
		SELECT l.id FROM lessons l JOIN courses c ON c.id = l.course_id
		WHERE l.free_preview AND l.video_id IS NULL AND l.deleted_at IS NULL AND c.deleted_at IS NULL AND c.status = 'published'
		ORDER BY l.id LIMIT $1`, n)
	if err != nil {
		s.t.Fatal(err)
	}
	lessons, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil || len(lessons) < n {
		s.t.Fatalf("free-preview lessons to put video on: %v %v", lessons, err)
	}
	for _, l := range lessons {
		s.run("ingest", src, "--lesson", strconv.FormatInt(l, 10), "--ladder", "lo:320x180:200k:64k,hi:480x270:400k:64k",
			"--segment-seconds", "2")
	}
	return lessons
}
