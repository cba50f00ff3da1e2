package edge

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/luffy-edu/luffy/accounts"
	"github.com/luffy-edu/luffy/catalog"
	"github.com/luffy-edu/luffy/origin"
	"github.com/luffy-edu/luffy/storage"
	"github.com/luffy-edu/luffy/storage/pgtest"
	"github.com/luffy-edu/luffy/video"
)

// A real origin with an ingested free-preview video, and an edge in front of it.
func videoStack(t *testing.T) (*Server, string) {
	t.Helper()
	ctx := context.Background()
	db := pgtest.New(t)
	if _, err := catalog.Seed(ctx, db.Pool, 2); err != nil {
		t.Fatal(err)
	}
	objects, err := storage.OpenObjects(ctx, storage.ObjectConfig{})
	if err != nil {
		t.Fatalf("%v\nstart the local stack with `make stack`", err)
	}
	var lesson int64
	if err := db.Pool.QueryRow(ctx, `SELECT id FROM lessons WHERE free_preview ORDER BY id LIMIT 1`).Scan(&lesson); err != nil {
		t.Fatal(err)
	}
	src, err := video.DemoSource(ctx, "ffmpeg", t.TempDir(), 8, "edge")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := video.NewIngester(db.Pool, objects, video.IngestConfig{SegmentSeconds: 2, KeyEvery: 2}).
		Ingest(ctx, src, video.IngestOptions{LessonID: lesson}); err != nil {
		t.Fatal(err)
	}
	oln, _ := net.Listen("tcp4", "127.0.0.1:0")
	eln, _ := net.Listen("tcp4", "127.0.0.1:0")
	o, err := origin.New(ctx, origin.Config{EdgeURL: "http://" + eln.Addr().String()}, origin.Deps{Pool: db.Pool, PGURL: db.URL, Objects: objects})
	if err != nil {
		t.Fatal(err)
	}
	o.Serve(ctx, oln)
	t.Cleanup(func() { o.Stop(context.Background()) })
	e, err := New(Config{Origins: []string{"http://" + o.Addr()}, TokenPublicKey: base64.StdEncoding.EncodeToString(o.PublicKey())})
	if err != nil {
		t.Fatal(err)
	}
	e.Serve(ctx, eln)
	t.Cleanup(func() { e.Stop(context.Background()) })

	return e, playURL(t, e, lesson)
}

func playURL(t *testing.T, e *Server, lesson int64) string {
	t.Helper()
	r, err := client.Post("http://"+e.Addr()+"/api/v1/lessons/"+itoa(int(lesson))+"/play", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var out struct{ URL string }
	if err := json.NewDecoder(r.Body).Decode(&out); err != nil || r.StatusCode != 200 {
		t.Fatalf("play through the edge: %d %v", r.StatusCode, err)
	}
	return out.URL
}

func TestVideoThroughTheEdge(t *testing.T) {
	e, url := videoStack(t)
	if !strings.HasPrefix(url, "http://"+e.Addr()+"/v/") {
		t.Fatalf("the play URL %s does not point at the edge", url)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "out.mp4")
	if msg, err := exec.Command("ffmpeg", "-v", "error", "-y", "-i", url, "-c", "copy", out).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg through the edge: %v\n%s", err, msg)
	}
	d, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", out).Output()
	if err != nil || !strings.HasPrefix(strings.TrimSpace(string(d)), "8.") && !strings.HasPrefix(strings.TrimSpace(string(d)), "7.") {
		t.Errorf("played duration %q (%v), want about 8s", d, err)
	}

	// another viewer's token: the same files come from the cache (the key drops the token)
	tok := strings.Split(strings.TrimPrefix(url, "http://"+e.Addr()+"/v/"), "/")[0]
	master := get(t, url)
	lines := strings.Fields(master.body)
	rend := strings.TrimSuffix(lines[len(lines)-1], "/index.m3u8")
	other := playURL(t, e, firstFreeLesson(t, e))
	otherTok := strings.Split(strings.TrimPrefix(other, "http://"+e.Addr()+"/v/"), "/")[0]
	if otherTok == tok {
		time.Sleep(1100 * time.Millisecond) // tokens carry second-resolution expiry
		other = playURL(t, e, firstFreeLesson(t, e))
		otherTok = strings.Split(strings.TrimPrefix(other, "http://"+e.Addr()+"/v/"), "/")[0]
	}
	seg := strings.TrimSuffix(other, "master.m3u8") + rend + "/" + video.SegmentName(0)
	e.cache.Wait()
	if r := get(t, seg); r.status != 200 || r.header.Get("Cache-Status") != "luffy-edge; hit" {
		t.Errorf("a second viewer's segment: %d %q", r.status, r.header.Get("Cache-Status"))
	}
	// keys are never stored
	key := strings.TrimSuffix(url, "master.m3u8") + rend + "/key?n=0"
	for range 2 {
		if r := get(t, key); r.status != 200 || len(r.body) != 16 || r.header.Get("Cache-Status") != "luffy-edge; fwd=bypass" {
			t.Errorf("key through the edge: %d, %d bytes, %q", r.status, len(r.body), r.header.Get("Cache-Status"))
		}
	}
	// refused at the edge, before its cache: forged token, foreign Referer, path tricks
	forged := strings.Replace(seg, otherTok, otherTok[:20]+"A"+otherTok[21:], 1)
	if forged == seg {
		forged = strings.Replace(seg, otherTok, otherTok[:20]+"B"+otherTok[21:], 1)
	}
	for name, c := range map[string]struct {
		url, referer string
		status       int
	}{
		"forged token":    {forged, "", 403},
		"foreign referer": {seg, "https://pirate.example/", 403},
		"dot segments":    {strings.Replace(seg, rend+"/", rend+"/../", 1), "", 400},
		"token bypass":    {"http://" + e.Addr() + "/x/../v/FORGED/" + strings.Split(strings.TrimPrefix(seg, "http://"+e.Addr()+"/v/"), "/")[1] + "/master.m3u8", "", 400},
	} {
		var r resp
		if c.referer != "" {
			r = get(t, c.url, "Referer", c.referer)
		} else {
			r = get(t, c.url)
		}
		if r.status != c.status {
			t.Errorf("%s: %d %s, want %d", name, r.status, r.body, c.status)
		}
	}
	if readCounter(e.metrics.prefetches) == 0 {
		t.Errorf("playing a video prefetched no segment")
	}
	if readCounter(e.metrics.refused) < 2 {
		t.Errorf("the edge did not count its refusals")
	}
}

func firstFreeLesson(t *testing.T, e *Server) int64 {
	t.Helper()
	r := get(t, "http://"+e.Addr()+"/api/v1/courses?limit=5")
	var page struct {
		Items []struct{ ID int64 } `json:"items"`
	}
	json.Unmarshal([]byte(r.body), &page)
	for _, c := range page.Items {
		var course struct {
			Chapters []struct {
				Lessons []struct {
					ID          int64   `json:"id"`
					FreePreview bool    `json:"free_preview"`
					VideoID     *string `json:"video_id"`
				} `json:"lessons"`
			} `json:"chapters"`
		}
		json.Unmarshal([]byte(get(t, "http://"+e.Addr()+"/api/v1/courses/"+itoa(int(c.ID))).body), &course)
		for _, ch := range course.Chapters {
			for _, l := range ch.Lessons {
				if l.FreePreview && l.VideoID != nil {
					return l.ID
				}
			}
		}
	}
	t.Fatal("no free-preview lesson with video in the catalog")
	return 0
}

// An admin write at the origin purges the edges it is configured with: the edge serves
// the change at once, though the old response had a minute of s-maxage left.
func TestAdminWritePurgesTheEdge(t *testing.T) {
	ctx := context.Background()
	db := pgtest.New(t)
	if _, err := catalog.Seed(ctx, db.Pool, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := accounts.NewService(db.Pool, 0).EnsureUser(ctx, "admin", "admin-password", accounts.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	objects, err := storage.OpenObjects(ctx, storage.ObjectConfig{})
	if err != nil {
		t.Fatalf("%v\nstart the local stack with `make stack`", err)
	}
	oln, _ := net.Listen("tcp4", "127.0.0.1:0")
	eln, _ := net.Listen("tcp4", "127.0.0.1:0")
	o, err := origin.New(ctx, origin.Config{EdgePurgeURLs: []string{"http://" + eln.Addr().String() + "/edge/purge"}, PurgeSecret: "fan-out"},
		origin.Deps{Pool: db.Pool, PGURL: db.URL, Objects: objects})
	if err != nil {
		t.Fatal(err)
	}
	o.Serve(ctx, oln)
	t.Cleanup(func() { o.Stop(context.Background()) })
	e, err := New(Config{Origins: []string{"http://" + o.Addr()}, PurgeSecret: "fan-out", TokenPublicKey: base64.StdEncoding.EncodeToString(o.PublicKey())})
	if err != nil {
		t.Fatal(err)
	}
	e.Serve(ctx, eln)
	t.Cleanup(func() { e.Stop(context.Background()) })

	course := "http://" + e.Addr() + "/api/v1/courses/2"
	list := "http://" + e.Addr() + "/api/v1/courses?limit=10"
	get(t, course)
	get(t, list)
	e.cache.Wait()
	if r := get(t, course); r.header.Get("Cache-Status") != "luffy-edge; hit" {
		t.Fatalf("the course is not cached at the edge: %q", r.header.Get("Cache-Status"))
	}
	r, err := client.Post("http://"+e.Addr()+"/api/v1/auth/login", "application/json", strings.NewReader(`{"username":"admin","password":"admin-password"}`))
	if err != nil {
		t.Fatal(err)
	}
	var login struct{ Token string }
	json.NewDecoder(r.Body).Decode(&login)
	r.Body.Close()
	req, _ := http.NewRequest("PATCH", "http://"+e.Addr()+"/api/v1/admin/courses/2", strings.NewReader(`{"title":"边缘节点已清除"}`))
	req.Header.Set("Authorization", "Bearer "+login.Token)
	if r, err := client.Do(req); err != nil || r.StatusCode != 200 {
		t.Fatalf("PATCH through the edge: %v %v", err, r)
	}
	deadline := time.Now().Add(2 * time.Second)
	for !strings.Contains(get(t, course).body, "边缘节点已清除") || !strings.Contains(get(t, list).body, "边缘节点已清除") {
		if time.Now().After(deadline) {
			t.Fatal("the edge still serves the old course 2s after the write")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
