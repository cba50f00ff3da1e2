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

// QuestionPoolArgs moves a question its tutor left unanswered for 2 working hours to the
// public pool.
type QuestionPoolArgs struct {
	QuestionID int64 `json:"question_id"`
}

// Kind names the job.
func (QuestionPoolArgs) Kind() string { return "question_pool" }

// QuestionReturnArgs returns a question taken from the pool at TakenAt, and unanswered an
// hour later, to the pool. TakenAt tells this take from a later one of the same question.
type QuestionReturnArgs struct {
	QuestionID int64     `json:"question_id"`
	TakenAt    time.Time `json:"taken_at"`
}

// Kind names the job.
func (QuestionReturnArgs) Kind() string { return "question_return" }

// QuestionEscalateArgs escalates a question unanswered for 24 hours to the
// teaching-research team (the admins).
type QuestionEscalateArgs struct {
	QuestionID int64 `json:"question_id"`
}

// Kind names the job.
func (QuestionEscalateArgs) Kind() string { return "question_escalate" }

// RegisterWorkers adds the question timers' workers to w.
func RegisterWorkers(w *river.Workers, s *Service) {
	river.AddWorker(w, &poolWorker{s: s})
	river.AddWorker(w, &returnWorker{s: s})
	river.AddWorker(w, &escalateWorker{s: s})
}

type poolWorker struct {
	river.WorkerDefaults[QuestionPoolArgs]
	s *Service
}

func (w *poolWorker) Work(ctx context.Context, job *river.Job[QuestionPoolArgs]) error {
	_, err := w.s.poolQuestion(ctx, job.Args)
	return err
}

type returnWorker struct {
	river.WorkerDefaults[QuestionReturnArgs]
	s *Service
}

func (w *returnWorker) Work(ctx context.Context, job *river.Job[QuestionReturnArgs]) error {
	_, err := w.s.returnQuestion(ctx, job.Args)
	return err
}

type escalateWorker struct {
	river.WorkerDefaults[QuestionEscalateArgs]
	s *Service
}

func (w *escalateWorker) Work(ctx context.Context, job *river.Job[QuestionEscalateArgs]) error {
	_, err := w.s.escalateQuestion(ctx, job.Args)
	return err
}

// transition locks a question, asks ready whether the timer still applies, and when it
// does runs change in the same transaction. It reports whether anything changed.
func (s *Service) transition(ctx context.Context, what string, id int64, ready func(Question) bool, change func(pgx.Tx, Question) error) (bool, error) {
	changed := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q, err := scanQuestion(tx.QueryRow(ctx, `SELECT `+questionCols+` FROM questions q
			WHERE q.id = $1 AND q.deleted_at IS NULL FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // deleted since: nothing to do
		}
		if err != nil {
			return err
		}
		if !ready(q) {
			return nil
		}
		changed = true
		return change(tx, q)
	})
	if err != nil {
		return false, fmt.Errorf("%s question %d: %w", what, id, err)
	}
	return changed, nil
}

// poolQuestion: assigned and still unanswered → pooled.
func (s *Service) poolQuestion(ctx context.Context, a QuestionPoolArgs) (bool, error) {
	return s.transition(ctx, "pool", a.QuestionID,
		func(q Question) bool { return q.Status == QuestionAssigned },
		func(tx pgx.Tx, q Question) error {
			_, err := tx.Exec(ctx, `UPDATE questions SET status = 'pooled', assignee_id = NULL WHERE id = $1`, q.ID)
			return err
		})
}

// returnQuestion: still taken by the take that scheduled this job and unanswered → pooled.
func (s *Service) returnQuestion(ctx context.Context, a QuestionReturnArgs) (bool, error) {
	return s.transition(ctx, "return", a.QuestionID,
		func(q Question) bool {
			return q.Status == QuestionTaken && q.TakenAt != nil && q.TakenAt.Equal(a.TakenAt)
		},
		func(tx pgx.Tx, q Question) error {
			_, err := tx.Exec(ctx, `UPDATE questions SET status = 'pooled', assignee_id = NULL, taken_at = NULL WHERE id = $1`, q.ID)
			return err
		})
}

// escalateQuestion: unanswered (wherever it is) → escalated; the student and the admins
// are told. Whoever held it keeps it and may still answer.
func (s *Service) escalateQuestion(ctx context.Context, a QuestionEscalateArgs) (bool, error) {
	return s.transition(ctx, "escalate", a.QuestionID,
		func(q Question) bool {
			return q.Status == QuestionAssigned || q.Status == QuestionPooled || q.Status == QuestionTaken
		},
		func(tx pgx.Tx, q Question) error {
			if _, err := tx.Exec(ctx, `UPDATE questions SET status = 'escalated', escalated_at = now() WHERE id = $1`, q.ID); err != nil {
				return err
			}
			key := "escalated:" + strconv.FormatInt(q.ID, 10)
			data := map[string]any{"question_id": q.ID, "lesson_id": q.LessonID}
			if err := notify.Send(ctx, tx, q.UserID, notify.KindQuestion, "你的提问已转交教研团队："+q.Title,
				"24 小时内未获回答，已转交教研团队优先处理。", data, key); err != nil {
				return err
			}
			rows, err := tx.Query(ctx, `SELECT id FROM users WHERE role = 'admin' AND status = 'active' AND deleted_at IS NULL`)
			if err != nil {
				return err
			}
			admins, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			if err != nil {
				return err
			}
			for _, id := range admins {
				if err := notify.Send(ctx, tx, id, notify.KindQuestion, "提问超时未答，已升级："+q.Title, q.Body, data, key); err != nil {
					return err
				}
			}
			return nil
		})
}
