package video

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// SeedDemo gives the first seeded paid course a free-preview lesson and a paid lesson
// with generated demo video, so that a fresh stack has something to watch, and returns
// that course's id (0 when the catalog has no paid course). Each lesson is checked on
// its own, so a seed interrupted half-way finishes on the next run.
func SeedDemo(ctx context.Context, pool *pgxpool.Pool, in *Ingester) (int64, error) {
	var courseID, freeLesson, paidLesson int64
	err := pool.QueryRow(ctx, `
		SELECT c.id,
			(SELECT id FROM lessons WHERE course_id = c.id AND free_preview AND deleted_at IS NULL ORDER BY sort_code, id LIMIT 1),
			(SELECT id FROM lessons WHERE course_id = c.id AND NOT free_preview AND deleted_at IS NULL ORDER BY sort_code, id LIMIT 1)
		FROM courses c WHERE c.course_type <> 'free' AND c.deleted_at IS NULL AND c.created_by_name = 'seed'
		ORDER BY c.sort_code, c.id LIMIT 1`).Scan(&courseID, &freeLesson, &paidLesson)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("pick demo lessons: %w", err)
	}
	dir, err := os.MkdirTemp("", "luffy-demo-video")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	for i, lesson := range []int64{freeLesson, paidLesson} {
		var has bool
		if err := pool.QueryRow(ctx, `SELECT video_id IS NOT NULL FROM lessons WHERE id = $1`, lesson).Scan(&has); err != nil {
			return 0, fmt.Errorf("check lesson %d: %w", lesson, err)
		}
		if has {
			continue
		}
		src, err := DemoSource(ctx, in.cfg.FFmpeg, dir, 24+6*i, fmt.Sprintf("demo-%d", i+1))
		if err != nil {
			return 0, err
		}
		res, err := in.Ingest(ctx, src, IngestOptions{LessonID: lesson, Title: fmt.Sprintf("演示视频 %d", i+1), Actor: "seed"})
		if err != nil {
			return 0, fmt.Errorf("ingest demo video for lesson %d: %w", lesson, err)
		}
		slog.Info("seeded video", "lesson", lesson, "video", res.VideoID, "took", res.Took.String())
	}
	return courseID, nil
}
