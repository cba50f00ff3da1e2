package origin

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/luffy-edu/luffy/accounts"
	"github.com/luffy-edu/luffy/judge"
	"github.com/luffy-edu/luffy/judge/demo"
	"github.com/luffy-edu/luffy/judge/testzip"
	"github.com/luffy-edu/luffy/storage/pgtest"
)

// judgeOrigin is an origin whose database holds the demo problems, the accounts of
// newTestOrigin and a second student, student2.
type judgeOrigin struct {
	*testOrigin
	student, student2, tutor, admin string // bearer tokens
}

func newJudgeOrigin(t *testing.T) *judgeOrigin {
	t.Helper()
	return judgeOriginOf(t, newTestOrigin(t, 1))
}

func judgeOriginOf(t *testing.T, o *testOrigin) *judgeOrigin {
	t.Helper()
	ctx := context.Background()
	if _, err := demo.Seed(ctx, o.srv.judge); err != nil {
		t.Fatalf("seed problems: %v", err)
	}
	if _, err := accounts.NewService(o.db.Pool, 0).EnsureUser(ctx, "student2", testPassword, accounts.RoleStudent); err != nil {
		t.Fatal(err)
	}
	return &judgeOrigin{testOrigin: o,
		student: o.login(t, "student1"), student2: o.login(t, "student2"), tutor: o.login(t, "tutor1"), admin: o.login(t, "admin")}
}

const aPlusB = "#include <cstdio>\nint main() { long long a, b; scanf(\"%lld %lld\", &a, &b); printf(\"%lld\\n\", a + b); }\n"

func (o *judgeOrigin) submit(t *testing.T, token string, body any) response {
	t.Helper()
	return do(t, "POST", o.base+"/api/v1/submissions", token, body)
}

// submitOK submits a-plus-b and returns the new submission's id.
func (o *judgeOrigin) submitOK(t *testing.T, token, problem string) int64 {
	t.Helper()
	r := o.submit(t, token, map[string]string{"problem": problem, "language": "cpp17", "source": aPlusB})
	if r.status != 201 {
		t.Fatalf("submit: %d %s", r.status, r.body)
	}
	var v judge.SubmissionView
	r.json(t, &v)
	return v.ID
}

// judgeNext plays a worker: it claims the oldest queued submission, which must be want,
// and finishes it with verdict.
func (o *judgeOrigin) judgeNext(t *testing.T, want int64, verdict judge.Verdict, score int) {
	t.Helper()
	ctx := context.Background()
	c, err := o.srv.judge.Claim(ctx, "test-worker", time.Minute)
	if err != nil || c == nil || c.ID != want {
		t.Fatalf("claim: %+v, %v; want submission %d", c, err, want)
	}
	tests := []map[string]any{{"name": "1", "verdict": verdict, "time_ms": 2, "memory_kb": 900}}
	if err := o.srv.judge.Finish(ctx, c.ID, c.Lease("test-worker"), judge.Outcome{Verdict: verdict, Score: score, Tests: tests, TestsDone: 1}); err != nil {
		t.Fatal(err)
	}
}

func TestProblemsListAndDetail(t *testing.T) {
	o := newJudgeOrigin(t)

	var slugs []string
	url := o.base + "/api/v1/problems?limit=4"
	for pages := 0; ; pages++ {
		r := do(t, "GET", url, "", nil)
		if r.status != 200 || pages > 10 {
			t.Fatalf("GET %s: %d %s", url, r.status, r.body)
		}
		if cc := r.header.Get("Cache-Control"); cc != "public, max-age=30" {
			t.Errorf("list Cache-Control = %q", cc)
		}
		var page struct {
			Items      []judge.ProblemSummary `json:"items"`
			NextCursor *string                `json:"next_cursor"`
		}
		r.json(t, &page)
		for _, p := range page.Items {
			slugs = append(slugs, p.Slug)
			if p.TestCount == 0 || p.Title == "" || p.Tags == nil {
				t.Errorf("summary %+v", p)
			}
		}
		if page.NextCursor == nil {
			break
		}
		url = o.base + "/api/v1/problems?limit=4&cursor=" + *page.NextCursor
	}
	if len(slugs) != len(demo.Problems()) || slugs[0] != "a-plus-b" {
		t.Fatalf("listed %v, want the %d demo problems from a-plus-b on", slugs, len(demo.Problems()))
	}

	var bySlug, byID map[string]any
	r := do(t, "GET", o.base+"/api/v1/problems/a-plus-b", "", nil)
	r.json(t, &bySlug)
	if r.status != 200 || bySlug["statement"] == "" || bySlug["test_count"].(float64) == 0 || len(bySlug["samples"].([]any)) == 0 {
		t.Fatalf("a-plus-b: %d %s", r.status, r.body)
	}
	if _, shown := bySlug["checker_source"]; shown {
		t.Errorf("the checker's source is shown to students")
	}
	r = do(t, "GET", fmt.Sprintf("%s/api/v1/problems/%v", o.base, bySlug["id"]), "", nil)
	r.json(t, &byID)
	if r.status != 200 || byID["slug"] != "a-plus-b" {
		t.Fatalf("by id: %d %s", r.status, r.body)
	}

	f := func(path string, status int, code string) {
		t.Helper()
		r := do(t, "GET", o.base+path, "", nil)
		if r.status != status || r.errorCode() != code {
			t.Errorf("GET %s: %d %s, want %d %s", path, r.status, r.body, status, code)
		}
	}
	f("/api/v1/problems/no-such-problem", 404, "not_found")
	f("/api/v1/problems/999999", 404, "not_found")
	f("/api/v1/problems/A%20B", 404, "not_found")
	f("/api/v1/problems?cursor=abc", 400, "invalid_cursor")
	f("/api/v1/problems?limit=0", 400, "invalid_limit")
	f("/api/v1/problems?limit=-1", 400, "invalid_limit")
}

func TestSubmit(t *testing.T) {
	o := newJudgeOrigin(t)

	r := o.submit(t, o.student, map[string]string{"problem": "a-plus-b", "language": "cpp17", "source": aPlusB})
	var v judge.SubmissionView
	r.json(t, &v)
	if r.status != 201 || v.ID == 0 || v.Status != "queued" || v.Verdict != nil || v.ProblemSlug != "a-plus-b" || v.TestCount == 0 {
		t.Fatalf("submit: %d %s", r.status, r.body)
	}
	if loc := r.header.Get("Location"); loc != fmt.Sprintf("/api/v1/submissions/%d", v.ID) {
		t.Errorf("Location = %q", loc)
	}
	r = o.submit(t, o.student, map[string]any{"problem": v.ProblemID, "language": "python3", "source": "print(sum(map(int, input().split())))"})
	if r.status != 201 {
		t.Fatalf("submit by id: %d %s", r.status, r.body)
	}

	// A problem that exists but has no tests yet.
	if _, err := o.srv.judge.CreateProblem(context.Background(), judge.Problem{Slug: "untested", Title: "Untested", TimeLimitMS: 1000, MemoryLimitMB: 64, Checker: judge.CheckExact}, 0, "test"); err != nil {
		t.Fatal(err)
	}

	f := func(name, token string, body any, status int, code string) {
		t.Helper()
		r := o.submit(t, token, body)
		if r.status != status || r.errorCode() != code {
			t.Errorf("%s: %d %.200s, want %d %s", name, r.status, r.body, status, code)
		}
	}
	valid := func(problem any, language, source string) map[string]any {
		return map[string]any{"problem": problem, "language": language, "source": source}
	}
	f("signed out", "", valid("a-plus-b", "c", aPlusB), 401, "unauthenticated")
	f("bad token", "nope", valid("a-plus-b", "c", aPlusB), 401, "unauthenticated")
	f("unknown language", o.student, valid("a-plus-b", "cobol", aPlusB), 400, "invalid_language")
	f("empty source", o.student, valid("a-plus-b", "c", ""), 400, "invalid_source")
	f("blank source", o.student, valid("a-plus-b", "c", " \n\t"), 400, "invalid_source")
	f("70 KiB source", o.student, valid("a-plus-b", "c", strings.Repeat("x", 70<<10)), 400, "invalid_source")
	f("NUL in source", o.student, valid("a-plus-b", "c", "int main(){}\x00"), 400, "invalid_source")
	f("body over the cap", o.student, valid("a-plus-b", "c", strings.Repeat("\"", 120<<10)), 413, "body_too_large")
	f("malformed JSON", o.student, `{"problem": "a-plus-b", `, 400, "malformed_json")
	f("no body", o.student, nil, 400, "malformed_json")
	f("unknown field", o.student, `{"problem":"a-plus-b","language":"c","source":"x","lang":"c"}`, 400, "malformed_json")
	f("language not a string", o.student, `{"problem":"a-plus-b","language":17,"source":"x"}`, 400, "invalid_language")
	f("source not a string", o.student, `{"problem":"a-plus-b","language":"c","source":["x"]}`, 400, "invalid_source")
	f("problem missing", o.student, `{"language":"c","source":"x"}`, 400, "invalid_problem")
	f("problem null", o.student, valid(nil, "c", aPlusB), 400, "invalid_problem")
	f("problem a boolean", o.student, valid(true, "c", aPlusB), 400, "invalid_problem")
	f("problem a fraction", o.student, valid(1.5, "c", aPlusB), 400, "invalid_problem")
	f("problem an object", o.student, valid(map[string]int{"id": 1}, "c", aPlusB), 400, "invalid_problem")
	f("problem an empty string", o.student, valid("", "c", aPlusB), 400, "invalid_problem")
	f("no such slug", o.student, valid("no-such-problem", "c", aPlusB), 404, "not_found")
	f("no such id", o.student, valid(987654, "c", aPlusB), 404, "not_found")
	f("no tests yet", o.student, valid("untested", "c", aPlusB), 409, "no_tests")

	r = do(t, "PUT", o.base+"/api/v1/submissions", o.student, nil)
	if r.status != 405 || r.header.Get("Allow") != "GET, POST" {
		t.Errorf("PUT /api/v1/submissions: %d, Allow %q", r.status, r.header.Get("Allow"))
	}
}

// TestSubmitRateLimit fires a burst of parallel submissions at a low per-minute cap:
// exactly the cap gets through, whatever the interleaving.
func TestSubmitRateLimit(t *testing.T) {
	o := newJudgeOrigin(t)
	const limit, burst = 3, 12
	o.srv.judge.SubmitPerMinute = limit
	body, _ := json.Marshal(map[string]string{"problem": "a-plus-b", "language": "c", "source": aPlusB})

	type result struct {
		status     int
		retryAfter string
		code       string
	}
	results := make(chan result, burst)
	var wg sync.WaitGroup
	for range burst {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", o.base+"/api/v1/submissions", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+o.student)
			resp, err := client.Do(req)
			if err != nil {
				results <- result{code: err.Error()}
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			results <- result{resp.StatusCode, resp.Header.Get("Retry-After"), response{body: b}.errorCode()}
		}()
	}
	wg.Wait()
	close(results)
	created, limited := 0, 0
	for r := range results {
		switch {
		case r.status == 201:
			created++
		case r.status == 429 && r.retryAfter == "60" && r.code == "rate_limited":
			limited++
		default:
			t.Errorf("unexpected answer %+v", r)
		}
	}
	if created != limit || limited != burst-limit {
		t.Fatalf("%d created and %d limited, want %d and %d", created, limited, limit, burst-limit)
	}
	// The cap is per user.
	o.submitOK(t, o.student2, "a-plus-b")
}

func TestSubmissionVisibility(t *testing.T) {
	o := newJudgeOrigin(t)
	first := o.submitOK(t, o.student, "a-plus-b")
	second := o.submitOK(t, o.student, "hello-world")
	path := fmt.Sprintf("/api/v1/submissions/%d", first)

	f := func(path, token string, status int, code string) {
		t.Helper()
		r := do(t, "GET", o.base+path, token, nil)
		if r.status != status || r.errorCode() != code {
			t.Errorf("GET %s: %d %.200s, want %d %q", path, r.status, r.body, status, code)
		}
	}
	f(path, o.student, 200, "")
	f(path, o.tutor, 200, "")
	f(path, o.admin, 200, "")
	f(path, o.student2, 404, "not_found")
	f(path, "", 401, "unauthenticated")
	f(path+"/events", o.student2, 404, "not_found")
	f("/api/v1/submissions/987654", o.student, 404, "not_found")
	f("/api/v1/submissions/abc", o.student, 404, "not_found")
	f("/api/v1/submissions/abc/events", o.student, 404, "not_found")

	var v judge.SubmissionView
	do(t, "GET", o.base+path, o.student, nil).json(t, &v)
	if v.ID != first || v.Status != "queued" || v.Language != "cpp17" {
		t.Errorf("author read %+v", v)
	}

	// The author's list, newest first, one per page.
	var ids []int64
	url := o.base + "/api/v1/submissions?limit=1"
	for pages := 0; pages < 5; pages++ {
		var page struct {
			Items      []judge.SubmissionView `json:"items"`
			NextCursor *string                `json:"next_cursor"`
		}
		do(t, "GET", url, o.student, nil).json(t, &page)
		for _, s := range page.Items {
			ids = append(ids, s.ID)
		}
		if page.NextCursor == nil {
			break
		}
		url = o.base + "/api/v1/submissions?limit=1&cursor=" + *page.NextCursor
	}
	if fmt.Sprint(ids) != fmt.Sprint([]int64{second, first}) {
		t.Errorf("student1's submissions %v, want [%d %d]", ids, second, first)
	}
	r := do(t, "GET", o.base+"/api/v1/submissions", o.student2, nil)
	if r.status != 200 || !bytes.Contains(r.body, []byte(`"items":[]`)) {
		t.Errorf("student2's submissions: %d %s", r.status, r.body)
	}
	f("/api/v1/submissions", "", 401, "unauthenticated")
	f("/api/v1/submissions?cursor=x", o.student, 400, "invalid_cursor")
}

type sseEvent struct {
	name string
	data []byte
}

// openEvents opens a submission's event stream and delivers its events on the channel,
// which is closed when the server ends the stream.
func openEvents(t *testing.T, o *judgeOrigin, id int64, token string) (*http.Response, <-chan sseEvent) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/api/v1/submissions/%d/events", o.base, id), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	events := make(chan sseEvent, 16)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" {
					events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = []byte(strings.TrimPrefix(line, "data: "))
			}
		}
	}()
	return resp, events
}

func nextEvent(t *testing.T, events <-chan sseEvent) (string, judge.SubmissionView) {
	t.Helper()
	select {
	case ev, ok := <-events:
		if !ok {
			t.Fatal("the stream ended")
		}
		var v judge.SubmissionView
		if err := json.Unmarshal(ev.data, &v); err != nil {
			t.Fatalf("event %s: %v in %q", ev.name, err, ev.data)
		}
		return ev.name, v
	case <-time.After(10 * time.Second):
		t.Fatal("no event in 10 s")
	}
	return "", judge.SubmissionView{}
}

func TestSubmissionEvents(t *testing.T) {
	o := newJudgeOrigin(t)
	// No polling: what the stream hears after the first event comes through LISTEN/NOTIFY.
	o.srv.events.poll = time.Hour
	for deadline := time.Now().Add(5 * time.Second); !o.srv.events.up.Load(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the submission event listener did not connect within 5s")
		}
	}
	id := o.submitOK(t, o.student, "a-plus-b")

	resp, events := openEvents(t, o, id, o.student)
	for h, want := range map[string]string{"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-store", "X-Accel-Buffering": "no"} {
		if got := resp.Header.Get(h); resp.StatusCode != 200 || got != want {
			t.Errorf("%d, %s: %q, want %q", resp.StatusCode, h, got, want)
		}
	}
	name, v := nextEvent(t, events)
	if name != "progress" || v.ID != id || v.Status != "queued" {
		t.Fatalf("first event %s %+v", name, v)
	}

	ctx := context.Background()
	store := o.srv.judge
	c, err := store.Claim(ctx, "test-worker", time.Minute)
	if err != nil || c == nil || c.ID != id {
		t.Fatalf("claim: %+v, %v", c, err)
	}
	tests := []map[string]any{{"name": "1", "sample": true, "verdict": "AC", "time_ms": 3, "memory_kb": 1200}}
	if err := store.Progress(ctx, id, c.Lease("test-worker"), tests, 1); err != nil {
		t.Fatal(err)
	}
	name, v = nextEvent(t, events)
	if name != "progress" || v.Status != "judging" || v.TestsDone != 1 || !bytes.Contains(v.Tests, []byte(`"verdict":"AC"`)) {
		t.Fatalf("progress event %s %+v tests %s", name, v, v.Tests)
	}

	tests = append(tests, map[string]any{"name": "2", "verdict": "AC", "time_ms": 4, "memory_kb": 1300})
	if err := store.Finish(ctx, id, c.Lease("test-worker"), judge.Outcome{Verdict: judge.Accepted, Score: 100, TimeMS: 4, MemoryKB: 1300, Tests: tests, TestsDone: 2}); err != nil {
		t.Fatal(err)
	}
	name, v = nextEvent(t, events)
	if name != "done" || v.Status != "done" || v.Verdict == nil || *v.Verdict != "AC" || v.Score != 100 || v.TestsDone != 2 {
		t.Fatalf("last event %s %+v", name, v)
	}
	select {
	case ev, ok := <-events:
		if ok {
			t.Fatalf("an event after done: %s %s", ev.name, ev.data)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stream stayed open after done")
	}

	// A finished submission answers its state and done at once, to a tutor as well.
	_, events = openEvents(t, o, id, o.tutor)
	if name, _ := nextEvent(t, events); name != "progress" {
		t.Errorf("first event on a judged submission: %s", name)
	}
	if name, v := nextEvent(t, events); name != "done" || *v.Verdict != "AC" {
		t.Errorf("second event on a judged submission: %s %+v", name, v)
	}
	// The count drops when a stream's writer returns, just after its client sees the end.
	for deadline := time.Now().Add(2 * time.Second); o.srv.events.open.Load() != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d streams still counted as open", o.srv.events.open.Load())
		}
	}
}

func TestSubmissionEventsPollWithoutNotifications(t *testing.T) {
	o := newJudgeOrigin(t)
	o.srv.events.poll = 50 * time.Millisecond
	id := o.submitOK(t, o.student, "a-plus-b")
	_, events := openEvents(t, o, id, o.student)
	if name, _ := nextEvent(t, events); name != "progress" {
		t.Fatalf("first event %s", name)
	}
	// A claim is not announced; the poll sees it.
	if _, err := o.srv.judge.Claim(context.Background(), "test-worker", time.Minute); err != nil {
		t.Fatal(err)
	}
	if name, v := nextEvent(t, events); name != "progress" || v.Status != "judging" {
		t.Fatalf("after the claim: %s %+v", name, v)
	}
}

func TestSubmissionEventStreamCap(t *testing.T) {
	o := newJudgeOrigin(t)
	o.srv.events.maxStreams = 1
	id := o.submitOK(t, o.student, "a-plus-b")
	_, events := openEvents(t, o, id, o.student)
	nextEvent(t, events)
	r := do(t, "GET", fmt.Sprintf("%s/api/v1/submissions/%d/events", o.base, id), o.student, nil)
	if r.status != 503 || r.errorCode() != "busy" {
		t.Fatalf("a stream over the cap: %d %s", r.status, r.body)
	}
}

func TestWrongBook(t *testing.T) {
	o := newJudgeOrigin(t)
	wa1 := o.submitOK(t, o.student, "a-plus-b")
	wa2 := o.submitOK(t, o.student, "a-plus-b")
	ac := o.submitOK(t, o.student, "hello-world")
	o.submitOK(t, o.student, "reverse-string") // queued: not judged, so not wrong
	o.judgeNext(t, wa1, judge.WrongAnswer, 0)
	o.judgeNext(t, wa2, judge.TimeLimitExceeded, 40)
	o.judgeNext(t, ac, judge.Accepted, 100)

	r := do(t, "GET", o.base+"/api/v1/me/wrong-book", o.student, nil)
	var book struct {
		Items []judge.WrongEntry `json:"items"`
	}
	r.json(t, &book)
	if r.status != 200 || len(book.Items) != 1 {
		t.Fatalf("wrong book: %d %s", r.status, r.body)
	}
	if e := book.Items[0]; e.Slug != "a-plus-b" || e.Attempts != 2 || e.BestScore != 40 || e.LastVerdict != "TLE" {
		t.Errorf("entry %+v", e)
	}
	r = do(t, "GET", o.base+"/api/v1/me/wrong-book", o.student2, nil)
	if r.status != 200 || string(r.body) != `{"items":[]}` {
		t.Errorf("student2's wrong book: %d %s", r.status, r.body)
	}
	if r := do(t, "GET", o.base+"/api/v1/me/wrong-book", "", nil); r.status != 401 {
		t.Errorf("signed out: %d", r.status)
	}
}

func zipOf(t *testing.T, files ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := 0; i+1 < len(files); i += 2 {
		w, err := zw.Create(files[i])
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, files[i+1])
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestAdminProblems(t *testing.T) {
	o := newJudgeOrigin(t)
	in := map[string]any{
		"slug": "double-it", "title": "Double it", "statement": "Print twice the number.", "time_limit_ms": 1000,
		"memory_limit_mb": 128, "checker": "token", "tags": []string{"math"},
		"subtasks": []judge.Subtask{{Name: "small", Points: 40, Tests: []string{"sample1"}}, {Name: "big", Points: 60, Tests: []string{"big1"}}},
	}
	create := func(token string, body any) response {
		return do(t, "POST", o.base+"/api/v1/admin/problems", token, body)
	}
	r := create(o.admin, in)
	var p judge.Problem
	r.json(t, &p)
	if r.status != 201 || p.ID == 0 || p.Slug != "double-it" || p.TestCount != 0 || len(p.Subtasks) != 2 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}

	f := func(name string, r response, status int, code string) {
		t.Helper()
		if r.status != status || r.errorCode() != code {
			t.Errorf("%s: %d %.300s, want %d %s", name, r.status, r.body, status, code)
		}
	}
	with := func(k string, v any) map[string]any {
		out := map[string]any{}
		for k, v := range in {
			out[k] = v
		}
		out["slug"] = "another"
		out[k] = v
		return out
	}
	f("slug taken", create(o.admin, in), 409, "conflict")
	f("bad slug", create(o.admin, with("slug", "Not A Slug")), 400, "invalid_slug")
	f("time limit too small", create(o.admin, with("time_limit_ms", 5)), 400, "invalid_time_limit_ms")
	f("unknown checker", create(o.admin, with("checker", "fuzzy")), 400, "invalid_checker")
	f("subtasks not adding up", create(o.admin, with("subtasks", []judge.Subtask{{Name: "a", Points: 10, Tests: []string{"x"}}})), 400, "invalid_subtasks")
	f("wrong type", create(o.admin, with("memory_limit_mb", "lots")), 400, "invalid_memory_limit_mb")
	f("unknown field", create(o.admin, with("samples", []string{})), 400, "malformed_json")
	f("student", create(o.student, with("slug", "x")), 403, "forbidden")
	f("signed out", create("", with("slug", "x")), 401, "unauthenticated")

	upload := func(token string, id any, body []byte) response {
		return do(t, "PUT", fmt.Sprintf("%s/api/v1/admin/problems/%v/tests", o.base, id), token, body, "Content-Type", "application/zip")
	}
	var archive bytes.Buffer
	if err := testzip.Write(&archive, []judge.TestCase{
		{Name: "sample1", Input: []byte("2\n"), Answer: []byte("4\n"), Sample: true},
		{Name: "big1", Input: []byte("1000000\n"), Answer: []byte("2000000\n")},
	}); err != nil {
		t.Fatal(err)
	}
	r = upload(o.admin, p.ID, archive.Bytes())
	r.json(t, &p)
	if r.status != 200 || p.TestCount != 2 || len(p.Samples) != 1 || p.Samples[0].Input != "2\n" {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	var shown judge.Problem
	do(t, "GET", o.base+"/api/v1/problems/double-it", "", nil).json(t, &shown)
	if shown.TestCount != 2 || len(shown.Samples) != 1 {
		t.Errorf("after the upload students see %+v", shown)
	}
	o.submitOK(t, o.student, "double-it")

	f("garbage", upload(o.admin, p.ID, []byte("this is not a zip")), 400, "invalid_tests")
	f("empty body", upload(o.admin, p.ID, nil), 400, "invalid_tests")
	r = upload(o.admin, p.ID, zipOf(t, "sample1.in", "2\n", "sample1.ans", "4\n", "big1.in", "1\n"))
	f("unpaired .in", r, 400, "invalid_tests")
	if !bytes.Contains(r.body, []byte("big1")) {
		t.Errorf("the error does not name the unpaired test: %s", r.body)
	}
	f("subtask names a missing test", upload(o.admin, p.ID, zipOf(t, "sample1.in", "2\n", "sample1.ans", "4\n")), 400, "invalid_tests")
	f("student", upload(o.student, p.ID, archive.Bytes()), 403, "forbidden")
	f("signed out", upload("", p.ID, archive.Bytes()), 401, "unauthenticated")
	f("no such problem", upload(o.admin, 987654, archive.Bytes()), 404, "not_found")
	f("bad id", upload(o.admin, "abc", archive.Bytes()), 400, "invalid_id")
	f("POST instead of PUT", do(t, "POST", fmt.Sprintf("%s/api/v1/admin/problems/%d/tests", o.base, p.ID), o.admin, archive.Bytes()), 405, "method_not_allowed")
	f("no such admin route", do(t, "PUT", fmt.Sprintf("%s/api/v1/admin/problems/%d", o.base, p.ID), o.admin, archive.Bytes()), 404, "not_found")

	// A failed upload leaves the tests as they were.
	do(t, "GET", o.base+"/api/v1/problems/double-it", "", nil).json(t, &shown)
	if shown.TestCount != 2 {
		t.Errorf("after failed uploads the problem has %d tests", shown.TestCount)
	}
}

// TestBodyLimits checks that only a test upload may send more than MaxBodyBytes, up to
// MaxUploadBytes.
func TestBodyLimits(t *testing.T) {
	db := pgtest.New(t)
	if _, err := accounts.NewService(db.Pool, 0).EnsureUser(context.Background(), "admin", testPassword, accounts.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	o := startOrigin(t, db, Config{MaxBodyBytes: 4 << 10, MaxUploadBytes: 256 << 10})
	admin := o.login(t, "admin")
	p, err := o.srv.judge.CreateProblem(context.Background(), judge.Problem{Slug: "big-tests", Title: "Big tests", TimeLimitMS: 1000, MemoryLimitMB: 64, Checker: judge.CheckExact}, 0, "test")
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("7", 100<<10)
	var archive bytes.Buffer
	zw := zip.NewWriter(&archive)
	for _, name := range []string{"t1.in", "t1.ans"} {
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		io.WriteString(w, big)
	}
	zw.Close()

	f := func(name string, r response, status int, code string) {
		t.Helper()
		if r.status != status || r.errorCode() != code {
			t.Errorf("%s: %d %.200s, want %d %s", name, r.status, r.body, status, code)
		}
	}
	tests := fmt.Sprintf("%s/api/v1/admin/problems/%d/tests", o.base, p.ID)
	f("200 KiB upload", do(t, "PUT", tests, admin, archive.Bytes()), 200, "")
	// The origin answers 413 before reading a body it will refuse and closes: a client still
	// sending may see the close first, so the request goes out whole before the answer is read.
	over, _, err := sendWhole("PUT", tests, admin, make([]byte, 300<<10))
	if err != nil {
		t.Fatalf("upload over MaxUploadBytes: %v", err)
	}
	f("upload over MaxUploadBytes", over, 413, "body_too_large")
	f("8 KiB login", do(t, "POST", o.base+"/api/v1/auth/login", "", strings.Repeat(" ", 8<<10)), 413, "body_too_large")
	f("8 KiB submission", do(t, "POST", o.base+"/api/v1/submissions", admin, strings.Repeat(" ", 8<<10)), 413, "body_too_large")
	// Looks like an upload until the path is normalized.
	f("disguised upload", do(t, "PUT", o.base+"/api/v1/admin/problems/1/../../courses/1/x/../tests", admin, make([]byte, 8<<10)), 413, "body_too_large")
}
