package video

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alecthomas/kong"
	"github.com/minio/minio-go/v7"

	"github.com/luffy-edu/luffy/catalog"
	"github.com/luffy-edu/luffy/storage"
	"github.com/luffy-edu/luffy/storage/pgtest"
)

// testLadder is small, so that the tests spend their time on what Ingest does rather
// than in x264.
var testLadder = Ladder{
	{Name: "180p", Width: 320, Height: 180, VideoBitrate: 300_000, AudioBitrate: 64_000},
	{Name: "360p", Width: 640, Height: 360, VideoBitrate: 800_000, AudioBitrate: 96_000},
}

// ingestEnv is what an ingest test needs from the local stack.
type ingestEnv struct {
	ctx     context.Context
	db      *pgtest.DB
	objects *storage.Objects
	lesson  int64  // a lesson of the seeded catalog, without a video
	tmp     string // TMPDIR of the test: where Ingest's work directories go
}

func newIngestEnv(t *testing.T) *ingestEnv {
	t.Helper()
	ctx := t.Context()
	e := &ingestEnv{ctx: ctx, db: pgtest.New(t), objects: testObjects(t), tmp: t.TempDir()}
	t.Setenv("TMPDIR", e.tmp)
	if _, err := catalog.Seed(ctx, e.db.Pool, 1); err != nil {
		t.Fatalf("seed catalog: %v", err)
	}
	if err := e.db.Pool.QueryRow(ctx, `SELECT id FROM lessons ORDER BY id LIMIT 1`).Scan(&e.lesson); err != nil {
		t.Fatalf("pick a lesson: %v", err)
	}
	t.Cleanup(func() { checkNoLeaks(t) })
	return e
}

func testObjects(tb testing.TB) *storage.Objects {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	objects, err := storage.OpenObjects(ctx, storage.ObjectConfig{})
	if err != nil {
		tb.Fatalf("%v\nstart the local stack with `make stack`", err)
	}
	return objects
}

// forget removes the objects of a video the test made, so that test runs do not fill the
// local MinIO.
func (e *ingestEnv) forget(t testing.TB, videoID string) {
	t.Cleanup(func() {
		ing := &Ingester{objects: e.objects}
		if err := ing.removePrefix(context.Background(), "videos/"+videoID+"/"); err != nil {
			t.Errorf("remove test objects: %v", err)
		}
	})
}

func (e *ingestEnv) keys(t *testing.T, prefix string) []string {
	t.Helper()
	var keys []string
	for o := range e.objects.ListObjects(e.ctx, e.objects.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			t.Fatalf("list %s: %v", prefix, o.Err)
		}
		keys = append(keys, strings.TrimPrefix(o.Key, prefix))
	}
	slices.Sort(keys)
	return keys
}

func (e *ingestEnv) get(t *testing.T, key string) ([]byte, minio.ObjectInfo) {
	t.Helper()
	o, err := e.objects.GetObject(e.ctx, e.objects.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer o.Close()
	b, err := io.ReadAll(o)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	info, err := o.Stat()
	if err != nil {
		t.Fatalf("stat %s: %v", key, err)
	}
	return b, info
}

func (e *ingestEnv) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := e.db.Pool.QueryRow(e.ctx, sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// checkWorkDirsGone fails when an ingest left its temporary directory behind.
func (e *ingestEnv) checkWorkDirsGone(t *testing.T) {
	t.Helper()
	if left, _ := filepath.Glob(filepath.Join(e.tmp, "luffy-ingest-*")); len(left) > 0 {
		t.Errorf("work directories left behind: %v", left)
	}
}

// wantObjects is the object names of a version of a ladder with n segments.
func wantObjects(ladder Ladder, n int) []string {
	var names []string
	for _, r := range ladder {
		names = append(names, r.Name+"/index.m3u8")
		for i := range n {
			names = append(names, r.Name+"/"+SegmentName(i))
		}
	}
	slices.Sort(names)
	return names
}

// checkNoLeaks fails when a goroutine of this package's code (upload workers, ffmpeg
// pipes, progress bars) outlives the ingests.
func checkNoLeaks(t *testing.T) {
	t.Helper()
	leak := regexp.MustCompile(`luffy/video\.\(\*Ingester\)|luffy/video\.runFFmpeg|luffy/video\.probe|os/exec\.|progressbar`)
	var stacks bytes.Buffer
	for deadline := time.Now().Add(2 * time.Second); ; {
		stacks.Reset()
		pprof.Lookup("goroutine").WriteTo(&stacks, 1)
		if !leak.Match(stacks.Bytes()) {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("goroutines leaked:\n%s", stacks.String())
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// probeBytes runs ffprobe on b and returns the codecs of its streams.
func probeBytes(t *testing.T, b []byte) ([]string, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "probe.ts")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-print_format", "json", "-show_streams", path).Output()
	if err != nil {
		return nil, err
	}
	var info struct {
		Streams []struct {
			CodecName string `json:"codec_name"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatal(err)
	}
	var codecs []string
	for _, s := range info.Streams {
		codecs = append(codecs, s.CodecName)
	}
	slices.Sort(codecs)
	return codecs, nil
}

// open decrypts an HLS AES-128 segment the way a player does.
func open(t *testing.T, key, iv, sealed []byte) []byte {
	t.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	if len(sealed)%aes.BlockSize != 0 || len(sealed) == 0 {
		t.Fatalf("sealed segment of %d bytes is not whole blocks", len(sealed))
	}
	plain := make([]byte, len(sealed))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(plain, sealed)
	pad := int(plain[len(plain)-1])
	if pad < 1 || pad > aes.BlockSize || !bytes.Equal(plain[len(plain)-pad:], bytes.Repeat([]byte{byte(pad)}, pad)) {
		t.Fatalf("segment does not end in PKCS#7 padding")
	}
	return plain[:len(plain)-pad]
}

func TestIngestPublishesEncryptedLadderAndNewVersions(t *testing.T) {
	e := newIngestEnv(t)
	src, err := DemoSource(e.ctx, "", t.TempDir(), 10, "lesson one")
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	ing := NewIngester(e.db.Pool, e.objects, IngestConfig{Ladder: testLadder, SegmentSeconds: 2, KeyEvery: 2, Progress: &log})
	res, err := ing.Ingest(e.ctx, src, IngestOptions{LessonID: e.lesson, Title: "第一课", Actor: "test"})
	if err != nil {
		t.Fatalf("Ingest: %v", err)
	}
	e.forget(t, res.VideoID)
	e.checkWorkDirsGone(t)
	t.Logf("ingest of 10s took %s; progress:\n%s", res.Took, log.String())

	// 10 seconds in 2-second segments, keys every 2 segments: keys 0, 1, 2.
	const segments, keys = 5, 3
	if len(res.VideoID) != 12 || !ValidVideoID(res.VideoID) || res.Version != 1 || res.Segments != segments ||
		res.DurationMS < 9900 || res.DurationMS > 10100 || len(res.Renditions) != len(testLadder) {
		t.Fatalf("result %+v", res)
	}
	for i, r := range res.Renditions {
		if r.Name != testLadder[i].Name || r.Segments != segments || r.Bandwidth < r.VideoBitrate/4 || r.Bandwidth > 3*(r.VideoBitrate+r.AudioBitrate) {
			t.Errorf("rendition %+v", r)
		}
	}

	var (
		title                      string
		published, segCount, every int
		durationMS                 int64
		prefix                     string
		renditions                 []Rendition
		lessonVideo                *string
		lessonSeconds              int
	)
	if err := e.db.Pool.QueryRow(e.ctx, `
		SELECT v.title, v.published_version, vv.object_prefix, vv.renditions, vv.segment_count, vv.keys_every, vv.duration_ms
		FROM videos v JOIN video_versions vv ON vv.video_id = v.id AND vv.version = v.published_version WHERE v.id = $1`,
		res.VideoID).Scan(&title, &published, &prefix, &renditions, &segCount, &every, &durationMS); err != nil {
		t.Fatalf("published version: %v", err)
	}
	if title != "第一课" || published != 1 || prefix != "videos/"+res.VideoID+"/v1/" || segCount != segments || every != 2 ||
		durationMS != res.DurationMS || !reflect.DeepEqual(renditions, res.Renditions) {
		t.Errorf("row: %q v%d %s %d segments, keys every %d, %d ms, %+v", title, published, prefix, segCount, every, durationMS, renditions)
	}
	if n := e.count(t, `SELECT count(*) FROM video_keys k JOIN video_versions vv ON vv.id = k.video_version_id WHERE vv.video_id = $1`, res.VideoID); n != keys {
		t.Errorf("%d keys, want %d", n, keys)
	}
	if err := e.db.Pool.QueryRow(e.ctx, `SELECT video_id, duration_seconds FROM lessons WHERE id = $1`, e.lesson).Scan(&lessonVideo, &lessonSeconds); err != nil {
		t.Fatal(err)
	}
	if lessonVideo == nil || *lessonVideo != res.VideoID || lessonSeconds != 10 {
		t.Errorf("lesson plays %v for %ds, want %s for 10s", lessonVideo, lessonSeconds, res.VideoID)
	}

	if got, want := e.keys(t, prefix), wantObjects(testLadder, segments); !slices.Equal(got, want) {
		t.Fatalf("objects under %s:\n%v\nwant\n%v", prefix, got, want)
	}

	// The playlist names key 1 with its IV before segment 2, and segment 3 is sealed under
	// key 1: it means nothing to a player without the key, and is the original segment
	// with it.
	var key, iv []byte
	if err := e.db.Pool.QueryRow(e.ctx, `
		SELECT k.key, k.iv FROM video_keys k JOIN video_versions vv ON vv.id = k.video_version_id
		WHERE vv.video_id = $1 AND vv.version = 1 AND k.key_index = 1`, res.VideoID).Scan(&key, &iv); err != nil {
		t.Fatal(err)
	}
	playlist, info := e.get(t, prefix+"360p/index.m3u8")
	if info.ContentType != "application/vnd.apple.mpegurl" {
		t.Errorf("playlist content type %q", info.ContentType)
	}
	p := string(playlist)
	keyLine := `#EXT-X-KEY:METHOD=AES-128,URI="key?n=1",IV=0x` + hex.EncodeToString(iv) + "\n#EXTINF:"
	if !strings.HasPrefix(p, "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-KEY:METHOD=AES-128,URI=\"key?n=0\",IV=0x") ||
		!strings.Contains(p, keyLine) || strings.Index(p, keyLine) > strings.Index(p, SegmentName(2)) ||
		strings.Count(p, "#EXT-X-KEY:") != keys || strings.Count(p, "#EXTINF:") != segments || !strings.HasSuffix(p, "#EXT-X-ENDLIST\n") {
		t.Errorf("playlist:\n%s", p)
	}
	sealed, info := e.get(t, prefix+"360p/"+SegmentName(3))
	if info.ContentType != "video/mp2t" {
		t.Errorf("segment content type %q", info.ContentType)
	}
	if codecs, err := probeBytes(t, sealed); err == nil && slices.Contains(codecs, "h264") {
		t.Errorf("encrypted segment decodes: %v", codecs)
	}
	if codecs, err := probeBytes(t, open(t, key, iv, sealed)); err != nil || !slices.Equal(codecs, []string{"aac", "h264"}) {
		t.Errorf("decrypted segment: %v, %v; want aac and h264", codecs, err)
	}

	// Again for the same lesson: version 2 of the same video, version 1 left as it was for
	// whoever is watching it.
	res2, err := ing.Ingest(e.ctx, src, IngestOptions{LessonID: e.lesson, Actor: "test"})
	if err != nil {
		t.Fatalf("second Ingest: %v", err)
	}
	e.checkWorkDirsGone(t)
	if res2.VideoID != res.VideoID || res2.Version != 2 {
		t.Fatalf("second ingest made %s v%d, want %s v2", res2.VideoID, res2.Version, res.VideoID)
	}
	if n := e.count(t, `SELECT published_version FROM videos WHERE id = $1 AND title = '第一课'`, res.VideoID); n != 2 {
		t.Errorf("published version %d, want 2", n)
	}
	for _, v := range []string{"v1", "v2"} {
		if got, want := e.keys(t, "videos/"+res.VideoID+"/"+v+"/"), wantObjects(testLadder, segments); !slices.Equal(got, want) {
			t.Errorf("objects of %s: %v", v, got)
		}
	}
	if again, _ := e.get(t, prefix+"360p/"+SegmentName(3)); !bytes.Equal(again, sealed) {
		t.Errorf("version 1's segment changed")
	}
}

func TestIngestRejectsBadSourcesAndPublishesNothing(t *testing.T) {
	e := newIngestEnv(t)
	dir := t.TempDir()
	demo, err := DemoSource(e.ctx, "", dir, 10, "demo")
	if err != nil {
		t.Fatal(err)
	}
	whole, err := os.ReadFile(demo)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	ffmpeg := func(name string, args ...string) string {
		path := filepath.Join(dir, name)
		if err := runFFmpeg(e.ctx, "ffmpeg", append(append([]string{"-loglevel", "error", "-y"}, args...), path), nil); err != nil {
			t.Fatal(err)
		}
		return path
	}
	// The demo has its index first: its first 30% probes as 10 seconds of video.
	truncated := write("truncated.mp4", whole[:len(whole)*3/10])
	// An mp4 with its index at the end loses the index.
	indexLastWhole, err := os.ReadFile(ffmpeg("index-last-whole.mp4", "-i", demo, "-c", "copy"))
	if err != nil {
		t.Fatal(err)
	}
	indexLast := write("index-last.mp4", indexLastWhole[:len(indexLastWhole)*3/10])
	text := write("notes.txt", []byte("第一章 笔记\nnot a video at all\n"))
	audio := ffmpeg("tone.m4a", "-f", "lavfi", "-i", "sine=duration=3", "-c:a", "aac")
	missing := filepath.Join(dir, "missing.mp4")

	ing := NewIngester(e.db.Pool, e.objects, IngestConfig{Ladder: testLadder, SegmentSeconds: 2, KeyEvery: 2})
	f := func(src string, lesson int64, want string) {
		t.Helper()
		videoID := newVideoID()
		e.forget(t, videoID)
		_, err := ing.Ingest(e.ctx, src, IngestOptions{VideoID: videoID, LessonID: lesson})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Ingest(%s) = %v, want an error saying %q", filepath.Base(src), err, want)
		}
		t.Logf("Ingest(%s): %v", filepath.Base(src), err)
		if n := e.count(t, `SELECT count(*) FROM video_versions WHERE video_id = $1`, videoID); n != 0 {
			t.Errorf("Ingest(%s) left %d versions", filepath.Base(src), n)
		}
		if keys := e.keys(t, "videos/"+videoID+"/"); len(keys) != 0 {
			t.Errorf("Ingest(%s) left objects %v", filepath.Base(src), keys)
		}
		e.checkWorkDirsGone(t)
	}
	f(text, e.lesson, "notes.txt is not a video")
	f(audio, e.lesson, "tone.m4a is not a video: no video stream")
	f(truncated, e.lesson, "truncated.mp4 is truncated: it says 10.0s but only")
	f(indexLast, e.lesson, "index-last.mp4 is not a video or is truncated: ffprobe: [mov,mp4,m4a,3gp,3g2,mj2 @")
	f(missing, e.lesson, "missing.mp4: no such file or directory")
	f(demo, 1<<40, "lesson 1099511627776 not found")
	if n := e.count(t, `SELECT count(*) FROM lessons WHERE video_id IS NOT NULL`); n != 0 {
		t.Errorf("%d lessons got a video", n)
	}

	_, err = ing.Ingest(e.ctx, missing, IngestOptions{})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing source: %v, want fs.ErrNotExist", err)
	}
}

// lessonDeleter soft-deletes a lesson when the ingest says it starts uploading: the
// publish, after the uploads, then has no lesson to point at.
type lessonDeleter struct {
	e      *ingestEnv
	t      *testing.T
	lesson int64
}

func (d lessonDeleter) Write(p []byte) (int, error) {
	if bytes.HasPrefix(p, []byte("uploading ")) {
		if _, err := d.e.db.Pool.Exec(d.e.ctx, `UPDATE lessons SET deleted_at = now() WHERE id = $1`, d.lesson); err != nil {
			d.t.Errorf("delete lesson: %v", err)
		}
	}
	return len(p), nil
}

func TestIngestFailedPublishRemovesUploadedObjects(t *testing.T) {
	e := newIngestEnv(t)
	src, err := DemoSource(e.ctx, "", t.TempDir(), 4, "short")
	if err != nil {
		t.Fatal(err)
	}
	videoID := newVideoID()
	e.forget(t, videoID)
	ing := NewIngester(e.db.Pool, e.objects, IngestConfig{Ladder: testLadder[:1], SegmentSeconds: 2,
		Progress: lessonDeleter{e, t, e.lesson}})
	_, err = ing.Ingest(e.ctx, src, IngestOptions{VideoID: videoID, LessonID: e.lesson})
	if err == nil || !strings.Contains(err.Error(), "lesson") || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("Ingest for a lesson deleted during upload: %v", err)
	}
	if n := e.count(t, `SELECT count(*) FROM videos WHERE id = $1`, videoID); n != 0 {
		t.Errorf("video row left behind")
	}
	if keys := e.keys(t, "videos/"+videoID+"/"); len(keys) != 0 {
		t.Errorf("objects left behind: %v", keys)
	}
	e.checkWorkDirsGone(t)
}

// uploadGate holds every ingest that says it starts uploading until n of them have, or
// for wait at most. Ingests that chose their versions without waiting for one another
// then upload at the same moment, so a missing lock shows as a collision rather than
// depending on when each transcode happens to end.
type uploadGate struct {
	mu      sync.Mutex
	n       int
	all     chan struct{}
	wait    time.Duration
	arrived int
}

func (g *uploadGate) Write(p []byte) (int, error) {
	if bytes.HasPrefix(p, []byte("uploading ")) {
		g.mu.Lock()
		if g.arrived++; g.arrived == g.n {
			close(g.all)
		}
		g.mu.Unlock()
		select {
		case <-g.all:
		case <-time.After(g.wait):
		}
	}
	return len(p), nil
}

func TestIngestConcurrentIngestsOfOneVideoGetTheirOwnVersions(t *testing.T) {
	e := newIngestEnv(t)
	src, err := DemoSource(e.ctx, "", t.TempDir(), 4, "short")
	if err != nil {
		t.Fatal(err)
	}
	videoID := newVideoID()
	e.forget(t, videoID)
	const n = 3
	gate := &uploadGate{n: n, all: make(chan struct{}), wait: 500 * time.Millisecond}
	ing := NewIngester(e.db.Pool, e.objects, IngestConfig{Ladder: testLadder[:1], SegmentSeconds: 2, Progress: gate})
	var wg sync.WaitGroup
	versions := make([]int, n)
	for i := range versions {
		wg.Go(func() {
			res, err := ing.Ingest(e.ctx, src, IngestOptions{VideoID: videoID})
			if err != nil {
				t.Errorf("Ingest: %v", err)
				return
			}
			versions[i] = res.Version
		})
	}
	wg.Wait()
	slices.Sort(versions)
	if !slices.Equal(versions, []int{1, 2, 3}) {
		t.Fatalf("versions %v, want 1, 2, 3", versions)
	}
	if n := e.count(t, `SELECT published_version FROM videos WHERE id = $1`, videoID); n != 3 {
		t.Errorf("published version %d, want 3", n)
	}
	for _, v := range []string{"v1", "v2", "v3"} {
		if got, want := e.keys(t, "videos/"+videoID+"/"+v+"/"), wantObjects(testLadder[:1], 2); !slices.Equal(got, want) {
			t.Errorf("objects of %s: %v", v, got)
		}
	}
}

// cancelOn cancels an ingest after it prints a line starting with prefix.
type cancelOn struct {
	prefix string
	after  time.Duration
	cancel context.CancelFunc
}

func (c cancelOn) Write(p []byte) (int, error) {
	if bytes.HasPrefix(p, []byte(c.prefix)) {
		time.AfterFunc(c.after, c.cancel)
	}
	return len(p), nil
}

func TestIngestCanceledLeavesNothing(t *testing.T) {
	e := newIngestEnv(t)
	src, err := DemoSource(e.ctx, "", t.TempDir(), 4, "short")
	if err != nil {
		t.Fatal(err)
	}
	f := func(prefix string, after time.Duration) {
		t.Helper()
		ctx, cancel := context.WithCancel(e.ctx)
		defer cancel()
		videoID := newVideoID()
		e.forget(t, videoID)
		ing := NewIngester(e.db.Pool, e.objects, IngestConfig{Ladder: testLadder[:1], SegmentSeconds: 2, Progress: cancelOn{prefix, after, cancel}})
		_, err := ing.Ingest(ctx, src, IngestOptions{VideoID: videoID, LessonID: e.lesson})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("canceled at %q: %v, want context.Canceled", prefix, err)
		}
		t.Logf("canceled at %q: %v", prefix, err)
		if n := e.count(t, `SELECT count(*) FROM videos WHERE id = $1`, videoID); n != 0 {
			t.Errorf("canceled at %q: video row left behind", prefix)
		}
		if keys := e.keys(t, "videos/"+videoID+"/"); len(keys) != 0 {
			t.Errorf("canceled at %q: objects left behind: %v", prefix, keys)
		}
		e.checkWorkDirsGone(t)
	}
	f("transcoding ", 0) // ffmpeg is killed as it starts: a delay here raced a fast transcode on a busy machine
	f("uploading ", 0)   // every put fails
	checkNoLeaks(t)
}

func TestIngestGivesSilentSourceAnAudioTrack(t *testing.T) {
	e := newIngestEnv(t)
	dir := t.TempDir()
	demo, err := DemoSource(e.ctx, "", dir, 4, "short")
	if err != nil {
		t.Fatal(err)
	}
	silent := filepath.Join(dir, "silent.mp4")
	if err := runFFmpeg(e.ctx, "ffmpeg", []string{"-loglevel", "error", "-i", demo, "-c", "copy", "-an", silent}, nil); err != nil {
		t.Fatal(err)
	}
	ing := NewIngester(e.db.Pool, e.objects, IngestConfig{Ladder: testLadder[:1], SegmentSeconds: 2})
	res, err := ing.Ingest(e.ctx, silent, IngestOptions{})
	if err != nil {
		t.Fatalf("Ingest: %v", err)
	}
	e.forget(t, res.VideoID)
	var key, iv []byte
	if err := e.db.Pool.QueryRow(e.ctx, `
		SELECT k.key, k.iv FROM video_keys k JOIN video_versions vv ON vv.id = k.video_version_id
		WHERE vv.video_id = $1 AND k.key_index = 0`, res.VideoID).Scan(&key, &iv); err != nil {
		t.Fatal(err)
	}
	sealed, _ := e.get(t, ObjectPrefix(res.VideoID, 1)+"180p/"+SegmentName(1))
	if codecs, err := probeBytes(t, open(t, key, iv, sealed)); err != nil || !slices.Equal(codecs, []string{"aac", "h264"}) {
		t.Errorf("segment of a silent source: %v, %v; want aac and h264", codecs, err)
	}
}

func TestIngestLadderFlag(t *testing.T) {
	f := func(s string, want Ladder, wantErr string) {
		t.Helper()
		got, err := ParseLadder(s)
		if wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), wantErr) {
				t.Errorf("ParseLadder(%q) = %v, want an error saying %q", s, err, wantErr)
			}
			return
		}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("ParseLadder(%q) = %+v, %v; want %+v", s, got, err, want)
		}
	}
	f("360p:640x360:800k:96k,720p:1280x720:2800k:128k", DefaultLadder, "")
	f("1080p:1920x1080:5.5M:192000", Ladder{{Name: "1080p", Width: 1920, Height: 1080, VideoBitrate: 5_500_000, AudioBitrate: 192_000}}, "")
	f("", nil, "is not name:WIDTHxHEIGHT")
	f("360p:640x360:800k", nil, "is not name:WIDTHxHEIGHT")
	f("360P:640x360:800k:96k", nil, `rendition name "360P"`)
	f("360p:640:800k:96k", nil, "is not WIDTHxHEIGHT")
	f("360p:641x360:800k:96k", nil, "641x360 is not an even size")
	f("360p:640x360:fast:96k", nil, "video bitrate")
	f("360p:640x360:800k:0", nil, "audio bitrate")
	f("a:640x360:800k:96k,a:320x180:300k:64k", nil, "rendition a twice")

	// The flags, their defaults and their environment twins, as cmd/luffy parses them.
	var cli struct {
		IngestConfig `embed:""`
	}
	parser, err := kong.New(&cli, kong.Exit(func(int) { t.Fatal("kong exited") }))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parser.Parse(nil); err != nil {
		t.Fatal(err)
	}
	want := IngestConfig{Ladder: DefaultLadder, SegmentSeconds: 4, KeyEvery: 5, FFmpeg: "ffmpeg", FFprobe: "ffprobe", Uploads: 8, Preset: "veryfast"}
	if !reflect.DeepEqual(cli.IngestConfig, want) {
		t.Errorf("defaults %+v, want %+v", cli.IngestConfig, want)
	}
	var zero IngestConfig
	zero.withDefaults()
	if !reflect.DeepEqual(zero, want) {
		t.Errorf("zero config means %+v, want the flag defaults %+v", zero, want)
	}
	t.Setenv("LUFFY_KEY_EVERY", "3")
	if _, err := parser.Parse([]string{"--ladder", "1080p:1920x1080:5M:192k", "--segment-seconds", "6", "--uploads", "2"}); err != nil {
		t.Fatal(err)
	}
	if got := cli.IngestConfig; len(got.Ladder) != 1 || got.Ladder[0].Name != "1080p" || got.SegmentSeconds != 6 || got.KeyEvery != 3 || got.Uploads != 2 {
		t.Errorf("parsed %+v", got)
	}
}

func TestIngestPeakBitrateIgnoresShortLastSegment(t *testing.T) {
	seg := func(d float64, size int64) segment { return segment{duration: d, size: size} }
	f := func(segs []segment, want int) {
		t.Helper()
		if got := peakBitrate(segs); got != want {
			t.Errorf("peakBitrate = %d, want %d", got, want)
		}
	}
	// 4 s at 1 Mbit/s, 4 s at 2 Mbit/s, and one keyframe of 50 kB in 40 ms.
	f([]segment{seg(4, 500_000), seg(4, 1_000_000), seg(0.04, 50_000)}, 2_079_208)
	f([]segment{seg(4, 500_000), seg(4, 1_000_000)}, 2_000_000)
	f([]segment{seg(0.5, 100_000)}, 1_600_000)
}
