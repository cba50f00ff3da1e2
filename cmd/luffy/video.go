package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/luffy-edu/luffy/orders"
	"github.com/luffy-edu/luffy/storage"
	"github.com/luffy-edu/luffy/video"
)

type ingestCmd struct {
	video.IngestConfig `embed:""`
	File               string `arg:"" help:"Source video file." type:"existingfile"`
	Lesson             int64  `help:"Lesson that plays the video (its current video gets a new version)." required:""`
	VideoID            string `name:"video-id" help:"Video id to publish a new version of (default: the lesson's, or a new one)."`
	Title              string `help:"Title of a new video."`
}

func (c ingestCmd) Run(g *globals, ctx context.Context) error {
	pool, err := g.connect(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	objects, err := storage.OpenObjects(ctx, g.ObjectConfig)
	if err != nil {
		return err
	}
	cfg := c.IngestConfig
	cfg.Progress = os.Stderr
	res, err := video.NewIngester(pool, objects, cfg).Ingest(ctx, c.File, video.IngestOptions{
		LessonID: c.Lesson, VideoID: c.VideoID, Title: c.Title, Actor: "luffy ingest",
	})
	if err != nil {
		return err
	}
	fmt.Printf("published video %s version %d: %.1fs, %d segments, %d renditions, in %s\n",
		res.VideoID, res.Version, float64(res.DurationMS)/1000, res.Segments, len(res.Renditions), res.Took.Round(100e6))
	return nil
}

// seedVideos gives the first paid course a free-preview and a paid lesson with video, and
// enrolls student1 in it, so that a fresh `make run` has something to watch. Lessons that
// already have a video are left alone.
func seedVideos(ctx context.Context, pool *pgxpool.Pool, objects *storage.Objects, cfg video.IngestConfig) error {
	var seeded bool
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM lessons WHERE video_id IS NOT NULL AND created_by_name = 'seed')`).Scan(&seeded); err != nil || seeded {
		return err
	}
	var courseID, freeLesson, paidLesson int64
	err := pool.QueryRow(ctx, `
		SELECT c.id,
			(SELECT id FROM lessons WHERE course_id = c.id AND free_preview AND video_id IS NULL ORDER BY sort_code, id LIMIT 1),
			(SELECT id FROM lessons WHERE course_id = c.id AND NOT free_preview AND video_id IS NULL ORDER BY sort_code, id LIMIT 1)
		FROM courses c WHERE c.course_type <> 'free' AND c.deleted_at IS NULL AND c.created_by_name = 'seed'
		  AND NOT EXISTS (SELECT 1 FROM lessons l WHERE l.course_id = c.id AND l.video_id IS NOT NULL)
		ORDER BY c.sort_code, c.id LIMIT 1`).Scan(&courseID, &freeLesson, &paidLesson)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pick demo lessons: %w", err)
	}
	dir, err := os.MkdirTemp("", "luffy-demo-video")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	in := video.NewIngester(pool, objects, cfg)
	for i, lesson := range []int64{freeLesson, paidLesson} {
		src, err := video.DemoSource(ctx, cfg.FFmpeg, dir, 24+6*i, fmt.Sprintf("demo-%d", i+1))
		if err != nil {
			return err
		}
		res, err := in.Ingest(ctx, src, video.IngestOptions{LessonID: lesson, Title: fmt.Sprintf("演示视频 %d", i+1), Actor: "seed"})
		if err != nil {
			return fmt.Errorf("ingest demo video for lesson %d: %w", lesson, err)
		}
		slog.Info("seeded video", "lesson", lesson, "video", res.VideoID, "took", res.Took.String())
	}
	var student int64
	if err := pool.QueryRow(ctx, `SELECT id FROM users WHERE username = 'student1' AND deleted_at IS NULL`).Scan(&student); err != nil {
		return fmt.Errorf("find student1: %w", err)
	}
	return orders.NewEnrollments(pool).Grant(ctx, student, courseID, time.Time{}, "seed")
}
