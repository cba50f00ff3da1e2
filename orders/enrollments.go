package orders

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
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

// grantSet is the update of an enrollment granted again: active, until the later of its
// end and the new one (NULL, for good, being the latest). A revoked enrollment's end
// counts for nothing: a course refunded, or ended and bought again, runs from the new
// purchase alone, so a lifetime purchase refunded and a 7-day one bought after it give 7
// days, not a lifetime.
const grantSet = `status = 'active',
	expires_at = CASE WHEN enrollments.status <> 'active' THEN EXCLUDED.expires_at
		WHEN enrollments.expires_at IS NULL OR EXCLUDED.expires_at IS NULL THEN NULL
		ELSE greatest(enrollments.expires_at, EXCLUDED.expires_at) END`

// Grant enrolls user in course until (zero: for good), or extends an enrollment they
// hold to the later of the two dates.
func (e *Enrollments) Grant(ctx context.Context, userID, courseID int64, until time.Time, by string) error {
	var exp *time.Time
	if !until.IsZero() {
		exp = &until
	}
	_, err := e.pool.Exec(ctx, `
		INSERT INTO enrollments (user_id, course_id, expires_at, created_by_name) VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id, course_id) WHERE deleted_at IS NULL DO UPDATE SET `+grantSet, userID, courseID, exp, by)
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

// MyCourse is a course a user may watch now.
type MyCourse struct {
	CourseID   int64      `json:"course_id"`
	Title      string     `json:"title"`
	Slug       string     `json:"slug"`
	CoverURL   string     `json:"cover_url"`
	ExpiresAt  *time.Time `json:"expires_at"` // nil: for good
	EnrolledAt time.Time  `json:"enrolled_at"`
}

// Mine lists the courses the user holds an active, unexpired enrollment in, most recent
// first.
func (e *Enrollments) Mine(ctx context.Context, userID int64) ([]MyCourse, error) {
	rows, err := e.pool.Query(ctx, `
		SELECT c.id, c.title, c.slug, c.cover_url, e.expires_at, e.created_at
		FROM enrollments e JOIN courses c ON c.id = e.course_id
		WHERE e.user_id = $1 AND e.status = 'active' AND e.deleted_at IS NULL AND (e.expires_at IS NULL OR e.expires_at > now())
			AND c.deleted_at IS NULL
		ORDER BY e.id DESC LIMIT 1000`, userID)
	if err != nil {
		return nil, fmt.Errorf("courses of user %d: %w", userID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (MyCourse, error) {
		var m MyCourse
		err := r.Scan(&m.CourseID, &m.Title, &m.Slug, &m.CoverURL, &m.ExpiresAt, &m.EnrolledAt)
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("courses of user %d: %w", userID, err)
	}
	if out == nil {
		out = []MyCourse{}
	}
	return out, nil
}
