package learning

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"

	"github.com/luffy-edu/luffy/notify"
	"github.com/luffy-edu/luffy/points"
)

// Submission statuses.
const (
	SubmissionSubmitted = "submitted"
	SubmissionGraded    = "graded"
)

const (
	maxFiles        = 10
	maxTextRunes    = 20000
	maxCommentRunes = 10000
	maxFileName     = 100
	maxCriteria     = 50
)

// File is an uploaded file of a submission.
type File struct {
	Name string
	Data []byte
}

// Attachment is a stored file of a submission.
type Attachment struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	// ObjectKey is where the file is in the bucket: homework/<hw>/<user>/v<version>-<random>/<name>.
	ObjectKey string `json:"-"`
}

// Criterion is one line of a grading rubric.
type Criterion struct {
	Criterion string `json:"criterion"`
	Points    int    `json:"points"`
	Max       int    `json:"max"`
}

// Submission is one version of a student's homework.
type Submission struct {
	ID         int64        `json:"id"`
	HomeworkID int64        `json:"homework_id"`
	CourseID   int64        `json:"course_id"`
	UserID     int64        `json:"user_id"`
	Version    int          `json:"version"`
	Text       string       `json:"text"`
	Status     string       `json:"status"`
	Score      *int         `json:"score"`
	Passed     *bool        `json:"passed"`
	Comment    string       `json:"comment"`
	Rubric     []Criterion  `json:"rubric"`
	GradedBy   *int64       `json:"graded_by"`
	GradedAt   *time.Time   `json:"graded_at"`
	CreatedAt  time.Time    `json:"created_at"`
	Files      []Attachment `json:"files"`
}

const submissionCols = `s.id, s.homework_id, s.course_id, s.user_id, s.version, s.body, s.status, s.score, s.passed,
	s.comment, s.rubric, s.graded_by, s.graded_at, s.created_at`

func scanSubmission(row pgx.Row) (Submission, error) {
	var s Submission
	err := row.Scan(&s.ID, &s.HomeworkID, &s.CourseID, &s.UserID, &s.Version, &s.Text, &s.Status, &s.Score, &s.Passed,
		&s.Comment, &s.Rubric, &s.GradedBy, &s.GradedAt, &s.CreatedAt)
	if s.Rubric == nil {
		s.Rubric = []Criterion{}
	}
	return s, err
}

// upload is a checked file about to be stored.
type upload struct {
	name, contentType string
	data              []byte
}

// extTypes are the media types file extensions claim; others come from the mime package.
var extTypes = map[string]string{
	".pdf": "application/pdf", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
	".zip": "application/zip", ".txt": "text/plain", ".md": "text/markdown", ".markdown": "text/markdown",
}

// checkFile says whether f may be stored and with which content type: its extension must
// name an allowed type, and its content must be of that type (markdown and other text
// sniffs as plain text).
func (s *Service) checkFile(i int, f File) (upload, error) {
	field := "files[" + strconv.Itoa(i) + "]"
	name := f.Name
	switch {
	case !utf8.ValidString(name) || hasControl(name):
		return upload{}, &InputError{field + ".name", "must be valid UTF-8 without control characters"}
	case name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`):
		return upload{}, &InputError{field + ".name", "must be a plain file name"}
	case utf8.RuneCountInString(name) > maxFileName:
		return upload{}, &InputError{field + ".name", "must be at most " + strconv.Itoa(maxFileName) + " characters"}
	case len(f.Data) == 0:
		return upload{}, &InputError{field, "is empty"}
	case int64(len(f.Data)) > s.cfg.MaxFileBytes:
		return upload{}, &InputError{field, fmt.Sprintf("is larger than %d bytes", s.cfg.MaxFileBytes)}
	}
	ext := strings.ToLower(path.Ext(name))
	claimed := extTypes[ext]
	if claimed == "" && ext != "" {
		claimed, _, _ = mime.ParseMediaType(mime.TypeByExtension(ext))
	}
	if claimed == "" || !s.allowed[claimed] {
		return upload{}, &InputError{field, "files named " + strconv.Quote("*"+ext) + " are not accepted"}
	}
	sniffed, _, _ := mime.ParseMediaType(http.DetectContentType(f.Data))
	text := strings.HasPrefix(claimed, "text/")
	if sniffed != claimed && !(text && sniffed == "text/plain") {
		return upload{}, &InputError{field, "content is " + sniffed + ", not " + claimed}
	}
	ct := claimed
	if text {
		ct += "; charset=utf-8"
	}
	return upload{name: name, contentType: ct, data: f.Data}, nil
}

func (s *Service) checkSubmission(text string, files []File) ([]upload, error) {
	if err := checkText("text", text, 0, maxTextRunes); err != nil {
		return nil, err
	}
	if strings.TrimSpace(text) == "" && len(files) == 0 {
		return nil, &InputError{"text", "a submission needs text or files"}
	}
	if len(files) > maxFiles {
		return nil, &InputError{"files", "at most " + strconv.Itoa(maxFiles)}
	}
	ups := make([]upload, 0, len(files))
	seen := make(map[string]bool, len(files))
	for i, f := range files {
		u, err := s.checkFile(i, f)
		if err != nil {
			return nil, err
		}
		if seen[u.name] {
			return nil, &InputError{"files[" + strconv.Itoa(i) + "].name", "appears twice"}
		}
		seen[u.name] = true
		ups = append(ups, u)
	}
	return ups, nil
}

// Submit records the next version of userID's homework. The student must hold an active,
// unexpired enrollment in the homework's course.
func (s *Service) Submit(ctx context.Context, userID, homeworkID int64, text string, files []File) (Submission, error) {
	ups, err := s.checkSubmission(text, files)
	if err != nil {
		return Submission{}, err
	}
	var (
		courseID int64
		enrolled bool
	)
	err = s.pool.QueryRow(ctx, `
		SELECT h.course_id, EXISTS (SELECT 1 FROM enrollments e WHERE e.user_id = $2 AND e.course_id = h.course_id
			AND e.status = 'active' AND e.deleted_at IS NULL AND (e.expires_at IS NULL OR e.expires_at > now()))
		FROM homework h JOIN courses c ON c.id = h.course_id
		WHERE h.id = $1 AND h.deleted_at IS NULL AND c.deleted_at IS NULL`, homeworkID, userID).Scan(&courseID, &enrolled)
	if errors.Is(err, pgx.ErrNoRows) {
		return Submission{}, ErrNotFound
	}
	if err != nil {
		return Submission{}, fmt.Errorf("look up homework %d: %w", homeworkID, err)
	}
	if !enrolled {
		return Submission{}, ErrForbidden
	}

	// The version names the objects, so it is chosen before they are stored. A lock per
	// student and homework, held from choosing it to committing its row, keeps two
	// concurrent submissions from choosing the same version and overwriting each other's
	// files; no transaction is open while the files upload.
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return Submission{}, fmt.Errorf("submit homework %d: %w", homeworkID, err)
	}
	defer conn.Release()
	lockKey := fmt.Sprintf("homework:%d:%d", homeworkID, userID)
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtextextended($1, 0))`, lockKey); err != nil {
		return Submission{}, fmt.Errorf("lock homework %d of user %d: %w", homeworkID, userID, err)
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock(hashtextextended($1, 0))`, lockKey); err != nil {
			conn.Conn().Close(uctx) // a session lock must not go back to the pool
		}
	}()
	var version int
	// Deleted versions count too: their objects may still be in the bucket.
	if err := conn.QueryRow(ctx, `SELECT coalesce(max(version), 0) + 1 FROM homework_submissions WHERE homework_id = $1 AND user_id = $2`,
		homeworkID, userID).Scan(&version); err != nil {
		return Submission{}, fmt.Errorf("next version of homework %d: %w", homeworkID, err)
	}
	atts := make([]Attachment, len(ups))
	// A random part keeps keys unique where ids repeat: databases sharing a bucket (a
	// reset database, test databases) would otherwise overwrite each other's files.
	var r [6]byte
	rand.Read(r[:])
	nonce := hex.EncodeToString(r[:])
	for i, u := range ups {
		key := fmt.Sprintf("homework/%d/%d/v%d-%s/%s", homeworkID, userID, version, nonce, u.name)
		if _, err := s.objects.PutObject(ctx, s.objects.Bucket, key, bytes.NewReader(u.data), int64(len(u.data)),
			minio.PutObjectOptions{ContentType: u.contentType}); err != nil {
			return Submission{}, fmt.Errorf("store %s: %w", key, err)
		}
		atts[i] = Attachment{Name: u.name, ContentType: u.contentType, Size: int64(len(u.data)), ObjectKey: key}
	}

	var sub Submission
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		var err error
		sub, err = scanSubmission(tx.QueryRow(ctx, `
			INSERT INTO homework_submissions AS s (homework_id, course_id, user_id, version, body, created_by)
			VALUES ($1, $2, $3, $4, $5, $3) RETURNING `+submissionCols, homeworkID, courseID, userID, version, text))
		if err != nil {
			return err
		}
		for i := range atts {
			a := &atts[i]
			if err := tx.QueryRow(ctx, `INSERT INTO homework_files (submission_id, object_key, name, content_type, size, sort_code, created_by)
				VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, sub.ID, a.ObjectKey, a.Name, a.ContentType, a.Size, i, userID).Scan(&a.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Submission{}, fmt.Errorf("record homework %d version %d: %w", homeworkID, version, err)
	}
	sub.Files = atts
	return sub, nil
}

// Submissions returns a student's versions of a homework, newest first.
func (s *Service) Submissions(ctx context.Context, userID, homeworkID int64) ([]Submission, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+submissionCols+` FROM homework_submissions s
		WHERE s.user_id = $1 AND s.homework_id = $2 AND s.deleted_at IS NULL ORDER BY s.version DESC`, userID, homeworkID)
	if err != nil {
		return nil, fmt.Errorf("list submissions: %w", err)
	}
	return s.collect(ctx, rows)
}

// TutorQueue returns the ungraded latest versions of the homework of the courses
// tutorID is assigned to, oldest first. A version superseded by a resubmission is not
// in it.
func (s *Service) TutorQueue(ctx context.Context, tutorID int64, limit int) ([]Submission, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+submissionCols+` FROM course_tutors ct
		JOIN homework_submissions s ON s.course_id = ct.course_id AND s.status = 'submitted' AND s.deleted_at IS NULL
		WHERE ct.tutor_id = $1 AND ct.deleted_at IS NULL
			AND NOT EXISTS (SELECT 1 FROM homework_submissions n WHERE n.homework_id = s.homework_id
				AND n.user_id = s.user_id AND n.version > s.version AND n.deleted_at IS NULL)
		ORDER BY s.created_at, s.id LIMIT $2`, tutorID, clampLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("tutor queue: %w", err)
	}
	return s.collect(ctx, rows)
}

func (s *Service) collect(ctx context.Context, rows pgx.Rows) ([]Submission, error) {
	subs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Submission, error) { return scanSubmission(r) })
	if err != nil {
		return nil, fmt.Errorf("read submissions: %w", err)
	}
	if len(subs) == 0 {
		return []Submission{}, nil
	}
	if err := s.attach(ctx, subs); err != nil {
		return nil, err
	}
	return subs, nil
}

// attach loads the files of subs in one query.
func (s *Service) attach(ctx context.Context, subs []Submission) error {
	ids := make([]int64, len(subs))
	at := make(map[int64]int, len(subs))
	for i := range subs {
		ids[i] = subs[i].ID
		at[subs[i].ID] = i
		subs[i].Files = []Attachment{}
	}
	rows, err := s.pool.Query(ctx, `SELECT submission_id, id, name, content_type, size, object_key FROM homework_files
		WHERE submission_id = ANY($1) AND deleted_at IS NULL ORDER BY submission_id, sort_code, id`, ids)
	if err != nil {
		return fmt.Errorf("list submission files: %w", err)
	}
	var (
		subID int64
		a     Attachment
	)
	_, err = pgx.ForEachRow(rows, []any{&subID, &a.ID, &a.Name, &a.ContentType, &a.Size, &a.ObjectKey}, func() error {
		i := at[subID]
		subs[i].Files = append(subs[i].Files, a)
		return nil
	})
	if err != nil {
		return fmt.Errorf("read submission files: %w", err)
	}
	return nil
}

func checkGrade(score int, comment string, rubric []Criterion) error {
	if score < 0 || score > 100 {
		return &InputError{"score", "must be 0 to 100"}
	}
	if err := checkText("comment", comment, 0, maxCommentRunes); err != nil {
		return err
	}
	if len(rubric) > maxCriteria {
		return &InputError{"rubric", "at most " + strconv.Itoa(maxCriteria) + " criteria"}
	}
	for i, c := range rubric {
		field := "rubric[" + strconv.Itoa(i) + "]"
		if err := checkText(field+".criterion", c.Criterion, 1, 200); err != nil {
			return err
		}
		if c.Max <= 0 || c.Max > 100 {
			return &InputError{field + ".max", "must be 1 to 100"}
		}
		if c.Points < 0 || c.Points > c.Max {
			return &InputError{field + ".points", "must be 0 to max"}
		}
	}
	return nil
}

// Grade grades a submission. Only the course's assigned tutor, or an admin, may grade,
// and a submission is graded once. The student is notified, and a pass earns the
// homework's points once however many versions pass; all in one transaction.
func (s *Service) Grade(ctx context.Context, tutorID int64, isAdmin bool, submissionID int64, score int, comment string, rubric []Criterion) (Submission, error) {
	if err := checkGrade(score, comment, rubric); err != nil {
		return Submission{}, err
	}
	if rubric == nil {
		rubric = []Criterion{}
	}
	passed := score >= s.cfg.PassScore
	var sub Submission
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var (
			status, title string
			tutor         *int64
		)
		err := tx.QueryRow(ctx, `
			SELECT s.status, h.title, ct.tutor_id FROM homework_submissions s
			JOIN homework h ON h.id = s.homework_id
			LEFT JOIN course_tutors ct ON ct.course_id = s.course_id AND ct.deleted_at IS NULL
			WHERE s.id = $1 AND s.deleted_at IS NULL FOR UPDATE OF s`, submissionID).Scan(&status, &title, &tutor)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if !isAdmin && (tutor == nil || *tutor != tutorID) {
			return ErrForbidden
		}
		if status != SubmissionSubmitted {
			return ErrConflict
		}
		sub, err = scanSubmission(tx.QueryRow(ctx, `
			UPDATE homework_submissions s SET status = 'graded', score = $2, passed = $3, comment = $4, rubric = $5,
				graded_by = $6, graded_at = now()
			WHERE s.id = $1 RETURNING `+submissionCols, submissionID, score, passed, comment, rubric, tutorID))
		if err != nil {
			return err
		}
		verdict := "未通过"
		if passed {
			verdict = "已通过"
		}
		data := map[string]any{"submission_id": sub.ID, "homework_id": sub.HomeworkID, "version": sub.Version, "score": score, "passed": passed}
		if err := notify.Send(ctx, tx, sub.UserID, notify.KindGrade, "作业已批改："+title,
			fmt.Sprintf("第 %d 版得分 %d，%s。%s", sub.Version, score, verdict, comment), data,
			"grade:"+strconv.FormatInt(sub.ID, 10)); err != nil {
			return err
		}
		if passed {
			ref := fmt.Sprintf("homework:%d:%d", sub.HomeworkID, sub.UserID)
			earned, err := points.Award(ctx, tx, sub.UserID, points.RuleHomework, ref, 0)
			if err != nil {
				return fmt.Errorf("award homework points: %w", err)
			}
			// once per homework, as the award: a later version passing again earns nothing
			if err := notify.Send(ctx, tx, sub.UserID, notify.KindPoints, "作业积分："+title,
				fmt.Sprintf("作业通过，获得 %d 积分。", earned), map[string]any{"points": earned, "homework_id": sub.HomeworkID},
				"points:"+ref); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrForbidden) || errors.Is(err, ErrConflict) {
			return Submission{}, err
		}
		return Submission{}, fmt.Errorf("grade submission %d: %w", submissionID, err)
	}
	subs := []Submission{sub}
	if err := s.attach(ctx, subs); err != nil {
		return Submission{}, err
	}
	return subs[0], nil
}

// AssignTutor makes tutorID the tutor of courseID's students, replacing the previous
// one. Questions already assigned stay with whoever has them.
func (s *Service) AssignTutor(ctx context.Context, courseID, tutorID int64) error {
	var role string
	err := s.pool.QueryRow(ctx, `SELECT role FROM users WHERE id = $1 AND deleted_at IS NULL AND status = 'active'`, tutorID).Scan(&role)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && role != "tutor" && role != "admin") {
		return &InputError{"tutor_id", "must name an active tutor"}
	}
	if err != nil {
		return fmt.Errorf("look up tutor %d: %w", tutorID, err)
	}
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO course_tutors (course_id, tutor_id)
		SELECT id, $2 FROM courses WHERE id = $1 AND deleted_at IS NULL
		ON CONFLICT (course_id) WHERE deleted_at IS NULL DO UPDATE SET tutor_id = EXCLUDED.tutor_id`, courseID, tutorID)
	if err != nil {
		return fmt.Errorf("assign tutor %d to course %d: %w", tutorID, courseID, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// File opens a stored file of a submission for reading. The student who submitted it,
// the course's assigned tutor and admins may read it; anyone else gets ErrNotFound, so
// that file ids reveal nothing. The caller closes the reader.
func (s *Service) File(ctx context.Context, userID int64, isAdmin bool, fileID int64) (Attachment, io.ReadCloser, error) {
	var a Attachment
	var owner int64
	var tutor *int64
	err := s.pool.QueryRow(ctx, `
		SELECT f.id, f.name, f.content_type, f.size, f.object_key, s.user_id, ct.tutor_id
		FROM homework_files f JOIN homework_submissions s ON s.id = f.submission_id
		LEFT JOIN course_tutors ct ON ct.course_id = s.course_id AND ct.deleted_at IS NULL
		WHERE f.id = $1 AND f.deleted_at IS NULL AND s.deleted_at IS NULL`, fileID).
		Scan(&a.ID, &a.Name, &a.ContentType, &a.Size, &a.ObjectKey, &owner, &tutor)
	if errors.Is(err, pgx.ErrNoRows) {
		return Attachment{}, nil, ErrNotFound
	}
	if err != nil {
		return Attachment{}, nil, fmt.Errorf("find homework file %d: %w", fileID, err)
	}
	if !isAdmin && userID != owner && (tutor == nil || *tutor != userID) {
		return Attachment{}, nil, ErrNotFound
	}
	obj, err := s.objects.GetObject(ctx, s.objects.Bucket, a.ObjectKey, minio.GetObjectOptions{})
	if err != nil {
		return Attachment{}, nil, fmt.Errorf("open homework file %d: %w", fileID, err)
	}
	return a, obj, nil
}
