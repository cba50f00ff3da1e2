package origin

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/luffy-edu/luffy/orders"
	"github.com/luffy-edu/luffy/storage"
	"github.com/luffy-edu/luffy/video"
)

// videoFixture is an origin whose catalog has an ingested video on a paid lesson and on
// a free-preview lesson of the same course.
type videoFixture struct {
	*testOrigin
	paidLesson, freeLesson, noVideoLesson, courseID int64
	videoID                                         string
	source                                          string
	ingester                                        *video.Ingester
}

const fixtureSeconds = 8

func newVideoFixture(t testing.TB) *videoFixture {
	t.Helper()
	o := newTestOrigin(t, 6)
	o.srv.cfg.EdgeURL = o.base // the origin serves /v/ itself; edges come later
	ctx := context.Background()
	f := &videoFixture{testOrigin: o}
	err := o.db.Pool.QueryRow(ctx, `
		SELECT c.id,
			(SELECT id FROM lessons WHERE course_id = c.id AND NOT free_preview ORDER BY id LIMIT 1),
			(SELECT id FROM lessons WHERE course_id = c.id AND free_preview ORDER BY id LIMIT 1),
			(SELECT id FROM lessons WHERE course_id = c.id AND NOT free_preview ORDER BY id DESC LIMIT 1)
		FROM courses c WHERE c.course_type <> 'free' ORDER BY c.id LIMIT 1`).Scan(&f.courseID, &f.paidLesson, &f.freeLesson, &f.noVideoLesson)
	if err != nil {
		t.Fatal(err)
	}
	f.source, err = video.DemoSource(ctx, "ffmpeg", t.TempDir(), fixtureSeconds, "fixture")
	if err != nil {
		t.Fatal(err)
	}
	objects, err := storage.OpenObjects(ctx, storage.ObjectConfig{})
	if err != nil {
		t.Fatal(err)
	}
	f.ingester = video.NewIngester(o.db.Pool, objects, video.IngestConfig{SegmentSeconds: 2, KeyEvery: 2})
	res, err := f.ingester.Ingest(ctx, f.source, video.IngestOptions{LessonID: f.paidLesson, Title: "fixture"})
	if err != nil {
		t.Fatalf("ingest: %v", err)
	}
	f.videoID = res.VideoID
	if _, err := o.db.Pool.Exec(ctx, `UPDATE lessons SET video_id = $1 WHERE id = $2`, f.videoID, f.freeLesson); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *videoFixture) play(t testing.TB, lesson int64, token string) (string, response) {
	t.Helper()
	r := do(t, "POST", fmt.Sprintf("%s/api/v1/lessons/%d/play", f.base, lesson), token, nil)
	var out struct {
		URL       string `json:"url"`
		ExpiresAt string `json:"expires_at"`
	}
	if r.status == 200 {
		r.json(t, &out)
		if out.URL == "" || out.ExpiresAt == "" {
			t.Fatalf("play answered %s", r.body)
		}
	}
	return out.URL, r
}

func TestPlayGrants(t *testing.T) {
	f := newVideoFixture(t)
	student := f.login(t, "student1")
	g := func(name string, lesson int64, token string, status int, code string) {
		t.Helper()
		if _, r := f.play(t, lesson, token); r.status != status || r.errorCode() != code {
			t.Errorf("%s: %d %s, want %d %s", name, r.status, r.body, status, code)
		}
	}
	g("free preview, anonymous", f.freeLesson, "", 200, "")
	g("free preview, signed in", f.freeLesson, student, 200, "")
	g("paid, anonymous", f.paidLesson, "", 401, "unauthenticated")
	g("paid, not enrolled", f.paidLesson, student, 403, "not_enrolled")
	g("paid, bad token", f.paidLesson, "forged", 401, "unauthenticated")
	g("lesson without video", f.noVideoLesson, student, 404, "no_video")
	g("unknown lesson", 99999999, student, 404, "not_found")
	if r := do(t, "POST", f.base+"/api/v1/lessons/abc/play", student, nil); r.status != 400 {
		t.Errorf("malformed lesson id: %d", r.status)
	}
	if r := do(t, "GET", fmt.Sprintf("%s/api/v1/lessons/%d/play", f.base, f.paidLesson), student, nil); r.status != 405 {
		t.Errorf("GET play: %d", r.status)
	}

	var uid int64
	f.db.Pool.QueryRow(context.Background(), `SELECT id FROM users WHERE username = 'student1'`).Scan(&uid)
	if err := orders.NewEnrollments(f.db.Pool).Grant(context.Background(), uid, f.courseID, time.Now().Add(time.Hour), "test"); err != nil {
		t.Fatal(err)
	}
	g("paid, enrolled", f.paidLesson, student, 200, "")
	if err := orders.NewEnrollments(f.db.Pool).Grant(context.Background(), uid, f.courseID, time.Now().Add(time.Hour), "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.Pool.Exec(context.Background(), `UPDATE enrollments SET expires_at = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	g("paid, enrollment expired", f.paidLesson, student, 403, "not_enrolled")
	g("paid, tutor", f.paidLesson, f.login(t, "tutor1"), 200, "")
}

// ffprobeDuration returns the duration ffprobe reads from a file.
func ffprobeDuration(t *testing.T, path string) float64 {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	d, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		t.Fatalf("ffprobe %s: %q", path, out)
	}
	return d
}

func ffmpegCopy(url, out string, extra ...string) ([]byte, error) {
	args := append([]string{"-v", "error", "-y"}, extra...)
	args = append(args, "-i", url, "-c", "copy", out)
	return exec.Command("ffmpeg", args...).CombinedOutput()
}

// A real HLS client plays the encrypted ladder through a playback URL, and cannot with a
// tampered, expired or other-video token.
func TestPlaybackWithARealClient(t *testing.T) {
	f := newVideoFixture(t)
	url, _ := f.play(t, f.freeLesson, "")
	dir := t.TempDir()
	out := filepath.Join(dir, "out.mp4")
	if msg, err := ffmpegCopy(url, out); err != nil {
		t.Fatalf("ffmpeg -i %s: %v\n%s", url, err, msg)
	}
	if got := ffprobeDuration(t, out); got < fixtureSeconds-2 || got > fixtureSeconds+2 {
		t.Errorf("played %.2fs of a %ds source (segments are 2s)", got, fixtureSeconds)
	}

	tok := strings.Split(strings.TrimPrefix(url, f.base+"/v/"), "/")[0]
	tampered := strings.Replace(url, tok, tok[:10]+string(tok[10]^1)+tok[11:], 1)
	signer := f.srv.signer
	expiredTok, _ := signer.Sign(video.Claims{VideoID: f.videoID, UserID: 0, Expires: time.Now().Add(-time.Minute)})
	otherTok, _ := signer.Sign(video.Claims{VideoID: "othervideo1", UserID: 0, Expires: time.Now().Add(time.Hour)})
	for name, u := range map[string]string{
		"tampered":    tampered,
		"expired":     strings.Replace(url, tok, expiredTok, 1),
		"other video": strings.Replace(url, tok, otherTok, 1),
	} {
		if _, err := ffmpegCopy(u, filepath.Join(dir, "bad.mp4")); err == nil {
			t.Errorf("ffmpeg played with a %s token", name)
		}
		if r := do(t, "GET", u, "", nil); r.status != 403 || r.errorCode() != "forbidden_token" {
			t.Errorf("%s token: %d %s", name, r.status, r.body)
		}
	}

	// a segment without its key does not decode
	base := strings.TrimSuffix(url, "master.m3u8")
	master := do(t, "GET", url, "", nil)
	media := strings.Fields(string(master.body))
	rend := strings.TrimSuffix(media[len(media)-1], "/index.m3u8")
	seg := do(t, "GET", base+rend+"/"+video.SegmentName(0), "", nil)
	if seg.status != 200 || len(seg.body) < 1000 {
		t.Fatalf("segment: %d, %d bytes", seg.status, len(seg.body))
	}
	segFile := filepath.Join(dir, "seg.ts")
	os.WriteFile(segFile, seg.body, 0o644)
	// ffprobe guesses a format for any bytes now and then; what must not happen is that
	// it finds the H.264 video and AAC audio that the segment holds
	if out, _ := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0", segFile).Output(); strings.Contains(string(out), "h264") || strings.Contains(string(out), "aac") {
		t.Errorf("an encrypted segment decoded without its key: %s", out)
	}
}

func TestVideoRequestChecks(t *testing.T) {
	f := newVideoFixture(t)
	url, _ := f.play(t, f.freeLesson, "")
	base := strings.TrimSuffix(url, "master.m3u8")
	master := do(t, "GET", url, "", nil)
	lines := strings.Fields(string(master.body))
	rend := strings.TrimSuffix(lines[len(lines)-1], "/index.m3u8")
	seg0 := base + rend + "/" + video.SegmentName(0)

	h := func(name, u string, status int, header ...string) response {
		t.Helper()
		r := do(t, "GET", u, "", nil, header...)
		if r.status != status {
			t.Errorf("%s: %d %s, want %d", name, r.status, r.body[:min(len(r.body), 200)], status)
		}
		return r
	}
	// hotlink protection
	h("own site", url, 200, "Referer", "https://www.luffycity.com/course/1")
	h("no Referer", url, 200)
	h("foreign site", url, 403, "Referer", "https://pirate.example/embed")
	// unknown files and path tricks
	h("unknown segment", base+rend+"/seg-99999.ts", 404)
	h("unknown version", base+"v9-720p/index.m3u8", 404)
	h("dot segments", base+rend+"/../../master.m3u8", 404)
	h("encoded slash", base+rend+"%2Fseg-00000.ts", 404)
	h("key without index", base+rend+"/key", 404)
	h("key out of range", base+rend+"/key?n=999", 404)

	// caching headers: keys are private, published files immutable
	key := h("key", base+rend+"/key?n=0", 200)
	if len(key.body) != 16 || key.header.Get("Cache-Control") != "private, no-store" {
		t.Errorf("key: %d bytes, Cache-Control %q", len(key.body), key.header.Get("Cache-Control"))
	}
	media := h("media playlist", base+rend+"/index.m3u8", 200)
	if !strings.Contains(media.header.Get("Cache-Control"), "immutable") || !strings.Contains(string(media.body), `URI="key?n=0"`) {
		t.Errorf("media playlist: %q\n%s", media.header.Get("Cache-Control"), media.body)
	}

	// ranges, cold (streamed from MinIO) and hot (from memory) alike
	full := h("segment", seg0, 200)
	for i := 0; i < 3; i++ {
		r := h("range", seg0, 206, "Range", "bytes=100-199")
		if string(r.body) != string(full.body[100:200]) || r.header.Get("Content-Range") != fmt.Sprintf("bytes 100-199/%d", len(full.body)) {
			t.Errorf("range read %d: %d bytes, Content-Range %q", i, len(r.body), r.header.Get("Content-Range"))
		}
		r = h("suffix range", seg0, 206, "Range", "bytes=-10")
		if string(r.body) != string(full.body[len(full.body)-10:]) {
			t.Errorf("suffix range read %d differs", i)
		}
		h("range past the end", seg0, 416, "Range", fmt.Sprintf("bytes=%d-", len(full.body)))
	}
}

// Re-ingesting publishes a new version at once for new viewers, while a viewer in the
// middle of the old one keeps getting the old one's playlists and segments.
func TestRepublishIsAtomic(t *testing.T) {
	f := newVideoFixture(t)
	url, _ := f.play(t, f.freeLesson, "")
	base := strings.TrimSuffix(url, "master.m3u8")
	oldMaster := string(do(t, "GET", url, "", nil).body)
	if !strings.Contains(oldMaster, "v1-") {
		t.Fatalf("first master is not version 1:\n%s", oldMaster)
	}
	if _, err := f.ingester.Ingest(context.Background(), f.source, video.IngestOptions{LessonID: f.paidLesson}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(string(do(t, "GET", url, "", nil).body), "v2-") {
		if time.Now().After(deadline) {
			t.Fatal("the master playlist did not move to version 2 within 5s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	lines := strings.Fields(oldMaster)
	oldRend := strings.TrimSuffix(lines[len(lines)-1], "/index.m3u8")
	if r := do(t, "GET", base+oldRend+"/index.m3u8", "", nil); r.status != 200 {
		t.Errorf("the old version's playlist is gone: %d", r.status)
	}
	if r := do(t, "GET", base+oldRend+"/"+video.SegmentName(1), "", nil); r.status != 200 {
		t.Errorf("the old version's segment is gone: %d", r.status)
	}
}
