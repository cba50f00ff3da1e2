package main

import (
	"context"
	"fmt"
	"os"
	"time"

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
	pool, objects, err := g.connectStores(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
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

// seedVideos ingests the demo videos and enrolls student1 in their course.
func seedVideos(ctx context.Context, pool *pgxpool.Pool, objects *storage.Objects, cfg video.IngestConfig) error {
	course, err := video.SeedDemo(ctx, pool, video.NewIngester(pool, objects, cfg))
	if err != nil || course == 0 {
		return err
	}
	return orders.NewEnrollments(pool).GrantUsername(ctx, "student1", course, time.Time{}, "seed")
}
