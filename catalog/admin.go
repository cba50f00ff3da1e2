package catalog

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/luffy-edu/luffy/storage"
)

// Errors an admin write can meet; HTTP answers them with 404 and 409.
var (
	ErrSlugTaken    = errors.New("another course has this slug")
	ErrNotEditable  = errors.New("this course is marked as not editable")
	ErrNotDeletable = errors.New("this course is marked as not deletable")
)

// Actor is who makes a change; it is recorded in created_by and created_by_name.
type Actor struct {
	ID   int64
	Name string
}

// PolicyInput is a price policy as an admin writes it.
type PolicyInput struct {
	Title            string `json:"title"`
	ValidDays        *int32 `json:"valid_days"`
	PriceFen         int64  `json:"price_fen"`
	OriginalPriceFen int64  `json:"original_price_fen"`
}

// CourseInput creates a course. Empty optional fields take the column defaults.
type CourseInput struct {
	Slug          string        `json:"slug"`
	Title         string        `json:"title"`
	Subtitle      string        `json:"subtitle"`
	Type          CourseType    `json:"type"`
	CategoryID    int64         `json:"category_id"`
	Level         string        `json:"level"`
	Brief         string        `json:"brief"`
	CoverURL      string        `json:"cover_url"`
	Status        string        `json:"status"`
	SortCode      int32         `json:"sort_code"`
	Remark        string        `json:"remark"`
	PricePolicies []PolicyInput `json:"price_policies"`
}

// CoursePatch changes the fields it names; nil fields stay as they are.
type CoursePatch struct {
	Slug       *string     `json:"slug"`
	Title      *string     `json:"title"`
	Subtitle   *string     `json:"subtitle"`
	Type       *CourseType `json:"type"`
	CategoryID *int64      `json:"category_id"`
	Level      *string     `json:"level"`
	Brief      *string     `json:"brief"`
	CoverURL   *string     `json:"cover_url"`
	Status     *string     `json:"status"`
	SortCode   *int32      `json:"sort_code"`
	Remark     *string     `json:"remark"`
}

// Position moves one course in the list order.
type Position struct {
	ID       int64 `json:"id"`
	SortCode int32 `json:"sort_code"`
}

var slugRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)

func checkText(field, v string, minLen, maxRunes int) error {
	if !utf8.ValidString(v) {
		return &InputError{field, "must be valid UTF-8"}
	}
	n := utf8.RuneCountInString(v)
	if n < minLen || n > maxRunes {
		if minLen > 0 {
			return &InputError{field, fmt.Sprintf("must be %d to %d characters", minLen, maxRunes)}
		}
		return &InputError{field, fmt.Sprintf("must be at most %d characters", maxRunes)}
	}
	if strings.ContainsRune(v, 0) {
		return &InputError{field, "must not contain NUL"}
	}
	return nil
}

func checkEnum(field, v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return &InputError{field, "must be one of " + strings.Join(allowed, ", ")}
}

func (p *CoursePatch) validate() error {
	checks := []func() error{
		func() error {
			if p.Slug != nil && !slugRe.MatchString(*p.Slug) {
				return &InputError{"slug", "lowercase letters, digits and '-', at most 64"}
			}
			return nil
		},
		func() error { return optText("title", p.Title, 1, 200) },
		func() error { return optText("subtitle", p.Subtitle, 0, 300) },
		func() error {
			if p.Type != nil && !p.Type.Valid() {
				return &InputError{"type", "must be one of employment, light, practical, free"}
			}
			return nil
		},
		func() error {
			if p.CategoryID != nil && *p.CategoryID <= 0 {
				return &InputError{"category_id", "must be a positive integer id"}
			}
			return nil
		},
		func() error {
			if p.Level == nil {
				return nil
			}
			return checkEnum("level", *p.Level, "beginner", "intermediate", "advanced")
		},
		func() error { return optText("brief", p.Brief, 0, 20000) },
		func() error { return optText("cover_url", p.CoverURL, 0, 500) },
		func() error {
			if p.Status == nil {
				return nil
			}
			return checkEnum("status", *p.Status, "draft", "published", "offline")
		},
		func() error { return optText("remark", p.Remark, 0, 1000) },
	}
	for _, c := range checks {
		if err := c(); err != nil {
			return err
		}
	}
	return nil
}

func optText(field string, v *string, minLen, maxRunes int) error {
	if v == nil {
		return nil
	}
	return checkText(field, *v, minLen, maxRunes)
}

func (in *CourseInput) validate() error {
	if in.Slug == "" {
		return &InputError{"slug", "is required"}
	}
	if in.Title == "" {
		return &InputError{"title", "is required"}
	}
	if in.CategoryID == 0 {
		return &InputError{"category_id", "is required"}
	}
	if in.Type == "" {
		return &InputError{"type", "is required"}
	}
	if in.Level == "" {
		in.Level = "beginner"
	}
	if in.Status == "" {
		in.Status = "published"
	}
	p := CoursePatch{Slug: &in.Slug, Title: &in.Title, Subtitle: &in.Subtitle, Type: &in.Type,
		CategoryID: &in.CategoryID, Level: &in.Level, Brief: &in.Brief, CoverURL: &in.CoverURL,
		Status: &in.Status, Remark: &in.Remark}
	if err := p.validate(); err != nil {
		return err
	}
	if len(in.PricePolicies) > 10 {
		return &InputError{"price_policies", "at most 10"}
	}
	for i, pp := range in.PricePolicies {
		field := "price_policies[" + strconv.Itoa(i) + "]"
		if err := checkText(field+".title", pp.Title, 1, 50); err != nil {
			return err
		}
		if pp.ValidDays != nil && (*pp.ValidDays < 1 || *pp.ValidDays > 36500) {
			return &InputError{field + ".valid_days", "must be 1 to 36500, or null for permanent access"}
		}
		if pp.PriceFen < 0 || pp.PriceFen > 1e10 || pp.OriginalPriceFen < 0 || pp.OriginalPriceFen > 1e10 {
			return &InputError{field + ".price_fen", "prices are fen from 0 to 10^10"}
		}
	}
	return nil
}

// checkCategory makes sure id names an enabled second-level category.
func checkCategory(ctx context.Context, tx pgx.Tx, id int64) error {
	var level int16
	err := tx.QueryRow(ctx, `SELECT level FROM categories WHERE id = $1 AND deleted_at IS NULL AND status = 'enabled'`, id).Scan(&level)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && level != 2) {
		return &InputError{"category_id", "must name an enabled category (not a direction)"}
	}
	return err
}

// CreateCourse inserts a course with its price policies and returns its id.
func (s *Store) CreateCourse(ctx context.Context, by Actor, in CourseInput) (int64, error) {
	if err := in.validate(); err != nil {
		return 0, err
	}
	var id int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := checkCategory(ctx, tx, in.CategoryID); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `
			INSERT INTO courses (slug, title, subtitle, course_type, category_id, level, brief, cover_url, status,
				sort_code, remark, created_by, created_by_name)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id`,
			in.Slug, in.Title, in.Subtitle, in.Type, in.CategoryID, in.Level, in.Brief, in.CoverURL, in.Status,
			in.SortCode, in.Remark, by.ID, by.Name).Scan(&id)
		if storage.IsUniqueViolation(err) {
			return ErrSlugTaken
		}
		if err != nil {
			return fmt.Errorf("insert course: %w", err)
		}
		for i, p := range in.PricePolicies {
			if _, err := tx.Exec(ctx, `
				INSERT INTO price_policies (course_id, title, valid_days, price_fen, original_price_fen, sort_code,
					created_by, created_by_name)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
				id, p.Title, p.ValidDays, p.PriceFen, p.OriginalPriceFen, i, by.ID, by.Name); err != nil {
				return fmt.Errorf("insert price policy: %w", err)
			}
		}
		return nil
	})
	return id, err
}

// UpdateCourse applies a patch to a course that is not soft-deleted.
func (s *Store) UpdateCourse(ctx context.Context, by Actor, id int64, p CoursePatch) error {
	if err := p.validate(); err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var editable bool
		err := tx.QueryRow(ctx, `SELECT editable FROM courses WHERE id = $1 AND deleted_at IS NULL FOR UPDATE`, id).Scan(&editable)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("lock course %d: %w", id, err)
		}
		if !editable {
			return ErrNotEditable
		}
		if p.CategoryID != nil {
			if err := checkCategory(ctx, tx, *p.CategoryID); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `
			UPDATE courses SET
				slug = COALESCE($2, slug), title = COALESCE($3, title), subtitle = COALESCE($4, subtitle),
				course_type = COALESCE($5, course_type), category_id = COALESCE($6, category_id),
				level = COALESCE($7, level), brief = COALESCE($8, brief), cover_url = COALESCE($9, cover_url),
				status = COALESCE($10, status), sort_code = COALESCE($11, sort_code), remark = COALESCE($12, remark)
			WHERE id = $1`,
			id, p.Slug, p.Title, p.Subtitle, (*string)(p.Type), p.CategoryID, p.Level, p.Brief, p.CoverURL,
			p.Status, p.SortCode, p.Remark)
		if storage.IsUniqueViolation(err) {
			return ErrSlugTaken
		}
		if err != nil {
			return fmt.Errorf("update course %d: %w", id, err)
		}
		return nil
	})
}

// Reorder sets the sort_code of several courses in one transaction: all move or none do.
func (s *Store) Reorder(ctx context.Context, by Actor, moves []Position) error {
	if len(moves) == 0 || len(moves) > 1000 {
		return &InputError{"items", "must hold 1 to 1000 positions"}
	}
	ids := make([]int64, len(moves))
	codes := make([]int32, len(moves))
	seen := make(map[int64]bool, len(moves))
	for i, m := range moves {
		if m.ID <= 0 {
			return &InputError{"items[" + strconv.Itoa(i) + "].id", "must be a positive integer id"}
		}
		if seen[m.ID] {
			return &InputError{"items[" + strconv.Itoa(i) + "].id", "appears twice"}
		}
		seen[m.ID] = true
		ids[i], codes[i] = m.ID, m.SortCode
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// rows are locked in id order, so two reorders of overlapping sets cannot deadlock
		if _, err := tx.Exec(ctx, `SELECT id FROM courses WHERE id = ANY($1) ORDER BY id FOR UPDATE`, ids); err != nil {
			return fmt.Errorf("lock courses: %w", err)
		}
		tag, err := tx.Exec(ctx, `
			UPDATE courses c SET sort_code = m.sort_code
			FROM unnest($1::bigint[], $2::int[]) AS m(id, sort_code)
			WHERE c.id = m.id AND c.deleted_at IS NULL`, ids, codes)
		if err != nil {
			return fmt.Errorf("reorder courses: %w", err)
		}
		if tag.RowsAffected() != int64(len(moves)) {
			return ErrNotFound
		}
		return nil
	})
}

// DeleteCourse soft-deletes a course: it disappears from every list and detail at once,
// and its row stays for the orders and enrollments that name it.
func (s *Store) DeleteCourse(ctx context.Context, by Actor, id int64) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var deletable bool
		err := tx.QueryRow(ctx, `SELECT deletable FROM courses WHERE id = $1 AND deleted_at IS NULL FOR UPDATE`, id).Scan(&deletable)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("lock course %d: %w", id, err)
		}
		if !deletable {
			return ErrNotDeletable
		}
		if _, err := tx.Exec(ctx, `UPDATE courses SET deleted_at = now(), remark = remark WHERE id = $1`, id); err != nil {
			return fmt.Errorf("delete course %d: %w", id, err)
		}
		return nil
	})
}
