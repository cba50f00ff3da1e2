package judge

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/minio/minio-go/v7"

	"github.com/luffy-edu/luffy/storage"
)

// Errors the HTTP layer maps to statuses.
var (
	ErrNotFound    = errors.New("not found")
	ErrSlugTaken   = errors.New("a problem with this slug exists")
	ErrRateLimited = errors.New("too many submissions; wait a minute")
	ErrNoTests     = errors.New("the problem has no tests yet")
	ErrLeaseLost   = errors.New("the submission's lease was lost")
)

// InputError is a field a client got wrong.
type InputError struct{ Field, Reason string }

func (e *InputError) Error() string { return e.Field + ": " + e.Reason }

// Limits on what a submission may be.
const (
	MaxSourceBytes       = 64 << 10
	DefaultSubmitPerMin  = 10
	maxSampleShownBytes  = 4 << 10
	problemColumns       = `id, slug, title, statement, time_limit_ms, memory_limit_mb, checker, float_abs, float_rel, checker_source, subtasks, samples, test_count, tests_version, tags, created_at, updated_at, tests_key`
	submissionColumns    = `s.id, s.user_id, s.problem_id, p.slug, s.language, s.status, s.verdict, s.score, s.time_ms, s.memory_kb, s.compile_output, s.message, s.tests, s.tests_done, p.test_count, s.attempts, s.created_at, s.finished_at`
	submissionEventsChan = "submission_events"
)

// Store keeps problems and submissions in Postgres and test archives in the object store.
type Store struct {
	pool    *pgxpool.Pool
	objects *storage.Objects
	// SubmitPerMinute caps each user's submissions in any 60 seconds.
	SubmitPerMinute int
}

// NewStore makes a store.
func NewStore(pool *pgxpool.Pool, objects *storage.Objects) *Store {
	return &Store{pool: pool, objects: objects, SubmitPerMinute: DefaultSubmitPerMin}
}

var slugRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)

// Validate checks a problem's fields, as an admin sends them.
func (p *Problem) Validate() error {
	switch {
	case !slugRE.MatchString(p.Slug):
		return &InputError{"slug", "must be 1-64 of a-z, 0-9 and -, starting with a letter or digit"}
	case strings.TrimSpace(p.Title) == "" || utf8.RuneCountInString(p.Title) > 200 || !utf8.ValidString(p.Title):
		return &InputError{"title", "must be 1-200 characters"}
	case len(p.Statement) > 256<<10 || !utf8.ValidString(p.Statement):
		return &InputError{"statement", "must be valid UTF-8 Markdown of at most 256 KiB"}
	case p.TimeLimitMS < 100 || p.TimeLimitMS > 20000:
		return &InputError{"time_limit_ms", "must be between 100 and 20000"}
	case p.MemoryLimitMB < 16 || p.MemoryLimitMB > 1024:
		return &InputError{"memory_limit_mb", "must be between 16 and 1024"}
	case p.Checker != CheckExact && p.Checker != CheckToken && p.Checker != CheckFloat && p.Checker != CheckCustom:
		return &InputError{"checker", "must be exact, token, float or custom"}
	case p.FloatAbs < 0 || p.FloatRel < 0 || p.FloatAbs > 1e9 || p.FloatRel > 1:
		return &InputError{"float_abs", "tolerances must be non-negative (float_rel at most 1)"}
	case p.Checker == CheckCustom && strings.TrimSpace(p.CheckerSource) == "":
		return &InputError{"checker_source", "a custom checker needs its C++ source"}
	case len(p.CheckerSource) > 256<<10 || !utf8.ValidString(p.CheckerSource):
		return &InputError{"checker_source", "must be valid UTF-8 of at most 256 KiB"}
	case len(p.Subtasks) > 50:
		return &InputError{"subtasks", "at most 50"}
	}
	total := 0
	for _, st := range p.Subtasks {
		if st.Points < 0 || st.Points > 100 || len(st.Tests) == 0 {
			return &InputError{"subtasks", "each subtask needs 0-100 points and at least one test"}
		}
		if utf8.RuneCountInString(st.Name) > 64 || !utf8.ValidString(st.Name) {
			return &InputError{"subtasks", "a subtask's name is at most 64 characters"}
		}
		for _, n := range st.Tests {
			if len(n) > 64 { // the longest name a test archive may give a test
				return &InputError{"subtasks", "a test name is at most 64 characters"}
			}
		}
		total += st.Points
	}
	if len(p.Tags) > 20 {
		return &InputError{"tags", "at most 20"}
	}
	for _, tag := range p.Tags {
		if utf8.RuneCountInString(tag) > 32 || !utf8.ValidString(tag) {
			return &InputError{"tags", "a tag is at most 32 characters"}
		}
	}
	if len(p.Subtasks) > 0 && total != 100 {
		return &InputError{"subtasks", fmt.Sprintf("points must add up to 100, not %d", total)}
	}
	return nil
}

// CreateProblem inserts a problem (without tests; SetTests adds them).
func (s *Store) CreateProblem(ctx context.Context, p Problem, actorID int64, actorName string) (Problem, error) {
	if err := p.Validate(); err != nil {
		return Problem{}, err
	}
	subtasks, _ := json.Marshal(nonNil(p.Subtasks))
	if p.Tags == nil {
		p.Tags = []string{}
	}
	row := s.pool.QueryRow(ctx, `INSERT INTO problems (slug, title, statement, time_limit_ms, memory_limit_mb, checker, float_abs, float_rel, checker_source, subtasks, tags, created_by, created_by_name)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING `+problemColumns,
		p.Slug, p.Title, p.Statement, p.TimeLimitMS, p.MemoryLimitMB, p.Checker, p.FloatAbs, p.FloatRel, p.CheckerSource, subtasks, p.Tags, actorID, actorName)
	out, err := scanProblem(row)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return Problem{}, ErrSlugTaken
	}
	return out, err
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func scanProblem(row pgx.Row) (Problem, error) {
	var p Problem
	var subtasks, samples []byte
	err := row.Scan(&p.ID, &p.Slug, &p.Title, &p.Statement, &p.TimeLimitMS, &p.MemoryLimitMB, &p.Checker, &p.FloatAbs, &p.FloatRel,
		&p.CheckerSource, &subtasks, &samples, &p.TestCount, &p.Extra.TestsVersion, &p.Tags, &p.CreatedAt, &p.UpdatedAt, &p.Extra.TestsKey)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, ErrNotFound
	}
	if err != nil {
		return p, err
	}
	if err := json.Unmarshal(subtasks, &p.Subtasks); err != nil {
		return p, fmt.Errorf("problem %d subtasks: %w", p.ID, err)
	}
	if err := json.Unmarshal(samples, &p.Samples); err != nil {
		return p, fmt.Errorf("problem %d samples: %w", p.ID, err)
	}
	p.Subtasks, p.Samples, p.Tags = nonNil(p.Subtasks), nonNil(p.Samples), nonNil(p.Tags)
	return p, nil
}

// Problem finds a published problem by numeric id or slug.
func (s *Store) Problem(ctx context.Context, idOrSlug string) (Problem, error) {
	q := `SELECT ` + problemColumns + ` FROM problems WHERE deleted_at IS NULL AND status = 'published' AND `
	if id, err := strconv.ParseInt(idOrSlug, 10, 64); err == nil {
		return scanProblem(s.pool.QueryRow(ctx, q+`id = $1`, id))
	}
	if !slugRE.MatchString(idOrSlug) {
		return Problem{}, ErrNotFound
	}
	return scanProblem(s.pool.QueryRow(ctx, q+`slug = $1`, idOrSlug))
}

// ProblemByID reads a problem whatever its status, for workers.
func (s *Store) ProblemByID(ctx context.Context, id int64) (Problem, error) {
	return scanProblem(s.pool.QueryRow(ctx, `SELECT `+problemColumns+` FROM problems WHERE id = $1`, id))
}

// ProblemSummary is a problem in a list.
type ProblemSummary struct {
	ID            int64    `json:"id"`
	Slug          string   `json:"slug"`
	Title         string   `json:"title"`
	TimeLimitMS   int      `json:"time_limit_ms"`
	MemoryLimitMB int      `json:"memory_limit_mb"`
	Checker       string   `json:"checker"`
	TestCount     int      `json:"test_count"`
	Tags          []string `json:"tags"`
}

// Problems lists published problems in id order after the cursor id.
func (s *Store) Problems(ctx context.Context, afterID int64, limit int) ([]ProblemSummary, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, slug, title, time_limit_ms, memory_limit_mb, checker, test_count, tags FROM problems
		WHERE deleted_at IS NULL AND status = 'published' AND id > $1 ORDER BY id LIMIT $2`, afterID, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (ProblemSummary, error) {
		var p ProblemSummary
		err := r.Scan(&p.ID, &p.Slug, &p.Title, &p.TimeLimitMS, &p.MemoryLimitMB, &p.Checker, &p.TestCount, &p.Tags)
		p.Tags = nonNil(p.Tags)
		return p, err
	})
}

func testsKey(problemID int64, version int) string {
	var r [6]byte
	rand.Read(r[:])
	return fmt.Sprintf("judge/problems/%d/tests-v%d-%s.zip", problemID, version, hex.EncodeToString(r[:]))
}

// SetTests stores a validated test archive as the problem's next tests version and
// records the count and the samples shown to students. Subtasks must name existing tests.
func (s *Store) SetTests(ctx context.Context, problemID int64, archive []byte, tests []TestCase) (Problem, error) {
	if len(tests) == 0 {
		return Problem{}, &InputError{"tests", "at least one test is required"}
	}
	p, err := s.ProblemByID(ctx, problemID)
	if err != nil {
		return Problem{}, err
	}
	names := map[string]bool{}
	var samples []Sample
	for _, tc := range tests {
		names[tc.Name] = true
		if tc.Sample && len(tc.Input) <= maxSampleShownBytes && len(tc.Answer) <= maxSampleShownBytes && utf8.Valid(tc.Input) && utf8.Valid(tc.Answer) {
			samples = append(samples, Sample{Name: tc.Name, Input: string(tc.Input), Answer: string(tc.Answer)})
		}
	}
	for _, st := range p.Subtasks {
		for _, n := range st.Tests {
			if !names[n] {
				return Problem{}, &InputError{"tests", fmt.Sprintf("subtask %q names test %q, which the archive lacks", st.Name, n)}
			}
		}
	}
	next := p.Extra.TestsVersion + 1
	key := testsKey(problemID, next)
	if _, err := s.objects.PutObject(ctx, s.objects.Bucket, key, bytes.NewReader(archive), int64(len(archive)),
		minio.PutObjectOptions{ContentType: "application/zip"}); err != nil {
		return Problem{}, fmt.Errorf("store tests of problem %d: %w", problemID, err)
	}
	sj, _ := json.Marshal(nonNil(samples))
	// The version moves only forward: of two uploads racing, the later UPDATE wins and
	// both archives stay readable under their own keys.
	return scanProblem(s.pool.QueryRow(ctx, `UPDATE problems SET tests_version = GREATEST(tests_version + 1, $2), test_count = $3, samples = $4, tests_key = $5
		WHERE id = $1 RETURNING `+problemColumns, problemID, next, len(tests), sj, key))
}

// TestArchive reads a problem's current test archive (p as ProblemByID read it).
func (s *Store) TestArchive(ctx context.Context, p Problem) ([]byte, error) {
	problemID, version := p.ID, p.Extra.TestsVersion
	if version == 0 || p.Extra.TestsKey == "" {
		return nil, ErrNoTests
	}
	obj, err := s.objects.GetObject(ctx, s.objects.Bucket, p.Extra.TestsKey, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("tests of problem %d: %w", problemID, err)
	}
	defer obj.Close()
	b, err := io.ReadAll(obj)
	if err != nil {
		return nil, fmt.Errorf("tests of problem %d v%d: %w", problemID, version, err)
	}
	return b, nil
}

// SubmissionView is a submission as its author sees it. Tests is the raw JSON the worker
// wrote (a list of per-test results).
type SubmissionView struct {
	ID            int64           `json:"id"`
	UserID        int64           `json:"user_id"`
	ProblemID     int64           `json:"problem_id"`
	ProblemSlug   string          `json:"problem"`
	Language      string          `json:"language"`
	Status        string          `json:"status"`
	Verdict       *string         `json:"verdict"`
	Score         int             `json:"score"`
	TimeMS        int             `json:"time_ms"`
	MemoryKB      int64           `json:"memory_kb"`
	CompileOutput string          `json:"compile_output,omitempty"`
	Message       string          `json:"message,omitempty"`
	Tests         json.RawMessage `json:"tests"`
	TestsDone     int             `json:"tests_done"`
	TestCount     int             `json:"test_count"`
	Attempts      int             `json:"-"`
	CreatedAt     time.Time       `json:"created_at"`
	FinishedAt    *time.Time      `json:"finished_at,omitempty"`
}

func scanSubmission(row pgx.Row) (SubmissionView, error) {
	var v SubmissionView
	var tests []byte
	err := row.Scan(&v.ID, &v.UserID, &v.ProblemID, &v.ProblemSlug, &v.Language, &v.Status, &v.Verdict, &v.Score, &v.TimeMS, &v.MemoryKB,
		&v.CompileOutput, &v.Message, &tests, &v.TestsDone, &v.TestCount, &v.Attempts, &v.CreatedAt, &v.FinishedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return v, ErrNotFound
	}
	v.Tests = tests
	return v, err
}

// Submit queues a submission. It enforces the language allow-list, the source size cap,
// and the per-user rate (serialized per user with an advisory lock, so a burst of
// parallel requests cannot slip past the count).
func (s *Store) Submit(ctx context.Context, userID int64, userName string, problem, language, source string) (SubmissionView, error) {
	switch {
	case !KnownLanguage(language):
		return SubmissionView{}, &InputError{"language", "must be one of " + strings.Join(Languages, ", ")}
	case len(source) == 0 || strings.TrimSpace(source) == "":
		return SubmissionView{}, &InputError{"source", "is empty"}
	case len(source) > MaxSourceBytes:
		return SubmissionView{}, &InputError{"source", fmt.Sprintf("is larger than %d KiB", MaxSourceBytes>>10)}
	case !utf8.ValidString(source) || strings.IndexByte(source, 0) >= 0:
		return SubmissionView{}, &InputError{"source", "must be UTF-8 text without NUL bytes"}
	}
	p, err := s.Problem(ctx, problem)
	if err != nil {
		return SubmissionView{}, err
	}
	if p.TestCount == 0 {
		return SubmissionView{}, ErrNoTests
	}
	var id int64
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(7100, $1::int)`, int32(userID)); err != nil {
			return err
		}
		var recent int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM submissions WHERE user_id = $1 AND created_at > now() - interval '60 seconds'`, userID).Scan(&recent); err != nil {
			return err
		}
		if s.SubmitPerMinute > 0 && recent >= s.SubmitPerMinute {
			return ErrRateLimited
		}
		return tx.QueryRow(ctx, `INSERT INTO submissions (user_id, problem_id, language, source, created_by, created_by_name)
			VALUES ($1, $2, $3, $4, $1, $5) RETURNING id`, userID, p.ID, language, source, userName).Scan(&id)
	})
	if err != nil {
		return SubmissionView{}, err
	}
	return s.Submission(ctx, id)
}

// Submission reads one submission.
func (s *Store) Submission(ctx context.Context, id int64) (SubmissionView, error) {
	return scanSubmission(s.pool.QueryRow(ctx, `SELECT `+submissionColumns+` FROM submissions s JOIN problems p ON p.id = s.problem_id WHERE s.id = $1 AND s.deleted_at IS NULL`, id))
}

// SubmissionsOf lists a user's submissions, newest first, before the cursor id.
func (s *Store) SubmissionsOf(ctx context.Context, userID, beforeID int64, limit int) ([]SubmissionView, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+submissionColumns+` FROM submissions s JOIN problems p ON p.id = s.problem_id
		WHERE s.user_id = $1 AND s.id < $2 AND s.deleted_at IS NULL ORDER BY s.id DESC LIMIT $3`, userID, beforeID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []SubmissionView
	for rows.Next() {
		v, err := scanSubmission(rows)
		if err != nil {
			return nil, err
		}
		v.Tests = nil
		out = append(out, v)
	}
	return nonNil(out), rows.Err()
}

// WrongEntry is a problem in a student's wrong-answer book (错题记录): attempted, not yet
// accepted.
type WrongEntry struct {
	ProblemID     int64     `json:"problem_id"`
	Slug          string    `json:"slug"`
	Title         string    `json:"title"`
	Attempts      int       `json:"attempts"`
	BestScore     int       `json:"best_score"`
	LastVerdict   string    `json:"last_verdict"`
	LastSubmitted time.Time `json:"last_submitted_at"`
}

// WrongBook lists the problems a user has submitted to, judged, and never had accepted,
// most recently attempted first.
func (s *Store) WrongBook(ctx context.Context, userID int64) ([]WrongEntry, error) {
	rows, err := s.pool.Query(ctx, `SELECT p.id, p.slug, p.title, count(*), max(s.score),
			(array_agg(s.verdict ORDER BY s.id DESC))[1], max(s.created_at)
		FROM submissions s JOIN problems p ON p.id = s.problem_id
		WHERE s.user_id = $1 AND s.status = 'done' AND s.deleted_at IS NULL
		GROUP BY p.id, p.slug, p.title
		HAVING NOT bool_or(s.verdict = 'AC')
		ORDER BY max(s.created_at) DESC, p.id LIMIT 500`, userID)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (WrongEntry, error) {
		var e WrongEntry
		err := r.Scan(&e.ProblemID, &e.Slug, &e.Title, &e.Attempts, &e.BestScore, &e.LastVerdict, &e.LastSubmitted)
		return e, err
	})
	return nonNil(out), err
}

// Claimed is a submission a worker holds the lease of.
type Claimed struct {
	ID        int64
	UserID    int64
	ProblemID int64
	Language  string
	Source    string
	Attempts  int
}

// Claim takes the oldest queued submission, or one whose worker's lease ran out, and
// leases it to owner. It returns nil when there is nothing to do.
func (s *Store) Claim(ctx context.Context, owner string, lease time.Duration) (*Claimed, error) {
	var c Claimed
	err := s.pool.QueryRow(ctx, `UPDATE submissions SET status = 'judging', lease_owner = $1, lease_until = now() + $2::interval,
			attempts = attempts + 1, started_at = now(), tests = '[]', tests_done = 0
		WHERE id = (SELECT id FROM submissions WHERE status <> 'done' AND (status = 'queued' OR lease_until < now())
			ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1)
		RETURNING id, user_id, problem_id, language, source, attempts`, owner, lease.String()).
		Scan(&c.ID, &c.UserID, &c.ProblemID, &c.Language, &c.Source, &c.Attempts)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("claim submission: %w", err)
	}
	return &c, nil
}

// Lease names one claim of a submission: the worker and the attempt number its claim
// made. A later claim of the same submission, even by another slot of the same worker,
// has another attempt number, so the earlier holder can no longer write.
type Lease struct {
	Owner   string
	Attempt int
}

// Lease is the claim's lease.
func (c *Claimed) Lease(owner string) Lease { return Lease{Owner: owner, Attempt: c.Attempts} }

// Extend renews a lease; ErrLeaseLost means another worker has the submission now.
func (s *Store) Extend(ctx context.Context, id int64, l Lease, lease time.Duration) error {
	tag, err := s.pool.Exec(ctx, `UPDATE submissions SET lease_until = now() + $4::interval WHERE id = $1 AND lease_owner = $2 AND attempts = $3 AND status = 'judging'`, id, l.Owner, l.Attempt, lease.String())
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return ErrLeaseLost
	}
	return nil
}

// Progress records the tests judged so far and wakes the event streams.
func (s *Store) Progress(ctx context.Context, id int64, l Lease, tests any, done int) error {
	tj, err := json.Marshal(tests)
	if err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `WITH u AS (UPDATE submissions SET tests = $4, tests_done = $5 WHERE id = $1 AND lease_owner = $2 AND attempts = $3 AND status = 'judging' RETURNING id)
		SELECT pg_notify('`+submissionEventsChan+`', id::text) FROM u`, id, l.Owner, l.Attempt, tj, done)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return ErrLeaseLost
	}
	return nil
}

// Outcome is what Finish records.
type Outcome struct {
	Verdict       Verdict
	Score         int
	TimeMS        int
	MemoryKB      int64
	CompileOutput string
	Message       string
	Tests         any
	TestsDone     int
}

// Finish records the verdict if owner still holds the lease: a submission is judged
// exactly once even when a slow worker and its successor both finish.
func (s *Store) Finish(ctx context.Context, id int64, l Lease, o Outcome) error {
	tj, err := json.Marshal(o.Tests)
	if err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `WITH u AS (UPDATE submissions SET status = 'done', verdict = $3, score = $4, time_ms = $5, memory_kb = $6,
			compile_output = $7, message = $8, tests = $9, tests_done = $10, finished_at = now(), lease_owner = NULL, lease_until = NULL
		WHERE id = $1 AND lease_owner = $2 AND attempts = $11 AND status = 'judging' RETURNING id)
		SELECT pg_notify('`+submissionEventsChan+`', id::text) FROM u`,
		id, l.Owner, o.Verdict, o.Score, o.TimeMS, o.MemoryKB, strings.ToValidUTF8(strings.ReplaceAll(o.CompileOutput, "\x00", ""), "\uFFFD"),
		o.Message, tj, o.TestsDone, l.Attempt)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return ErrLeaseLost
	}
	return nil
}

// QueueDepth counts submissions not yet judged, for metrics.
func (s *Store) QueueDepth(ctx context.Context) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM submissions WHERE status <> 'done'`).Scan(&n)
	return n, err
}

// SubmissionEventsChannel is the NOTIFY channel a submission's progress is announced on;
// the payload is its id.
const SubmissionEventsChannel = submissionEventsChan

// QueuedChannel is the NOTIFY channel new submissions are announced on.
const QueuedChannel = "submissions_queued"

// Release hands a claimed submission back to the queue.
func (s *Store) Release(ctx context.Context, id int64, l Lease) error {
	tag, err := s.pool.Exec(ctx, `UPDATE submissions SET status = 'queued', lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2 AND attempts = $3 AND status = 'judging'`, id, l.Owner, l.Attempt)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return ErrLeaseLost
	}
	return nil
}
