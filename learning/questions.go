package learning

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/luffy-edu/luffy/notify"
)

// Question statuses.
const (
	// QuestionAssigned: with the course's tutor, until 2 working hours have passed.
	QuestionAssigned = "assigned"
	// QuestionPooled: in the public pool, for any tutor to take.
	QuestionPooled = "pooled"
	// QuestionTaken: taken from the pool by a tutor, who has an hour to answer.
	QuestionTaken = "taken"
	// QuestionAnswered is final.
	QuestionAnswered = "answered"
	// QuestionEscalated: unanswered for 24 hours, with the teaching-research team.
	QuestionEscalated = "escalated"
)

// Question timers.
const (
	poolAfterWorkingHours = 2
	returnAfter           = time.Hour
	escalateAfter         = 24 * time.Hour
)

// Question is a student's question about a lesson.
type Question struct {
	ID          int64      `json:"id"`
	UserID      int64      `json:"user_id"`
	CourseID    int64      `json:"course_id"`
	LessonID    int64      `json:"lesson_id"`
	Title       string     `json:"title"`
	Body        string     `json:"body"`
	Status      string     `json:"status"`
	AssigneeID  *int64     `json:"assignee_id"`
	DeadlineAt  *time.Time `json:"deadline_at"`
	TakenAt     *time.Time `json:"taken_at"`
	Answer      string     `json:"answer"`
	AnsweredBy  *int64     `json:"answered_by"`
	AnsweredAt  *time.Time `json:"answered_at"`
	EscalatedAt *time.Time `json:"escalated_at"`
	CreatedAt   time.Time  `json:"created_at"`
}

const questionCols = `q.id, q.user_id, q.course_id, q.lesson_id, q.title, q.body, q.status, q.assignee_id, q.deadline_at,
	q.taken_at, q.answer, q.answered_by, q.answered_at, q.escalated_at, q.created_at`

func questionDest(q *Question) []any {
	return []any{&q.ID, &q.UserID, &q.CourseID, &q.LessonID, &q.Title, &q.Body, &q.Status, &q.AssigneeID, &q.DeadlineAt,
		&q.TakenAt, &q.Answer, &q.AnsweredBy, &q.AnsweredAt, &q.EscalatedAt, &q.CreatedAt}
}

func scanQuestion(row pgx.Row) (Question, error) {
	var q Question
	err := row.Scan(questionDest(&q)...)
	return q, err
}

func collectQuestions(rows pgx.Rows, err error) ([]Question, error) {
	if err != nil {
		return nil, fmt.Errorf("list questions: %w", err)
	}
	qs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Question, error) { return scanQuestion(r) })
	if err != nil {
		return nil, fmt.Errorf("read questions: %w", err)
	}
	if qs == nil {
		qs = []Question{}
	}
	return qs, nil
}

// domainErr passes the package's errors through and wraps the others with what was done.
func domainErr(err error, format string, args ...any) error {
	var in *InputError
	if err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrForbidden) || errors.Is(err, ErrConflict) || errors.As(err, &in) {
		return err
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}

// Ask records userID's question about a lesson of a course they are enrolled in (or a
// free preview lesson). It goes to the course's tutor, who has 2 working hours before it
// goes to the public pool, or straight to the pool when the course has no tutor;
// unanswered after 24 hours it is escalated. Both timers are inserted with the question.
func (s *Service) Ask(ctx context.Context, userID, lessonID int64, title, body string) (Question, error) {
	if err := checkText("title", title, 1, 200); err != nil {
		return Question{}, err
	}
	if err := checkText("body", body, 0, maxTextRunes); err != nil {
		return Question{}, err
	}
	now := s.now()
	var q Question
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var (
			courseID      int64
			free, allowed bool
			tutor         *int64
		)
		err := tx.QueryRow(ctx, `
			SELECT l.course_id, l.free_preview,
				EXISTS (SELECT 1 FROM enrollments e WHERE e.user_id = $2 AND e.course_id = l.course_id AND e.status = 'active'
					AND e.deleted_at IS NULL AND (e.expires_at IS NULL OR e.expires_at > now())),
				(SELECT tutor_id FROM course_tutors ct WHERE ct.course_id = l.course_id AND ct.deleted_at IS NULL)
			FROM lessons l JOIN courses c ON c.id = l.course_id
			WHERE l.id = $1 AND l.deleted_at IS NULL AND c.deleted_at IS NULL AND c.status = 'published'`,
			lessonID, userID).Scan(&courseID, &free, &allowed, &tutor)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if !free && !allowed {
			return ErrForbidden
		}
		status := QuestionPooled
		var deadline *time.Time
		if tutor != nil {
			status = QuestionAssigned
			d := WorkingDeadline(now, poolAfterWorkingHours, s.cfg.Location, s.cfg.WorkdayStart, s.cfg.WorkdayEnd)
			deadline = &d
		}
		q, err = scanQuestion(tx.QueryRow(ctx, `
			INSERT INTO questions AS q (user_id, course_id, lesson_id, title, body, status, assignee_id, deadline_at, created_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $1) RETURNING `+questionCols,
			userID, courseID, lessonID, title, body, status, tutor, deadline))
		if err != nil {
			return err
		}
		if deadline != nil {
			if _, err := s.enq.InsertTx(ctx, tx, QuestionPoolArgs{QuestionID: q.ID}, &river.InsertOpts{ScheduledAt: *deadline}); err != nil {
				return err
			}
			if err := notify.Send(ctx, tx, *tutor, notify.KindQuestion, "新的学员提问："+title, body,
				map[string]any{"question_id": q.ID, "lesson_id": lessonID}, "question:"+strconv.FormatInt(q.ID, 10)); err != nil {
				return err
			}
		}
		_, err = s.enq.InsertTx(ctx, tx, QuestionEscalateArgs{QuestionID: q.ID}, &river.InsertOpts{ScheduledAt: now.Add(escalateAfter)})
		return err
	})
	return q, domainErr(err, "ask about lesson %d", lessonID)
}

// Pool returns the questions in the public pool, oldest first.
func (s *Service) Pool(ctx context.Context, limit int) ([]Question, error) {
	return collectQuestions(s.pool.Query(ctx, `SELECT `+questionCols+` FROM questions q
		WHERE q.status = 'pooled' AND q.deleted_at IS NULL ORDER BY q.created_at, q.id LIMIT $1`, clampLimit(limit)))
}

// TutorQuestions returns the open questions a tutor holds (assigned, taken, or escalated
// while they held it), oldest first.
func (s *Service) TutorQuestions(ctx context.Context, tutorID int64, limit int) ([]Question, error) {
	return collectQuestions(s.pool.Query(ctx, `SELECT `+questionCols+` FROM questions q
		WHERE q.assignee_id = $1 AND q.status IN ('assigned', 'taken', 'escalated') AND q.deleted_at IS NULL
		ORDER BY q.created_at, q.id LIMIT $2`, tutorID, clampLimit(limit)))
}

// MyQuestions returns a student's questions, newest first (the latest 200).
func (s *Service) MyQuestions(ctx context.Context, userID int64) ([]Question, error) {
	return collectQuestions(s.pool.Query(ctx, `SELECT `+questionCols+` FROM questions q
		WHERE q.user_id = $1 AND q.deleted_at IS NULL ORDER BY q.id DESC LIMIT 200`, userID))
}

// Question returns a question to its asker, tutors and admins.
func (s *Service) Question(ctx context.Context, userID, questionID int64) (Question, error) {
	var (
		q    Question
		role *string
	)
	err := s.pool.QueryRow(ctx, `SELECT `+questionCols+`, (SELECT role FROM users WHERE id = $2 AND deleted_at IS NULL)
		FROM questions q WHERE q.id = $1 AND q.deleted_at IS NULL`, questionID, userID).Scan(append(questionDest(&q), &role)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return Question{}, ErrNotFound
	}
	if err != nil {
		return Question{}, fmt.Errorf("read question %d: %w", questionID, err)
	}
	if q.UserID != userID && (role == nil || (*role != "tutor" && *role != "admin")) {
		return Question{}, ErrForbidden
	}
	return q, nil
}

// Take gives a pooled question to tutorID for an hour; unanswered by then it goes back
// to the pool. Of tutors taking the same question at once exactly one gets it; the
// others get ErrConflict.
func (s *Service) Take(ctx context.Context, tutorID, questionID int64) (Question, error) {
	var q Question
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var role string
		err := tx.QueryRow(ctx, `SELECT role FROM users WHERE id = $1 AND deleted_at IS NULL AND status = 'active'`, tutorID).Scan(&role)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && role != "tutor" && role != "admin") {
			return ErrForbidden
		}
		if err != nil {
			return err
		}
		q, err = scanQuestion(tx.QueryRow(ctx, `
			UPDATE questions q SET status = 'taken', assignee_id = $2, taken_at = now()
			WHERE q.id = $1 AND q.status = 'pooled' AND q.deleted_at IS NULL RETURNING `+questionCols, questionID, tutorID))
		if errors.Is(err, pgx.ErrNoRows) {
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM questions WHERE id = $1 AND deleted_at IS NULL)`, questionID).Scan(&exists); err != nil {
				return err
			}
			if exists {
				return ErrConflict
			}
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		_, err = s.enq.InsertTx(ctx, tx, QuestionReturnArgs{QuestionID: q.ID, TakenAt: *q.TakenAt},
			&river.InsertOpts{ScheduledAt: q.TakenAt.Add(returnAfter)})
		return err
	})
	return q, domainErr(err, "take question %d", questionID)
}

// Answer answers a question. Only the tutor holding it (assigned, taken, or escalated
// while they held it) or an admin may answer, and only once. The student is notified in
// the same transaction.
func (s *Service) Answer(ctx context.Context, tutorID int64, isAdmin bool, questionID int64, answer string) (Question, error) {
	if err := checkText("answer", answer, 1, maxTextRunes); err != nil {
		return Question{}, err
	}
	var q Question
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		cur, err := scanQuestion(tx.QueryRow(ctx, `SELECT `+questionCols+` FROM questions q
			WHERE q.id = $1 AND q.deleted_at IS NULL FOR UPDATE`, questionID))
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		holder := cur.AssigneeID != nil && *cur.AssigneeID == tutorID &&
			(cur.Status == QuestionAssigned || cur.Status == QuestionTaken || cur.Status == QuestionEscalated)
		switch {
		case cur.Status == QuestionAnswered:
			return ErrConflict
		case !isAdmin && !holder:
			return ErrForbidden
		}
		q, err = scanQuestion(tx.QueryRow(ctx, `
			UPDATE questions q SET status = 'answered', answer = $2, answered_by = $3, answered_at = now()
			WHERE q.id = $1 RETURNING `+questionCols, questionID, answer, tutorID))
		if err != nil {
			return err
		}
		return notify.Send(ctx, tx, q.UserID, notify.KindAnswer, "你的提问有了回答："+q.Title, answer,
			map[string]any{"question_id": q.ID, "course_id": q.CourseID, "lesson_id": q.LessonID}, "answer:"+strconv.FormatInt(q.ID, 10))
	})
	return q, domainErr(err, "answer question %d", questionID)
}
