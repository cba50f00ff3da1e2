package worker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/luffy-edu/luffy/judge"
	"github.com/luffy-edu/luffy/judge/sandbox"
)

// TestKilledWorkersSubmissionIsJudgedOnceByAnother is issue 9's item 4, end to end with
// real processes: two `luffy judge work` processes share the queue; the one judging a
// submission is killed with SIGKILL in the middle of its tests. The other claims it once
// the lease runs out and judges it exactly once; the dead one's lease can write nothing;
// none of the dead worker's sandboxes outlive it; and a worker started again under the
// dead one's name sweeps what is labelled with it and judges.
func TestKilledWorkersSubmissionIsJudgedOnceByAnother(t *testing.T) {
	const lease = 3 * time.Second
	e := newEnv(t)
	ctx := context.Background()
	bin := buildLuffy(t)
	run := fmt.Sprintf("kill-%d-%d", os.Getpid(), time.Now().UnixNano()%1e9)
	names := []string{run + "-a", run + "-b"}
	t.Cleanup(func() { removeSandboxesOf(t, e.eng, names...) })
	workers := map[string]*judgeProcess{}
	for _, name := range names {
		workers[name] = startJudge(t, bin, e.db.URL, name, lease)
	}
	for _, name := range names {
		workers[name].waitReady(t)
		waitFor(t, 20*time.Second, name+" has a warm sandbox", func() bool { return len(sandboxesOf(t, e.eng, name)) > 0 })
	}

	// 10 tests of 0.4 s each: several seconds of judging to be killed in.
	slow := "import time\ntime.sleep(0.4)\na, b = map(int, open(0).read().split())\nprint(a + b)\n"
	sub, err := e.store.Submit(ctx, e.user.ID, e.user.Username, "a-plus-b", "python3", slow)
	if err != nil {
		t.Fatal(err)
	}
	var first leaseRow
	waitFor(t, 30*time.Second, "a worker judging the submission's tests", func() bool {
		first = readLease(t, e, sub.ID)
		return first.Status == "judging" && first.Owner != "" && first.TestsDone >= 2
	})
	if first.TestsDone >= first.TestCount {
		t.Fatalf("the submission was judged before it could be interrupted: %+v", first)
	}
	victim := workers[first.Owner]
	survivor := workers[names[0]]
	if survivor == victim {
		survivor = workers[names[1]]
	}
	if n := len(sandboxesOf(t, e.eng, victim.name)); n == 0 {
		t.Fatalf("%s is judging but the engine shows no sandbox labelled with its name: the leftover check below would prove nothing", victim.name)
	}
	victim.kill(t)
	killed := time.Now()
	t.Logf("killed %s at test %d/%d (attempt %d)", victim.name, first.TestsDone, first.TestCount, first.Attempts)

	// The survivor claims it once the lease runs out and judges it.
	var claimedAfter, sandboxesGoneAfter time.Duration
	var last leaseRow
	waitFor(t, lease+20*time.Second, "the submission judged after the kill", func() bool {
		last = readLease(t, e, sub.ID)
		if claimedAfter == 0 && (last.Owner == survivor.name || last.Status == "done") {
			claimedAfter = time.Since(killed)
		}
		if sandboxesGoneAfter == 0 && len(sandboxesOf(t, e.eng, victim.name)) == 0 {
			sandboxesGoneAfter = time.Since(killed)
		}
		return last.Status == "done"
	})
	doneAfter := time.Since(killed)
	t.Logf("claimed again %v after the kill (lease %v), judged %v after it", claimedAfter.Round(time.Millisecond), lease, doneAfter.Round(time.Millisecond))
	if claimedAfter > lease+2*time.Second {
		t.Errorf("claimed by %s %v after the kill, want within the lease (%v) plus 2 s", survivor.name, claimedAfter, lease)
	}
	if doneAfter > lease+15*time.Second {
		t.Errorf("judged %v after the kill, want within the lease plus 15 s", doneAfter)
	}

	// Exactly once: two claims in all (the dead one and the survivor's), one verdict,
	// written by the survivor, with every test judged once.
	v, err := e.store.Submission(ctx, sub.ID)
	if err != nil {
		t.Fatal(err)
	}
	var tests []TestResult
	if err := json.Unmarshal(v.Tests, &tests); err != nil {
		t.Fatal(err)
	}
	accepted := 0
	for _, tr := range tests {
		if tr.Verdict == judge.Accepted {
			accepted++
		}
	}
	if v.Verdict == nil || *v.Verdict != string(judge.Accepted) || v.Score != 100 || v.Attempts != first.Attempts+1 ||
		len(tests) != v.TestCount || accepted != v.TestCount || v.TestsDone != v.TestCount || last.Owner != "" {
		t.Errorf("after the kill: verdict %v score %d, %d claims (want %d), %d/%d tests AC, tests_done %d, lease owner %q",
			deref(v.Verdict), v.Score, v.Attempts, first.Attempts+1, accepted, v.TestCount, v.TestsDone, last.Owner)
	}
	if n := survivor.judged(t); n != 1 {
		t.Errorf("%s recorded %v verdicts, want 1", survivor.name, n)
	}

	// The dead worker's lease is fenced: had it lived on (a pause, not a kill), nothing it
	// wrote would count.
	stale := judge.Lease{Owner: victim.name, Attempt: first.Attempts}
	fenced := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, judge.ErrLeaseLost) {
			t.Errorf("%s under the dead worker's lease: %v, want ErrLeaseLost", what, err)
		}
	}
	fenced("extend", e.store.Extend(ctx, sub.ID, stale, time.Minute))
	fenced("progress", e.store.Progress(ctx, sub.ID, stale, []TestResult{}, 1))
	fenced("release", e.store.Release(ctx, sub.ID, stale))
	fenced("finish", e.store.Finish(ctx, sub.ID, stale, judge.Outcome{Verdict: judge.WrongAnswer, Tests: []TestResult{}}))
	after, err := e.store.Submission(ctx, sub.ID)
	if err != nil {
		t.Fatal(err)
	}
	if after.Status != "done" || deref(after.Verdict) != deref(v.Verdict) || after.Attempts != v.Attempts || !after.FinishedAt.Equal(*v.FinishedAt) {
		t.Errorf("stale writes changed the submission: %s %s, %d claims, finished %v (was %s, %d, %v)",
			after.Status, deref(after.Verdict), after.Attempts, after.FinishedAt, deref(v.Verdict), v.Attempts, v.FinishedAt)
	}

	// No sandbox of the dead worker outlives it: the one it was judging in ends after its
	// current test, its warm one at once.
	for left := sandboxesOf(t, e.eng, victim.name); len(left) > 0; left = sandboxesOf(t, e.eng, victim.name) {
		if time.Since(killed) > 15*time.Second {
			t.Fatalf("sandboxes of the killed worker %s still there 15 s after the kill: %v", victim.name, left)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if sandboxesGoneAfter == 0 {
		sandboxesGoneAfter = time.Since(killed)
	}
	t.Logf("the killed worker's sandboxes were gone %v after the kill", sandboxesGoneAfter.Round(time.Millisecond))

	// The name comes back: a new worker under it sweeps what is labelled with it (here a
	// sandbox created and never started, as when a worker dies between the two) and
	// judges. The survivor stops first, gracefully, taking its own sandboxes with it, so
	// only the new worker can judge.
	planted, err := e.eng.Client().ContainerCreate(ctx, &container.Config{
		Image:  e.eng.Config().Image,
		Labels: map[string]string{sandbox.LabelSandbox: "1", sandbox.LabelOwner: victim.name},
	}, &container.HostConfig{NetworkMode: "none"}, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	survivor.stop(t)
	if left := sandboxesOf(t, e.eng, survivor.name); len(left) > 0 {
		t.Errorf("%s stopped and left sandboxes: %v", survivor.name, left)
	}
	again := startJudge(t, bin, e.db.URL, victim.name, lease)
	again.waitReady(t)
	waitFor(t, 10*time.Second, "the planted sandbox swept by the restarted worker", func() bool {
		_, err := e.eng.Client().ContainerInspect(ctx, planted.ID)
		return err != nil
	})
	quick, err := e.store.Submit(ctx, e.user.ID, e.user.Username, "a-plus-b", "python3", demoProblem(t, "a-plus-b").Solutions["python3"])
	if err != nil {
		t.Fatal(err)
	}
	if got := e.wait(t, quick.ID); deref(got.Verdict) != string(judge.Accepted) || got.Attempts != 1 {
		t.Errorf("the restarted worker judged %s after %d claims, want AC after 1", deref(got.Verdict), got.Attempts)
	}
	if n := again.judged(t); n != 1 {
		t.Errorf("the restarted %s recorded %v verdicts, want 1", again.name, n)
	}
	again.stop(t)
	if left := sandboxesOf(t, e.eng, names...); len(left) > 0 {
		t.Errorf("sandboxes left after every worker stopped: %v", left)
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// buildLuffy builds the luffy binary from the module root into a temporary directory.
func buildLuffy(t *testing.T) string {
	t.Helper()
	mod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || len(bytes.TrimSpace(mod)) == 0 {
		t.Fatalf("find the module root: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "luffy")
	build := exec.Command("go", "build", "-o", bin, "./cmd/luffy")
	build.Dir = filepath.Dir(string(bytes.TrimSpace(mod)))
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build luffy: %v\n%s", err, out)
	}
	return bin
}

// judgeProcess is a `luffy judge work` running as its own OS process.
type judgeProcess struct {
	name    string
	cmd     *exec.Cmd
	out     *lockedBuffer
	exited  chan struct{}
	metrics string
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startJudge(t *testing.T, bin, pgURL, name string, lease time.Duration) *judgeProcess {
	t.Helper()
	p := &judgeProcess{name: name, out: &lockedBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, "judge", "work", "--name", name, "--lease", lease.String(), "--poll", "200ms",
		"--concurrency", "1", "--listen", "127.0.0.1:0")
	p.cmd.Env = append(os.Environ(), "LUFFY_PG_URL="+pgURL, "LUFFY_LOG_FORMAT=json")
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("output of worker %s:\n%s", name, p.out)
		}
	})
	return p
}

// waitReady waits for the worker's start-up log line and takes its metrics address.
func (p *judgeProcess) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		sc := bufio.NewScanner(strings.NewReader(p.out.String()))
		for sc.Scan() {
			var line struct{ Msg, Metrics string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "judge worker started" {
				p.metrics = line.Metrics
				return
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("worker %s exited at start (is the stack up? `make stack`, then `make judge-image`):\n%s", p.name, p.out)
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("worker %s did not start in 30 s:\n%s", p.name, p.out)
}

func (p *judgeProcess) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.exited
}

// stop ends the worker with SIGTERM, as an operator would, and waits for it.
func (p *judgeProcess) stop(t *testing.T) {
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Errorf("worker %s did not stop in 30 s after SIGTERM", p.name)
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// judged sums the worker's luffy_judge_submissions_total: the verdicts it wrote.
func (p *judgeProcess) judged(t *testing.T) float64 {
	t.Helper()
	resp, err := http.Get(p.metrics)
	if err != nil {
		t.Fatalf("metrics of %s: %v", p.name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "luffy_judge_submissions_total{") {
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err != nil {
				t.Fatalf("metrics of %s: %q", p.name, line)
			}
			n += v
		}
	}
	return n
}

// leaseRow is who holds a submission and how far its judging got.
type leaseRow struct {
	Status    string
	Owner     string
	Attempts  int
	TestsDone int
	TestCount int
}

func readLease(t *testing.T, e *env, id int64) leaseRow {
	t.Helper()
	var r leaseRow
	err := e.db.Pool.QueryRow(context.Background(), `SELECT s.status, coalesce(s.lease_owner, ''), s.attempts, s.tests_done, p.test_count
		FROM submissions s JOIN problems p ON p.id = s.problem_id WHERE s.id = $1`, id).Scan(&r.Status, &r.Owner, &r.Attempts, &r.TestsDone, &r.TestCount)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// sandboxesOf lists the sandbox containers labelled with any of the worker names, as
// "id state" strings.
func sandboxesOf(t *testing.T, eng *sandbox.Engine, names ...string) []string {
	t.Helper()
	var out []string
	for _, name := range names {
		list, err := eng.Client().ContainerList(context.Background(), container.ListOptions{
			All:     true,
			Filters: filters.NewArgs(filters.Arg("label", sandbox.LabelOwner+"="+name)),
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range list {
			out = append(out, c.ID[:12]+" "+c.State)
		}
	}
	return out
}

// removeSandboxesOf removes what a failed run left, so one failure does not leak
// containers into the next run.
func removeSandboxesOf(t *testing.T, eng *sandbox.Engine, names ...string) {
	for _, name := range names {
		list, err := eng.Client().ContainerList(context.Background(), container.ListOptions{
			All:     true,
			Filters: filters.NewArgs(filters.Arg("label", sandbox.LabelOwner+"="+name)),
		})
		if err != nil {
			t.Error(err)
			return
		}
		for _, c := range list {
			eng.Client().ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true})
		}
	}
}

func waitFor(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
