package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/luffy-edu/luffy/accounts"
	"github.com/luffy-edu/luffy/judge"
	"github.com/luffy-edu/luffy/judge/demo"
	"github.com/luffy-edu/luffy/judge/sandbox"
	"github.com/luffy-edu/luffy/judge/sandbox/sandboxtest"
	"github.com/luffy-edu/luffy/storage"
	"github.com/luffy-edu/luffy/storage/pgtest"
)

type env struct {
	db    *pgtest.DB
	store *judge.Store
	eng   *sandbox.Engine
	user  accounts.User
}

func newEnv(t testing.TB) *env {
	t.Helper()
	db := pgtest.New(t)
	objects, err := storage.OpenObjects(context.Background(), storage.ObjectConfig{})
	if err != nil {
		t.Fatal(err)
	}
	store := judge.NewStore(db.Pool, objects)
	store.SubmitPerMinute = 1000
	if _, err := demo.Seed(context.Background(), store); err != nil {
		t.Fatal(err)
	}
	u, err := accounts.NewService(db.Pool, time.Hour).EnsureUser(context.Background(), "student1", "luffy-demo", accounts.RoleStudent)
	if err != nil {
		t.Fatal(err)
	}
	return &env{db: db, store: store, eng: sandboxtest.Engine(t), user: u}
}

func (e *env) startWorker(t testing.TB, cfg Config) context.CancelFunc {
	t.Helper()
	cfg.Name = e.eng.Config().Owner
	w, err := New(cfg, e.store, e.eng, e.db.URL, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	w.flushEvery = 0
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

func (e *env) wait(t *testing.T, id int64) judge.SubmissionView {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		v, err := e.store.Submission(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if v.Status == "done" {
			return v
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("submission %d not judged in 60 s", id)
	return judge.SubmissionView{}
}

func TestWorkerJudgesQueuedSubmissions(t *testing.T) {
	e := newEnv(t)
	e.startWorker(t, Config{Concurrency: 2})
	p := demoProblem(t, "a-plus-b")
	ids := map[int64]string{}
	for _, lang := range []string{"c", "cpp17", "python3", "go"} {
		v, err := e.store.Submit(context.Background(), e.user.ID, e.user.Username, "a-plus-b", lang, p.Solutions[lang])
		if err != nil {
			t.Fatal(err)
		}
		ids[v.ID] = lang
	}
	wrong, err := e.store.Submit(context.Background(), e.user.ID, e.user.Username, "a-plus-b", "python3", "print(0)")
	if err != nil {
		t.Fatal(err)
	}
	for id, lang := range ids {
		v := e.wait(t, id)
		var tests []TestResult
		if err := json.Unmarshal(v.Tests, &tests); err != nil {
			t.Fatal(err)
		}
		if *v.Verdict != "AC" || v.Score != 100 || len(tests) != 10 || v.TestsDone != 10 || v.Attempts != 1 {
			t.Errorf("%s: %s score %d, %d tests, %d attempts", lang, *v.Verdict, v.Score, len(tests), v.Attempts)
		}
	}
	v := e.wait(t, wrong.ID)
	if *v.Verdict != "WA" {
		t.Errorf("print(0): %s", *v.Verdict)
	}
	book, err := e.store.WrongBook(context.Background(), e.user.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(book) != 0 {
		t.Errorf("a-plus-b was accepted, yet the wrong-answer book holds %+v", book)
	}
	// A problem attempted and never accepted is in the book.
	wa, err := e.store.Submit(context.Background(), e.user.ID, e.user.Username, "hello-world", "python3", "print('hi')")
	if err != nil {
		t.Fatal(err)
	}
	e.wait(t, wa.ID)
	book, _ = e.store.WrongBook(context.Background(), e.user.ID)
	if len(book) != 1 || book[0].Slug != "hello-world" || book[0].LastVerdict != "WA" {
		t.Errorf("wrong-answer book: %+v", book)
	}
}

// TestCrashedWorkersSubmissionIsClaimedAgain: a worker that claimed a submission and died
// leaves a lease; when it expires another worker judges the submission, exactly once.
func TestCrashedWorkersSubmissionIsClaimedAgain(t *testing.T) {
	e := newEnv(t)
	p := demoProblem(t, "a-plus-b")
	v, err := e.store.Submit(context.Background(), e.user.ID, e.user.Username, "a-plus-b", "cpp17", p.Solutions["cpp17"])
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.store.Claim(context.Background(), "crashed-worker", time.Second)
	if err != nil || c == nil || c.ID != v.ID {
		t.Fatalf("claim: %+v %v", c, err)
	}
	e.startWorker(t, Config{Concurrency: 1, Poll: 200 * time.Millisecond})
	got := e.wait(t, v.ID)
	if *got.Verdict != "AC" || got.Attempts != 2 {
		t.Fatalf("verdict %s after %d attempts, want AC after 2", *got.Verdict, got.Attempts)
	}
	// The dead worker's late verdict changes nothing.
	if err := e.store.Finish(context.Background(), v.ID, c.Lease("crashed-worker"), judge.Outcome{Verdict: judge.WrongAnswer, Tests: []int{}}); err != judge.ErrLeaseLost {
		t.Fatalf("late finish by the old owner: %v", err)
	}
}

// TestWorkerSweepsItsPredecessorsSandboxes: containers labelled with the worker's name
// are removed when it starts.
func TestWorkerSweepsItsPredecessorsSandboxes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var left []string
	for i := 0; i < 2; i++ {
		b, err := e.eng.Start(ctx) // abandoned, as by a killed worker
		if err != nil {
			t.Fatal(err)
		}
		left = append(left, b.ID())
	}
	alive := func() int {
		n := 0
		for _, id := range left {
			if _, err := e.eng.Client().ContainerInspect(ctx, id); err == nil {
				n++
			}
		}
		return n
	}
	if n := alive(); n != 2 {
		t.Fatalf("%d abandoned sandboxes before the worker starts, want 2", n)
	}
	e.startWorker(t, Config{Concurrency: 1})
	deadline := time.Now().Add(10 * time.Second)
	for alive() != 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := alive(); n != 0 {
		t.Fatalf("%d abandoned sandboxes left after the worker started", n)
	}
}

func TestSubmitValidates(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	f := func(problem, lang, src, field string) {
		t.Helper()
		_, err := e.store.Submit(ctx, e.user.ID, e.user.Username, problem, lang, src)
		ie, ok := err.(*judge.InputError)
		if !ok || ie.Field != field {
			t.Errorf("Submit(%q, %q, %d bytes): %v, want an error on %s", problem, lang, len(src), err, field)
		}
	}
	f("a-plus-b", "rust", "fn main(){}", "language")
	f("a-plus-b", "c", "", "source")
	f("a-plus-b", "c", string(make([]byte, 10<<20)), "source")
	f("a-plus-b", "c", "int main(){}\x00", "source")
	if _, err := e.store.Submit(ctx, e.user.ID, e.user.Username, "no-such-problem", "c", "int main(){}"); err != judge.ErrNotFound {
		t.Errorf("unknown problem: %v", err)
	}
	e.store.SubmitPerMinute = 3
	var limited error
	for i := 0; i < 5 && limited == nil; i++ {
		_, limited = e.store.Submit(ctx, e.user.ID, e.user.Username, "a-plus-b", "c", fmt.Sprint("int main(){return ", i, ";}"))
	}
	if limited != judge.ErrRateLimited {
		t.Errorf("the 4th submission in a minute: %v, want ErrRateLimited", limited)
	}
}

// TestALaterClaimFencesTheEarlierOne: leases carry the attempt, so a slot whose lease ran
// out cannot write over, or give back, the claim another slot of the same worker made.
func TestALaterClaimFencesTheEarlierOne(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	v, err := e.store.Submit(ctx, e.user.ID, e.user.Username, "a-plus-b", "c", "int main(){}")
	if err != nil {
		t.Fatal(err)
	}
	first, err := e.store.Claim(ctx, "w", 200*time.Millisecond)
	if err != nil || first == nil {
		t.Fatal(first, err)
	}
	time.Sleep(300 * time.Millisecond)
	second, err := e.store.Claim(ctx, "w", time.Minute)
	if err != nil || second == nil || second.ID != v.ID || second.Attempts != 2 {
		t.Fatalf("second claim: %+v %v", second, err)
	}
	old := first.Lease("w")
	if err := e.store.Extend(ctx, v.ID, old, time.Minute); err != judge.ErrLeaseLost {
		t.Errorf("extend by the old claim: %v", err)
	}
	if err := e.store.Progress(ctx, v.ID, old, []int{}, 1); err != judge.ErrLeaseLost {
		t.Errorf("progress by the old claim: %v", err)
	}
	if err := e.store.Release(ctx, v.ID, old); err != judge.ErrLeaseLost {
		t.Errorf("release by the old claim: %v", err)
	}
	if err := e.store.Finish(ctx, v.ID, old, judge.Outcome{Verdict: judge.WrongAnswer, Tests: []int{}}); err != judge.ErrLeaseLost {
		t.Errorf("finish by the old claim: %v", err)
	}
	if err := e.store.Finish(ctx, v.ID, second.Lease("w"), judge.Outcome{Verdict: judge.Accepted, Tests: []int{}}); err != nil {
		t.Errorf("finish by the current claim: %v", err)
	}
}
