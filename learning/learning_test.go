package learning

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/minio/minio-go/v7"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/luffy-edu/luffy/accounts"
	"github.com/luffy-edu/luffy/catalog"
	"github.com/luffy-edu/luffy/jobs"
	"github.com/luffy-edu/luffy/storage"
	"github.com/luffy-edu/luffy/storage/pgtest"
)

// env is a seeded catalog with a course whose tutor is set, its homework and lessons, and
// users of every role; student is enrolled, outsider is not.
type env struct {
	s        *Service
	pool     *pgxpool.Pool
	objects  *storage.Objects
	student  int64
	outsider int64
	tutor    int64
	tutor2   int64
	admin    int64
	course   int64
	homework int64
	lesson   int64 // not a free preview
	preview  int64
	// untutored is a lesson, which student may ask about, of a course without a tutor.
	untutored int64
}

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	ctx := context.Background()
	db := pgtest.New(t)
	objects, err := storage.OpenObjects(ctx, storage.ObjectConfig{})
	if err != nil {
		t.Fatalf("%v\nstart the local stack with `make stack`", err)
	}
	enq, err := jobs.NewClient(db.Pool, jobs.Config{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := catalog.Seed(ctx, db.Pool, 4); err != nil {
		t.Fatal(err)
	}
	e := &env{s: New(db.Pool, objects, enq, cfg), pool: db.Pool, objects: objects}
	acc := accounts.NewService(db.Pool, time.Hour)
	for _, u := range []struct {
		id   *int64
		name string
		role accounts.Role
	}{
		{&e.student, "student1", accounts.RoleStudent}, {&e.outsider, "outsider", accounts.RoleStudent},
		{&e.tutor, "tutor1", accounts.RoleTutor}, {&e.tutor2, "tutor2", accounts.RoleTutor}, {&e.admin, "admin1", accounts.RoleAdmin},
	} {
		got, err := acc.EnsureUser(ctx, u.name, "luffy-demo", u.role)
		if err != nil {
			t.Fatal(err)
		}
		*u.id = got.ID
	}
	err = db.Pool.QueryRow(ctx, `
		SELECT h.id, h.course_id,
			(SELECT id FROM lessons WHERE course_id = h.course_id AND NOT free_preview ORDER BY id LIMIT 1),
			(SELECT id FROM lessons WHERE course_id = h.course_id AND free_preview ORDER BY id LIMIT 1)
		FROM homework h ORDER BY h.id LIMIT 1`).Scan(&e.homework, &e.course, &e.lesson, &e.preview)
	if err != nil {
		t.Fatalf("pick a course with homework: %v", err)
	}
	var other int64
	err = db.Pool.QueryRow(ctx, `SELECT course_id, id FROM lessons WHERE course_id <> $1 AND NOT free_preview ORDER BY id LIMIT 1`,
		e.course).Scan(&other, &e.untutored)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []int64{e.course, other} {
		if _, err := db.Pool.Exec(ctx, `INSERT INTO enrollments (user_id, course_id) VALUES ($1, $2)`, e.student, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.s.AssignTutor(ctx, e.course, e.tutor); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.removeObjects(t) })
	return e
}

// removeObjects deletes what the test stored: test databases reuse ids, the bucket is shared.
func (e *env) removeObjects(t *testing.T) {
	ctx := context.Background()
	rows, err := e.pool.Query(ctx, `SELECT object_key FROM homework_files`)
	if err != nil {
		t.Error(err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var key string
		if err := rows.Scan(&key); err == nil {
			_ = e.objects.RemoveObject(ctx, e.objects.Bucket, key, minio.RemoveObjectOptions{})
		}
	}
}

func (e *env) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func inputErr(err error, field string) bool {
	var in *InputError
	return errors.As(err, &in) && in.Field == field
}

var (
	pdf = []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
	png = append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 32)...)
)

func TestSubmitRejects(t *testing.T) {
	e := newEnv(t, Config{MaxFileBytes: 1024})
	ctx := context.Background()
	f := func(name string, files []File, field string) {
		t.Helper()
		if _, err := e.s.Submit(ctx, e.student, e.homework, "my answer", files); !inputErr(err, field) {
			t.Errorf("%s: got %v, want an input error on %s", name, err, field)
		}
	}
	f("too large", []File{{"big.txt", bytes.Repeat([]byte("a"), 1025)}}, "files[0]")
	f("empty", []File{{"a.pdf", pdf}, {"empty.txt", nil}}, "files[1]")
	f("extension not allowed", []File{{"run.exe", []byte("MZ\x90\x00")}}, "files[0]")
	f("no extension", []File{{"README", []byte("hello")}}, "files[0]")
	f("content is not what the name says", []File{{"report.pdf", png}}, "files[0]")
	f("text named an image", []File{{"pic.png", []byte("just text")}}, "files[0]")
	f("a path, not a name", []File{{"../../etc/x.txt", []byte("x")}}, "files[0].name")
	f("twice the same name", []File{{"a.txt", []byte("x")}, {"a.txt", []byte("y")}}, "files[1].name")
	if _, err := e.s.Submit(ctx, e.student, e.homework, "  ", nil); !inputErr(err, "text") {
		t.Errorf("an empty submission: %v", err)
	}
	if _, err := e.s.Submit(ctx, e.outsider, e.homework, "let me in", nil); !errors.Is(err, ErrForbidden) {
		t.Errorf("a student not enrolled: %v, want ErrForbidden", err)
	}
	if _, err := e.pool.Exec(ctx, `UPDATE enrollments SET expires_at = now() - interval '1 day' WHERE user_id = $1 AND course_id = $2`, e.student, e.course); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Submit(ctx, e.student, e.homework, "expired", nil); !errors.Is(err, ErrForbidden) {
		t.Errorf("an expired enrollment: %v, want ErrForbidden", err)
	}
	if _, err := e.s.Submit(ctx, e.student, 1<<40, "x", nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("no such homework: %v, want ErrNotFound", err)
	}
	if n := e.count(t, `SELECT count(*) FROM homework_submissions`); n != 0 {
		t.Errorf("%d submissions recorded by rejected calls", n)
	}
}

func TestSubmitAndGrade(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	v1, err := e.s.Submit(ctx, e.student, e.homework, "first try", []File{{"report.pdf", pdf}, {"notes.md", []byte("# Notes\n\n- one\n")}, {"shot.png", png}})
	if err != nil {
		t.Fatal(err)
	}
	if v1.Version != 1 || v1.Status != SubmissionSubmitted || len(v1.Files) != 3 || v1.CourseID != e.course {
		t.Fatalf("first submission: %+v", v1)
	}
	wantTypes := []string{"application/pdf", "text/markdown; charset=utf-8", "image/png"}
	for i, a := range v1.Files {
		wantKey := regexp.MustCompile(fmt.Sprintf(`^homework/%d/%d/v1-[0-9a-f]{12}/%s$`, e.homework, e.student, regexp.QuoteMeta(a.Name)))
		if a.ContentType != wantTypes[i] || !wantKey.MatchString(a.ObjectKey) || a.ID == 0 {
			t.Errorf("file %d: %+v, want type %s at %s", i, a, wantTypes[i], wantKey)
		}
	}
	obj, err := e.objects.GetObject(ctx, e.objects.Bucket, v1.Files[0].ObjectKey, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := io.ReadAll(obj)
	if err != nil || !bytes.Equal(stored, pdf) {
		t.Fatalf("stored pdf: %q %v", stored, err)
	}

	v2, err := e.s.Submit(ctx, e.student, e.homework, "second try", []File{{"report.pdf", pdf}})
	if err != nil || v2.Version != 2 || !regexp.MustCompile(fmt.Sprintf(`^homework/%d/%d/v2-[0-9a-f]{12}/report.pdf$`, e.homework, e.student)).MatchString(v2.Files[0].ObjectKey) {
		t.Fatalf("resubmission: %+v %v", v2, err)
	}
	list, err := e.s.Submissions(ctx, e.student, e.homework)
	if err != nil || len(list) != 2 || list[0].Version != 2 || list[1].Version != 1 || len(list[1].Files) != 3 || list[1].Text != "first try" {
		t.Fatalf("a student's versions: %+v %v", list, err)
	}

	queue, err := e.s.TutorQueue(ctx, e.tutor, 10)
	if err != nil || len(queue) != 1 || queue[0].ID != v2.ID {
		t.Fatalf("tutor queue holds only the latest version: %+v %v", queue, err)
	}
	if q, err := e.s.TutorQueue(ctx, e.tutor2, 10); err != nil || len(q) != 0 {
		t.Fatalf("another tutor's queue: %+v %v", q, err)
	}

	if _, err := e.s.Grade(ctx, e.tutor2, false, v2.ID, 90, "", nil); !errors.Is(err, ErrForbidden) {
		t.Fatalf("grade by a tutor not of this course: %v, want ErrForbidden", err)
	}
	if _, err := e.s.Grade(ctx, e.tutor, false, v2.ID, 101, "", nil); !inputErr(err, "score") {
		t.Fatalf("score 101: %v", err)
	}
	if _, err := e.s.Grade(ctx, e.tutor, false, v2.ID, 80, "", []Criterion{{"style", 11, 10}}); !inputErr(err, "rubric[0].points") {
		t.Fatalf("rubric points over max: %v", err)
	}
	if _, err := e.s.Grade(ctx, e.tutor, false, 1<<40, 80, "", nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("no such submission: %v", err)
	}

	failed, err := e.s.Grade(ctx, e.tutor, false, v2.ID, 50, "needs tests", []Criterion{{"correctness", 30, 60}, {"style", 20, 40}})
	if err != nil || failed.Status != SubmissionGraded || *failed.Score != 50 || *failed.Passed || len(failed.Rubric) != 2 || failed.Rubric[1].Points != 20 || len(failed.Files) != 1 {
		t.Fatalf("a failing grade: %+v %v", failed, err)
	}
	if _, err := e.s.Grade(ctx, e.tutor, false, v2.ID, 70, "", nil); !errors.Is(err, ErrConflict) {
		t.Fatalf("grading a graded submission: %v, want ErrConflict", err)
	}
	if q, _ := e.s.TutorQueue(ctx, e.tutor, 10); len(q) != 0 {
		t.Fatalf("graded submission still queued: %+v", q)
	}
	awarded := func() int {
		return e.count(t, `SELECT coalesce(sum(amount), 0) FROM points_transfers WHERE kind = 'homework_passed' AND ref = $1`,
			fmt.Sprintf("homework:%d:%d", e.homework, e.student))
	}
	if n := awarded(); n != 0 {
		t.Fatalf("a fail awarded %d points", n)
	}

	// Two passing versions (one graded by an admin) earn the homework's points once.
	v3, err := e.s.Submit(ctx, e.student, e.homework, "third try", nil)
	if err != nil {
		t.Fatal(err)
	}
	if g, err := e.s.Grade(ctx, e.tutor, false, v3.ID, 60, "ok", nil); err != nil || !*g.Passed {
		t.Fatalf("a pass at exactly PassScore: %+v %v", g, err)
	}
	first := awarded()
	if first <= 0 {
		t.Fatalf("a pass awarded %d points", first)
	}
	v4, err := e.s.Submit(ctx, e.student, e.homework, "polished", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Grade(ctx, e.admin, true, v4.ID, 95, "great", nil); err != nil {
		t.Fatal(err)
	}
	if n := awarded(); n != first {
		t.Fatalf("a second pass changed the award from %d to %d points", first, n)
	}
	if n := e.count(t, `SELECT count(*) FROM notifications WHERE user_id = $1 AND kind = 'grade' AND dedupe_key LIKE 'grade:%'`, e.student); n != 3 {
		t.Fatalf("%d grade notifications, want 3", n)
	}
	if n := e.count(t, `SELECT count(*) FROM notifications WHERE user_id = $1 AND kind = 'points' AND (data->>'points')::int = $2`, e.student, first); n != 1 {
		t.Fatalf("%d notices of the %d homework points, want 1", n, first)
	}
}

// Concurrent submissions of one student each get their own version and their own files.
func TestConcurrentSubmissions(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.s.Submit(ctx, e.student, e.homework, fmt.Sprint("try ", i), []File{{"answer.txt", []byte(fmt.Sprint("answer ", i))}})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := e.count(t, `SELECT count(DISTINCT version) FROM homework_submissions WHERE version BETWEEN 1 AND $1`, n); got != n {
		t.Fatalf("%d distinct versions, want %d", got, n)
	}
	// Each version's object holds what that version's text says it does.
	subs, err := e.s.Submissions(ctx, e.student, e.homework)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range subs {
		obj, err := e.objects.GetObject(ctx, e.objects.Bucket, s.Files[0].ObjectKey, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(obj)
		if want := "answer " + s.Text[len("try "):]; string(b) != want {
			t.Errorf("version %d file holds %q, want %q", s.Version, b, want)
		}
	}
}

// jobArgs reads the jobs of kind inserted for a question, as a worker would receive them.
func jobArgs[T river.JobArgs](t *testing.T, e *env, questionID int64) []*river.Job[T] {
	t.Helper()
	var zero T
	rows, err := e.pool.Query(context.Background(), `SELECT args, scheduled_at FROM river_job
		WHERE kind = $1 AND (args->>'question_id')::bigint = $2 ORDER BY id`, zero.Kind(), questionID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []*river.Job[T]
	for rows.Next() {
		var (
			raw []byte
			at  time.Time
		)
		if err := rows.Scan(&raw, &at); err != nil {
			t.Fatal(err)
		}
		j := &river.Job[T]{JobRow: &rivertype.JobRow{Kind: zero.Kind(), EncodedArgs: raw, ScheduledAt: at}}
		if err := json.Unmarshal(raw, &j.Args); err != nil {
			t.Fatal(err)
		}
		out = append(out, j)
	}
	return out
}

func (e *env) question(t *testing.T, id int64) Question {
	t.Helper()
	q, err := e.s.Question(context.Background(), e.student, id)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func TestQuestionLifecycle(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	loc := e.s.cfg.Location
	friday := time.Date(2026, time.June, 5, 17, 0, 0, 0, loc)
	e.s.now = func() time.Time { return friday }
	pool, ret, esc := &poolWorker{s: e.s}, &returnWorker{s: e.s}, &escalateWorker{s: e.s}

	if _, err := e.s.Ask(ctx, e.outsider, e.lesson, "why?", ""); !errors.Is(err, ErrForbidden) {
		t.Fatalf("a question from a student not enrolled: %v, want ErrForbidden", err)
	}
	if _, err := e.s.Ask(ctx, e.outsider, e.preview, "about the preview", ""); err != nil {
		t.Fatalf("a question about a free preview: %v", err)
	}
	if _, err := e.s.Ask(ctx, e.student, e.lesson, "", "body"); !inputErr(err, "title") {
		t.Fatalf("no title: %v", err)
	}
	q, err := e.s.Ask(ctx, e.student, e.lesson, "Why does this deadlock?", "line 12 hangs")
	if err != nil {
		t.Fatal(err)
	}
	if q.Status != QuestionAssigned || q.AssigneeID == nil || *q.AssigneeID != e.tutor || !q.DeadlineAt.Equal(time.Date(2026, 6, 8, 10, 0, 0, 0, loc)) {
		t.Fatalf("a new question: %+v", q)
	}
	pj, ej := jobArgs[QuestionPoolArgs](t, e, q.ID), jobArgs[QuestionEscalateArgs](t, e, q.ID)
	if len(pj) != 1 || !pj[0].ScheduledAt.Equal(*q.DeadlineAt) || len(ej) != 1 || !ej[0].ScheduledAt.Equal(friday.Add(24*time.Hour)) {
		t.Fatalf("timers: pool %+v, escalate %+v", pj, ej)
	}
	if n := e.count(t, `SELECT count(*) FROM notifications WHERE user_id = $1 AND kind = 'question' AND dedupe_key = $2`, e.tutor, fmt.Sprint("question:", q.ID)); n != 1 {
		t.Fatalf("the tutor got %d notices of the question, want 1", n)
	}
	if tq, err := e.s.TutorQuestions(ctx, e.tutor, 10); err != nil || len(tq) != 2 || tq[1].ID != q.ID { // after the preview question
		t.Fatalf("the tutor's questions: %+v %v", tq, err)
	}
	if _, err := e.s.Answer(ctx, e.tutor2, false, q.ID, "try this"); !errors.Is(err, ErrForbidden) {
		t.Fatalf("an answer by a tutor not holding it: %v", err)
	}
	if _, err := e.s.Take(ctx, e.tutor2, q.ID); !errors.Is(err, ErrConflict) {
		t.Fatalf("taking an assigned question: %v, want ErrConflict", err)
	}

	// 2 working hours later: to the pool, once.
	if err := pool.Work(ctx, pj[0]); err != nil {
		t.Fatal(err)
	}
	if q = e.question(t, q.ID); q.Status != QuestionPooled || q.AssigneeID != nil {
		t.Fatalf("after the pool timer: %+v", q)
	}
	if changed, err := e.s.poolQuestion(ctx, pj[0].Args); err != nil || changed {
		t.Fatalf("a repeated pool timer changed the question: %v", err)
	}
	if p, err := e.s.Pool(ctx, 10); err != nil || len(p) == 0 || p[len(p)-1].ID != q.ID {
		t.Fatalf("the pool: %+v %v", p, err)
	}
	if _, err := e.s.Take(ctx, e.student, q.ID); !errors.Is(err, ErrForbidden) {
		t.Fatalf("a student taking a question: %v", err)
	}

	// Tutors race for it: exactly one takes it.
	const racers = 16
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		won   []Question
		other []error
	)
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tutor := []int64{e.tutor, e.tutor2}[i%2]
			got, err := e.s.Take(ctx, tutor, q.ID)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				won = append(won, got)
			} else if !errors.Is(err, ErrConflict) {
				other = append(other, err)
			}
		}()
	}
	wg.Wait()
	if len(won) != 1 || len(other) != 0 {
		t.Fatalf("%d tutors took the question, other errors %v", len(won), other)
	}
	taker := *won[0].AssigneeID
	rj := jobArgs[QuestionReturnArgs](t, e, q.ID)
	if len(rj) != 1 || !rj[0].Args.TakenAt.Equal(*won[0].TakenAt) || !rj[0].ScheduledAt.Equal(won[0].TakenAt.Add(time.Hour)) {
		t.Fatalf("return timers after one take: %+v", rj)
	}

	// An hour later, unanswered: back to the pool, once.
	if err := ret.Work(ctx, rj[0]); err != nil {
		t.Fatal(err)
	}
	if q = e.question(t, q.ID); q.Status != QuestionPooled || q.AssigneeID != nil || q.TakenAt != nil {
		t.Fatalf("after the return timer: %+v", q)
	}
	if changed, err := e.s.returnQuestion(ctx, rj[0].Args); err != nil || changed {
		t.Fatalf("a repeated return timer changed the question: %v", err)
	}
	if _, err := e.s.Answer(ctx, taker, false, q.ID, "late"); !errors.Is(err, ErrForbidden) {
		t.Fatalf("an answer by a tutor whose hour ran out: %v", err)
	}

	// Taken again: the first take's timer is stale and must not return the new take.
	again, err := e.s.Take(ctx, e.tutor2, q.ID)
	if err != nil {
		t.Fatal(err)
	}
	if changed, err := e.s.returnQuestion(ctx, rj[0].Args); err != nil || changed {
		t.Fatalf("the first take's timer returned the second take: %v", err)
	}
	answered, err := e.s.Answer(ctx, e.tutor2, false, q.ID, "Lock the mutexes in one order.")
	if err != nil || answered.Status != QuestionAnswered || *answered.AnsweredBy != e.tutor2 {
		t.Fatalf("answer: %+v %v", answered, err)
	}
	if _, err := e.s.Answer(ctx, e.tutor2, false, q.ID, "again"); !errors.Is(err, ErrConflict) {
		t.Fatalf("a second answer: %v, want ErrConflict", err)
	}
	if n := e.count(t, `SELECT count(*) FROM notifications WHERE user_id = $1 AND kind = 'answer' AND dedupe_key = $2`, e.student, fmt.Sprint("answer:", q.ID)); n != 1 {
		t.Fatalf("%d answer notices, want 1", n)
	}

	// Every timer that fires now, late, finds the question answered and changes nothing.
	rj = jobArgs[QuestionReturnArgs](t, e, q.ID)
	if len(rj) != 2 || !rj[1].Args.TakenAt.Equal(*again.TakenAt) {
		t.Fatalf("return timers after two takes: %+v", rj)
	}
	for _, late := range []func() (bool, error){
		func() (bool, error) { return e.s.returnQuestion(ctx, rj[1].Args) },
		func() (bool, error) { return e.s.poolQuestion(ctx, pj[0].Args) },
		func() (bool, error) { return e.s.escalateQuestion(ctx, ej[0].Args) },
	} {
		if changed, err := late(); err != nil || changed {
			t.Fatalf("a late timer changed an answered question: %v", err)
		}
	}
	if err := esc.Work(ctx, ej[0]); err != nil {
		t.Fatal(err)
	}
	if got := e.question(t, q.ID); got.Status != QuestionAnswered || got.Answer != answered.Answer || got.EscalatedAt != nil {
		t.Fatalf("after late timers: %+v", got)
	}

	// Who may read it.
	if _, err := e.s.Question(ctx, e.outsider, q.ID); !errors.Is(err, ErrForbidden) {
		t.Fatalf("another student reading a question: %v", err)
	}
	if _, err := e.s.Question(ctx, e.tutor, q.ID); err != nil {
		t.Fatalf("a tutor reading a question: %v", err)
	}
	if mine, err := e.s.MyQuestions(ctx, e.student); err != nil || len(mine) != 1 || mine[0].ID != q.ID {
		t.Fatalf("my questions: %+v %v", mine, err)
	}
}

func TestQuestionEscalation(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	q, err := e.s.Ask(ctx, e.student, e.lesson, "Nobody answers", "")
	if err != nil {
		t.Fatal(err)
	}
	ej := jobArgs[QuestionEscalateArgs](t, e, q.ID)
	if len(ej) != 1 {
		t.Fatalf("%d escalation timers", len(ej))
	}
	if changed, err := e.s.escalateQuestion(ctx, ej[0].Args); err != nil || !changed {
		t.Fatalf("escalate: %v", err)
	}
	if q = e.question(t, q.ID); q.Status != QuestionEscalated || q.EscalatedAt == nil {
		t.Fatalf("after 24 hours: %+v", q)
	}
	if changed, err := e.s.escalateQuestion(ctx, ej[0].Args); err != nil || changed {
		t.Fatalf("a repeated escalation changed the question: %v", err)
	}
	pj := jobArgs[QuestionPoolArgs](t, e, q.ID)
	if changed, err := e.s.poolQuestion(ctx, pj[0].Args); err != nil || changed {
		t.Fatalf("the pool timer, later than escalation, changed the question: %v", err)
	}
	key := fmt.Sprint("escalated:", q.ID)
	for _, u := range []int64{e.student, e.admin} {
		if n := e.count(t, `SELECT count(*) FROM notifications WHERE user_id = $1 AND dedupe_key = $2`, u, key); n != 1 {
			t.Fatalf("user %d got %d escalation notices, want 1", u, n)
		}
	}
	// The tutor who held it may still answer, and the student hears of it.
	if _, err := e.s.Answer(ctx, e.tutor, false, q.ID, "Sorry for the wait."); err != nil {
		t.Fatal(err)
	}
	if n := e.count(t, `SELECT count(*) FROM notifications WHERE user_id = $1 AND kind = 'answer'`, e.student); n != 1 {
		t.Fatalf("%d answer notices", n)
	}
}

// A course without a tutor sends questions straight to the pool, where an admin may
// answer without taking them.
func TestQuestionWithoutTutor(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	q, err := e.s.Ask(ctx, e.student, e.untutored, "Anyone?", "")
	if err != nil {
		t.Fatal(err)
	}
	if q.Status != QuestionPooled || q.AssigneeID != nil || q.DeadlineAt != nil {
		t.Fatalf("a question of a course without a tutor: %+v", q)
	}
	if n := len(jobArgs[QuestionPoolArgs](t, e, q.ID)); n != 0 {
		t.Fatalf("%d pool timers for a pooled question", n)
	}
	if n := len(jobArgs[QuestionEscalateArgs](t, e, q.ID)); n != 1 {
		t.Fatalf("%d escalation timers", n)
	}
	if _, err := e.s.Answer(ctx, e.tutor, false, q.ID, "not mine to answer"); !errors.Is(err, ErrForbidden) {
		t.Fatalf("a tutor answering a pooled question without taking it: %v", err)
	}
	if a, err := e.s.Answer(ctx, e.admin, true, q.ID, "Here you go."); err != nil || a.Status != QuestionAnswered {
		t.Fatalf("an admin's answer: %+v %v", a, err)
	}
}

func TestAssignTutor(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	if err := e.s.AssignTutor(ctx, e.course, e.student); !inputErr(err, "tutor_id") {
		t.Fatalf("a student as tutor: %v", err)
	}
	if err := e.s.AssignTutor(ctx, 1<<40, e.tutor); !errors.Is(err, ErrNotFound) {
		t.Fatalf("no such course: %v", err)
	}
	if err := e.s.AssignTutor(ctx, e.course, e.tutor2); err != nil {
		t.Fatal(err)
	}
	if n := e.count(t, `SELECT count(*) FROM course_tutors WHERE course_id = $1 AND tutor_id = $2 AND deleted_at IS NULL`, e.course, e.tutor2); n != 1 {
		t.Fatalf("course tutor not replaced")
	}
	sub, err := e.s.Submit(ctx, e.student, e.homework, "answer", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Grade(ctx, e.tutor, false, sub.ID, 80, "", nil); !errors.Is(err, ErrForbidden) {
		t.Fatalf("the replaced tutor grading: %v", err)
	}
	if _, err := e.s.Grade(ctx, e.tutor2, false, sub.ID, 80, "", nil); err != nil {
		t.Fatal(err)
	}
}
