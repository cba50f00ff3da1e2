package video

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/luffy-edu/luffy/storage/pgtest"
)

// BenchmarkIngestVsBareFFmpeg measures what Ingest costs on top of the transcode it cannot
// avoid: each op ingests a 20-second demo with the default ladder, then runs the same
// ffmpeg command alone (no probe, encryption, upload or publish). ingest/ffmpeg near 1
// means ffmpeg is the whole cost. Run it with -benchtime=3x or more: one op is seconds.
func BenchmarkIngestVsBareFFmpeg(b *testing.B) {
	ctx := b.Context()
	db := pgtest.New(b)
	objects := testObjects(b)
	dir := b.TempDir()
	src, err := DemoSource(ctx, "", dir, 20, "bench")
	if err != nil {
		b.Fatal(err)
	}
	ing := NewIngester(db.Pool, objects, IngestConfig{})
	s, err := probe(ctx, ing.cfg.FFprobe, src)
	if err != nil {
		b.Fatal(err)
	}
	videoID := newVideoID()
	b.Cleanup(func() {
		if err := ing.removePrefix(context.Background(), "videos/"+videoID+"/"); err != nil {
			b.Errorf("remove benchmark objects: %v", err)
		}
	})

	b.ReportAllocs()
	var ingest, bare time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := ing.Ingest(ctx, src, IngestOptions{VideoID: videoID}); err != nil {
			b.Fatal(err)
		}
		ingest += time.Since(start)

		out, err := os.MkdirTemp(dir, "bare-")
		if err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		if err := runFFmpeg(ctx, ing.cfg.FFmpeg, ing.cfg.transcodeArgs(src, s, out), nil); err != nil {
			b.Fatal(err)
		}
		bare += time.Since(start)
		os.RemoveAll(out)
	}
	b.ReportMetric(ingest.Seconds()/float64(b.N), "ingest-s/op")
	b.ReportMetric(bare.Seconds()/float64(b.N), "ffmpeg-s/op")
	b.ReportMetric(ingest.Seconds()/bare.Seconds(), "ingest/ffmpeg")
}
