package orders

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Enrollments says who may watch which paid course.
type Enrollments struct{ pool *pgxpool.Pool }

// NewEnrollments returns Enrollments over pool.
func NewEnrollments(pool *pgxpool.Pool) *Enrollments { return &Enrollments{pool: pool} }

// Active reports whether user holds an active, unexpired enrollment in course.
func (e *Enrollments) Active(ctx context.Context, userID, courseID int64) (bool, error) {
	var ok bool
	err := e.pool.QueryRow(ctx, `
		SELECT EXISTS (SELECT 1 FROM enrollments WHERE user_id = $1 AND course_id = $2 AND status = 'active'
			AND deleted_at IS NULL AND (expires_at IS NULL OR expires_at > now()))`, userID, courseID).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("check enrollment of user %d in course %d: %w", userID, courseID, err)
	}
	return ok, nil
}

// Grant enrolls user in course until (zero: for good), or extends an enrollment they
// hold to the later of the two dates.
func (e *Enrollments) Grant(ctx context.Context, userID, courseID int64, until time.Time, by string) error {
	var exp *time.Time
	if !until.IsZero() {
		exp = &until
	}
	_, err := e.pool.Exec(ctx, `
		INSERT INTO enrollments (user_id, course_id, expires_at, created_by_name) VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id, course_id) WHERE deleted_at IS NULL DO UPDATE SET status = 'active',
			expires_at = CASE WHEN enrollments.expires_at IS NULL OR EXCLUDED.expires_at IS NULL THEN NULL
				ELSE greatest(enrollments.expires_at, EXCLUDED.expires_at) END`, userID, courseID, exp, by)
	if err != nil {
		return fmt.Errorf("enroll user %d in course %d: %w", userID, courseID, err)
	}
	return nil
}

// GrantUsername is Grant for a user named by username (the demo seed knows names only).
func (e *Enrollments) GrantUsername(ctx context.Context, username string, courseID int64, until time.Time, by string) error {
	var id int64
	if err := e.pool.QueryRow(ctx, `SELECT id FROM users WHERE lower(username) = lower($1) AND deleted_at IS NULL`, username).Scan(&id); err != nil {
		return fmt.Errorf("find user %q: %w", username, err)
	}
	return e.Grant(ctx, id, courseID, until, by)
}
