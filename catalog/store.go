package catalog

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Store reads and writes the catalog in Postgres.
type Store struct {
	pool *pgxpool.Pool
	// reader picks the pool of the public reads (Categories, Courses, Course): a read
	// replica while it keeps up, else pool. Writes and admin reads always use pool.
	reader func() *pgxpool.Pool
}

// NewStore returns a Store over pool.
func NewStore(pool *pgxpool.Pool) *Store {
	return &Store{pool: pool, reader: func() *pgxpool.Pool { return pool }}
}

// ReadFrom makes the public reads use the pool reader picks at each read (a
// storage.ReadSplit's Reader) and returns s.
func (s *Store) ReadFrom(reader func() *pgxpool.Pool) *Store {
	s.reader = reader
	return s
}

// Categories returns the enabled two-level tree in sort order.
func (s *Store) Categories(ctx context.Context) ([]Direction, error) {
	rows, err := s.reader().Query(ctx, `
		SELECT id, COALESCE(parent_id, 0), name, slug, sort_code FROM categories
		WHERE deleted_at IS NULL AND status = 'enabled'
		ORDER BY level, sort_code, id`)
	if err != nil {
		return nil, fmt.Errorf("query categories: %w", err)
	}
	cats, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Category, error) {
		var c Category
		return c, r.Scan(&c.ID, &c.ParentID, &c.Name, &c.Slug, &c.SortCode)
	})
	if err != nil {
		return nil, fmt.Errorf("read categories: %w", err)
	}
	dirs := []Direction{}
	index := map[int64]int{}
	for _, c := range cats {
		if c.ParentID == 0 {
			index[c.ID] = len(dirs)
			dirs = append(dirs, Direction{ID: c.ID, Name: c.Name, Slug: c.Slug, SortCode: c.SortCode, Categories: []Category{}})
			continue
		}
		if i, ok := index[c.ParentID]; ok { // a child of a disabled direction is hidden with it
			dirs[i].Categories = append(dirs[i].Categories, c)
		}
	}
	return dirs, nil
}

// listableCategory keeps courses whose category and direction are enabled and not
// deleted: hiding a category hides its courses everywhere.
const listableCategory = `EXISTS (SELECT 1 FROM categories k JOIN categories d ON d.id = k.parent_id
	WHERE k.id = c.category_id AND k.deleted_at IS NULL AND k.status = 'enabled'
	  AND d.deleted_at IS NULL AND d.status = 'enabled')`

const summaryColumns = `c.id, c.slug, c.title, c.subtitle, c.course_type, c.category_id, c.level, c.cover_url,
	c.duration_seconds, c.sort_code,
	(SELECT count(*) FROM lessons l WHERE l.course_id = c.id AND l.deleted_at IS NULL),
	(SELECT min(p.price_fen) FROM price_policies p WHERE p.course_id = c.id AND p.deleted_at IS NULL AND p.status = 'enabled')`

func scanSummary(r pgx.Row, c *CourseSummary) error {
	return r.Scan(&c.ID, &c.Slug, &c.Title, &c.Subtitle, &c.Type, &c.CategoryID, &c.Level, &c.CoverURL,
		&c.DurationSeconds, &c.SortCode, &c.LessonCount, &c.PriceFromFen)
}

// Courses returns one page of published courses in (sort_code, id) order. A CategoryID
// that names no enabled category is ErrNotFound.
func (s *Store) Courses(ctx context.Context, q ListQuery) (Page, error) {
	db := s.reader() // one server for both statements
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	where = append(where, "c.deleted_at IS NULL", "c.status = 'published'", listableCategory)
	if q.CategoryID != 0 {
		var ids []int64
		// the category itself must be listable too: a disabled direction hides its children
		err := db.QueryRow(ctx, `
			SELECT array_agg(c.id) FROM categories c LEFT JOIN categories p ON p.id = c.parent_id
			WHERE (c.id = $1 OR c.parent_id = $1) AND c.deleted_at IS NULL AND c.status = 'enabled'
			  AND (p.id IS NULL OR (p.deleted_at IS NULL AND p.status = 'enabled'))
			  AND EXISTS (SELECT 1 FROM categories x WHERE x.id = $1 AND x.deleted_at IS NULL AND x.status = 'enabled')`,
			q.CategoryID).Scan(&ids)
		if err != nil {
			return Page{}, fmt.Errorf("resolve category %d: %w", q.CategoryID, err)
		}
		if len(ids) == 0 {
			return Page{}, ErrNotFound
		}
		if len(ids) == 1 {
			where = append(where, "c.category_id = "+arg(ids[0]))
		} else {
			where = append(where, "c.category_id = ANY("+arg(ids)+")")
		}
	}
	if q.Type != "" {
		where = append(where, "c.course_type = "+arg(string(q.Type)))
	}
	if q.After != nil {
		where = append(where, "(c.sort_code, c.id) > ("+arg(q.After.SortCode)+", "+arg(q.After.ID)+")")
	}
	limit := q.Limit
	if limit <= 0 || limit > MaxLimit {
		limit = DefaultLimit
	}
	sql := "SELECT " + summaryColumns + " FROM courses c WHERE " + strings.Join(where, " AND ") +
		" ORDER BY c.sort_code, c.id LIMIT " + arg(limit+1)
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return Page{}, fmt.Errorf("query courses: %w", err)
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (CourseSummary, error) {
		var c CourseSummary
		return c, scanSummary(r, &c)
	})
	if err != nil {
		return Page{}, fmt.Errorf("read courses: %w", err)
	}
	page := Page{Items: items}
	if page.Items == nil {
		page.Items = []CourseSummary{}
	}
	if len(items) > limit {
		page.Items = items[:limit]
		last := page.Items[limit-1]
		next := Cursor{SortCode: last.SortCode, ID: last.ID}.Encode()
		page.NextCursor = &next
	}
	return page, nil
}

// Course returns a published course with its chapters, lessons, homework titles,
// documents, teachers and price policies, read in one snapshot and one round trip.
func (s *Store) Course(ctx context.Context, id int64) (*Course, error) {
	tx, err := s.reader().BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(ctx)

	b := &pgx.Batch{}
	c := &Course{}
	b.Queue(`SELECT `+summaryColumns+`, c.brief, c.updated_at,
			k.id, k.parent_id, k.name, k.slug, k.sort_code, d.id, d.name, d.slug, d.sort_code
		FROM courses c JOIN categories k ON k.id = c.category_id JOIN categories d ON d.id = k.parent_id
		WHERE c.id = $1 AND c.deleted_at IS NULL AND c.status = 'published'
		  AND k.deleted_at IS NULL AND k.status = 'enabled' AND d.deleted_at IS NULL AND d.status = 'enabled'`, id).QueryRow(func(r pgx.Row) error {
		return r.Scan(&c.ID, &c.Slug, &c.Title, &c.Subtitle, &c.Type, &c.CategoryID, &c.Level, &c.CoverURL,
			&c.DurationSeconds, &c.SortCode, &c.LessonCount, &c.PriceFromFen, &c.Brief, &c.UpdatedAt,
			&c.Category.ID, &c.Category.ParentID, &c.Category.Name, &c.Category.Slug, &c.Category.SortCode,
			&c.Direction.ID, &c.Direction.Name, &c.Direction.Slug, &c.Direction.SortCode)
	})
	c.Teachers = []Teacher{}
	b.Queue(`SELECT t.id, t.name, t.title, t.bio, t.avatar_url FROM course_teachers ct JOIN teachers t ON t.id = ct.teacher_id
		WHERE ct.course_id = $1 AND ct.deleted_at IS NULL AND t.deleted_at IS NULL ORDER BY ct.sort_code, ct.id`, id).
		Query(func(rows pgx.Rows) error {
			var t Teacher
			_, err := pgx.ForEachRow(rows, []any{&t.ID, &t.Name, &t.Title, &t.Bio, &t.AvatarURL}, func() error {
				c.Teachers = append(c.Teachers, t)
				return nil
			})
			return err
		})
	c.Chapters = []Chapter{}
	chapterIndex := map[int64]int{}
	b.Queue(`SELECT id, title, summary, sort_code FROM chapters WHERE course_id = $1 AND deleted_at IS NULL
		ORDER BY sort_code, id`, id).Query(func(rows pgx.Rows) error {
		var ch Chapter
		_, err := pgx.ForEachRow(rows, []any{&ch.ID, &ch.Title, &ch.Summary, &ch.SortCode}, func() error {
			chapterIndex[ch.ID] = len(c.Chapters)
			c.Chapters = append(c.Chapters, Chapter{ID: ch.ID, Title: ch.Title, Summary: ch.Summary, SortCode: ch.SortCode,
				Lessons: []Lesson{}, Homework: []Homework{}})
			return nil
		})
		return err
	})
	b.Queue(`SELECT chapter_id, id, title, lesson_type, free_preview, video_id, duration_seconds, sort_code FROM lessons
		WHERE course_id = $1 AND deleted_at IS NULL ORDER BY chapter_id, sort_code, id`, id).Query(func(rows pgx.Rows) error {
		var (
			chapter int64
			l       Lesson
		)
		_, err := pgx.ForEachRow(rows, []any{&chapter, &l.ID, &l.Title, &l.Type, &l.FreePreview, &l.VideoID, &l.DurationSeconds, &l.SortCode}, func() error {
			if i, ok := chapterIndex[chapter]; ok {
				c.Chapters[i].Lessons = append(c.Chapters[i].Lessons, l)
			}
			return nil
		})
		return err
	})
	b.Queue(`SELECT chapter_id, id, title FROM homework WHERE course_id = $1 AND deleted_at IS NULL
		ORDER BY chapter_id, sort_code, id`, id).Query(func(rows pgx.Rows) error {
		var (
			chapter int64
			h       Homework
		)
		_, err := pgx.ForEachRow(rows, []any{&chapter, &h.ID, &h.Title}, func() error {
			if i, ok := chapterIndex[chapter]; ok {
				c.Chapters[i].Homework = append(c.Chapters[i].Homework, h)
			}
			return nil
		})
		return err
	})
	c.Documents = []Document{}
	b.Queue(`SELECT id, chapter_id, title, size_bytes FROM documents WHERE course_id = $1 AND deleted_at IS NULL
		ORDER BY sort_code, id`, id).Query(func(rows pgx.Rows) error {
		var d Document
		_, err := pgx.ForEachRow(rows, []any{&d.ID, &d.ChapterID, &d.Title, &d.SizeBytes}, func() error {
			c.Documents = append(c.Documents, d)
			return nil
		})
		return err
	})
	c.PricePolicies = []PricePolicy{}
	b.Queue(`SELECT id, title, valid_days, price_fen, original_price_fen FROM price_policies
		WHERE course_id = $1 AND deleted_at IS NULL AND status = 'enabled' ORDER BY sort_code, id`, id).Query(func(rows pgx.Rows) error {
		var p PricePolicy
		_, err := pgx.ForEachRow(rows, []any{&p.ID, &p.Title, &p.ValidDays, &p.PriceFen, &p.OriginalPriceFen}, func() error {
			c.PricePolicies = append(c.PricePolicies, p)
			return nil
		})
		return err
	})
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("read course %d: %w", id, err)
	}
	return c, nil
}
