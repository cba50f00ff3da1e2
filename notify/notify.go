// Package notify is the per-user notification inbox: payments, grades, answers and
// points changes land here, written in the same transaction as the change they report.
package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/luffy-edu/luffy/storage"
)

// Querier is a pgx.Tx (a notice is sent in the transaction of what it reports) or a pool.
type Querier = storage.Querier

// Kinds of notification.
const (
	KindPayment  = "payment"
	KindRefund   = "refund"
	KindOrder    = "order"
	KindGrade    = "grade"
	KindAnswer   = "answer"
	KindPoints   = "points"
	KindQuestion = "question"
)

// Notice is one notification.
type Notice struct {
	ID        int64           `json:"id"`
	UserID    int64           `json:"-"`
	Kind      string          `json:"kind"`
	Title     string          `json:"title"`
	Body      string          `json:"body"`
	Data      json.RawMessage `json:"data"`
	ReadAt    *time.Time      `json:"read_at"`
	CreatedAt time.Time       `json:"created_at"`
	// DedupeKey makes sending idempotent: a second notice with the same key for the same
	// user is dropped (a retried job, a duplicate callback).
	DedupeKey string `json:"-"`
}

// Send adds a notice to the user's inbox. data may be nil.
func Send(ctx context.Context, q Querier, userID int64, kind, title, body string, data any, dedupeKey string) error {
	args, err := sendArgs(userID, kind, title, body, data, dedupeKey)
	if err != nil {
		return err
	}
	if _, err := q.Exec(ctx, sendSQL, args...); err != nil {
		return fmt.Errorf("notify user %d: %w", userID, err)
	}
	return nil
}

// Queue is Send as a statement queued on b, for a caller that sends it with others in
// one round trip.
func Queue(b *pgx.Batch, userID int64, kind, title, body string, data any, dedupeKey string) error {
	args, err := sendArgs(userID, kind, title, body, data, dedupeKey)
	if err != nil {
		return err
	}
	b.Queue(sendSQL, args...)
	return nil
}

const sendSQL = `INSERT INTO notifications (user_id, kind, title, body, data, dedupe_key) VALUES ($1, $2, $3, $4, $5, $6)
	ON CONFLICT (user_id, dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING`

func sendArgs(userID int64, kind, title, body string, data any, dedupeKey string) ([]any, error) {
	raw := []byte("{}")
	if data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			return nil, fmt.Errorf("notification data: %w", err)
		}
		raw = b
	}
	var key *string
	if dedupeKey != "" {
		key = &dedupeKey
	}
	return []any{userID, kind, title, body, raw, key}, nil
}

// List returns a user's notices, newest first, with id < beforeID (0: from the newest).
func List(ctx context.Context, q Querier, userID, beforeID int64, limit int) ([]Notice, error) {
	if beforeID <= 0 {
		beforeID = 1<<63 - 1
	}
	rows, err := q.Query(ctx, `SELECT id, user_id, kind, title, body, data, read_at, created_at FROM notifications
		WHERE user_id = $1 AND id < $2 AND deleted_at IS NULL ORDER BY id DESC LIMIT $3`, userID, beforeID, limit)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Notice, error) {
		var n Notice
		err := r.Scan(&n.ID, &n.UserID, &n.Kind, &n.Title, &n.Body, &n.Data, &n.ReadAt, &n.CreatedAt)
		return n, err
	})
	if out == nil {
		out = []Notice{}
	}
	return out, err
}

// Unread counts a user's unread notices.
func Unread(ctx context.Context, q Querier, userID int64) (int, error) {
	var n int
	err := q.QueryRow(ctx, `SELECT count(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL AND deleted_at IS NULL`, userID).Scan(&n)
	return n, err
}

// ErrNotFound means no such notice of this user.
var ErrNotFound = errors.New("no such notification")

// MarkRead marks one notice (or, with id 0, all of them) read.
func MarkRead(ctx context.Context, q Querier, userID, id int64) error {
	if id == 0 {
		_, err := q.Exec(ctx, `UPDATE notifications SET read_at = now() WHERE user_id = $1 AND read_at IS NULL`, userID)
		return err
	}
	tag, err := q.Exec(ctx, `UPDATE notifications SET read_at = coalesce(read_at, now()) WHERE user_id = $1 AND id = $2`, userID, id)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return err
}
