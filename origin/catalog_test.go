package origin

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/luffy-edu/luffy/catalog"
)

func TestCatalogShapes(t *testing.T) {
	o := newTestOrigin(t, 40)

	r := do(t, "GET", o.base+"/api/v1/categories", "", nil)
	var tree struct {
		Items []catalog.Direction `json:"items"`
	}
	r.json(t, &tree)
	cats := 0
	for _, d := range tree.Items {
		cats += len(d.Categories)
	}
	if r.status != 200 || len(tree.Items) < 3 || cats < 10 {
		t.Fatalf("categories: %d, %d directions, %d categories", r.status, len(tree.Items), cats)
	}
	if got := r.header.Get("Surrogate-Key"); !strings.HasPrefix(got, "categories ") {
		t.Errorf("Surrogate-Key = %q", got)
	}
	cc := r.header.Get("Cache-Control")
	for _, want := range []string{"public", "max-age=", "s-maxage=", "stale-while-revalidate=", "stale-if-error="} {
		if !strings.Contains(cc, want) {
			t.Errorf("Cache-Control %q lacks %s", cc, want)
		}
	}

	r = do(t, "GET", o.base+"/api/v1/courses?limit=5", "", nil)
	var page catalog.Page
	r.json(t, &page)
	if len(page.Items) != 5 || page.NextCursor == nil {
		t.Fatalf("list: %d items, cursor %v", len(page.Items), page.NextCursor)
	}
	if sk := r.header.Get("Surrogate-Key"); !strings.Contains(sk, fmt.Sprintf("course-%d", page.Items[0].ID)) {
		t.Errorf("list Surrogate-Key %q does not name its courses", sk)
	}

	r = do(t, "GET", fmt.Sprintf("%s/api/v1/courses/%d", o.base, page.Items[0].ID), "", nil)
	var c catalog.Course
	r.json(t, &c)
	if r.status != 200 || len(c.Chapters) == 0 || len(c.Chapters[0].Lessons) == 0 || c.Category.ID == 0 {
		t.Fatalf("course: %d %+v", r.status, c)
	}
	if !c.Chapters[0].Lessons[0].FreePreview {
		t.Errorf("the first lesson of a course should be a free preview")
	}
	want := fmt.Sprintf("course-%d category-%d direction-%d", c.ID, c.Category.ID, c.Direction.ID)
	if got := r.header.Get("Surrogate-Key"); got != want {
		t.Errorf("Surrogate-Key = %q, want %q", got, want)
	}

	// a category filter by direction covers its categories; a type filter holds
	dir := tree.Items[0]
	for _, id := range o.allCourseIDs(t, fmt.Sprintf("&category=%d&type=light", dir.ID), 50) {
		var c catalog.Course
		do(t, "GET", fmt.Sprintf("%s/api/v1/courses/%d", o.base, id), "", nil).json(t, &c)
		if c.Direction.ID != dir.ID || c.Type != catalog.TypeLight {
			t.Errorf("course %d (direction %d, type %s) listed under direction %d, type light", id, c.Direction.ID, c.Type, dir.ID)
		}
	}
}

func TestETagAndNotModified(t *testing.T) {
	o := newTestOrigin(t, 5)
	url := o.base + "/api/v1/courses?limit=3"
	first := do(t, "GET", url, "", nil)
	etag := first.header.Get("ETag")
	if first.status != 200 || etag == "" {
		t.Fatalf("first GET: %d, ETag %q", first.status, etag)
	}
	f := func(inm string, want int) {
		t.Helper()
		if r := do(t, "GET", url, "", nil, "If-None-Match", inm); r.status != want {
			t.Errorf("If-None-Match %q: status %d, want %d", inm, r.status, want)
		}
	}
	f(etag, 304)
	f(`"nope", `+etag, 304)
	f("W/"+etag, 304)
	f("*", 304)
	f(`"nope"`, 200)

	gz := do(t, "GET", url, "", nil, "Accept-Encoding", "gzip, br")
	if gz.header.Get("Content-Encoding") != "gzip" || gz.header.Get("ETag") == etag {
		t.Errorf("gzip response: encoding %q, etag %q (identity %q)", gz.header.Get("Content-Encoding"), gz.header.Get("ETag"), etag)
	}
	if r := do(t, "GET", url, "", nil, "Accept-Encoding", "gzip;q=0"); r.header.Get("Content-Encoding") != "" {
		t.Errorf("gzip;q=0 got Content-Encoding %q", r.header.Get("Content-Encoding"))
	}
	if r := do(t, "GET", url, "", nil); r.header.Get("Cache-Status") != "luffy-origin; hit" {
		t.Errorf("repeat GET Cache-Status = %q", r.header.Get("Cache-Status"))
	}

	// a change makes a new ETag, and the old one no longer matches
	admin := o.login(t, "admin")
	var page catalog.Page
	first.json(t, &page)
	if r := do(t, "PATCH", fmt.Sprintf("%s/api/v1/admin/courses/%d", o.base, page.Items[0].ID), admin, map[string]string{"title": "改过的标题"}); r.status != 200 {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	f(etag, 200)
}

func TestPaginationStableUnderInserts(t *testing.T) {
	o := newTestOrigin(t, 120)
	before := o.allCourseIDs(t, "", 100)
	admin := o.login(t, "admin")
	var catID int64
	if err := o.db.Pool.QueryRow(context.Background(), `SELECT id FROM categories WHERE level = 2 LIMIT 1`).Scan(&catID); err != nil {
		t.Fatal(err)
	}

	stop := make(chan struct{})
	var inserted atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			// anywhere in the order, including before the pages already read
			in := catalog.CourseInput{Slug: fmt.Sprintf("inserted-%d", i), Title: "并发插入的课程", Type: catalog.TypeLight,
				CategoryID: catID, SortCode: int32(rand.IntN(1300))}
			if r := do(t, "POST", o.base+"/api/v1/admin/courses", admin, in); r.status != 201 {
				t.Errorf("insert: %d %s", r.status, r.body)
				return
			}
			inserted.Add(1)
		}
	}()
	var walked []int64
	for range 3 {
		walked = o.allCourseIDs(t, "", 7)
		seen := map[int64]bool{}
		for _, id := range walked {
			if seen[id] {
				t.Fatalf("course %d listed twice in one walk", id)
			}
			seen[id] = true
		}
		for _, id := range before {
			if !seen[id] {
				t.Fatalf("course %d, present before the walk, was skipped", id)
			}
		}
	}
	close(stop)
	wg.Wait()
	if inserted.Load() == 0 {
		t.Fatal("no course was inserted during the walks")
	}
	t.Logf("%d courses inserted during 3 walks; the last walk saw %d courses", inserted.Load(), len(walked))
}

func TestSoftDeletedNeverListed(t *testing.T) {
	o := newTestOrigin(t, 30)
	admin := o.login(t, "admin")
	ids := o.allCourseIDs(t, "", 100)
	victim := ids[len(ids)/2]
	detail := fmt.Sprintf("%s/api/v1/courses/%d", o.base, victim)
	if r := do(t, "GET", detail, "", nil); r.status != 200 { // now cached
		t.Fatalf("detail before delete: %d", r.status)
	}
	if r := do(t, "DELETE", fmt.Sprintf("%s/api/v1/admin/courses/%d", o.base, victim), admin, nil); r.status != 200 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if r := do(t, "GET", detail, "", nil); r.status != 404 || r.errorCode() != "not_found" {
		t.Errorf("detail after delete: %d %s", r.status, r.body)
	}
	for _, limit := range []int{1, 7, 100} {
		if slices.Contains(o.allCourseIDs(t, "", limit), victim) {
			t.Errorf("deleted course %d listed (limit %d)", victim, limit)
		}
	}
	if r := do(t, "DELETE", fmt.Sprintf("%s/api/v1/admin/courses/%d", o.base, victim), admin, nil); r.status != 404 {
		t.Errorf("deleting twice: %d", r.status)
	}
}

func TestAdminOnlyWrites(t *testing.T) {
	o := newTestOrigin(t, 3)
	student, tutor, admin := o.login(t, "student1"), o.login(t, "tutor1"), o.login(t, "admin")
	var catID int64
	if err := o.db.Pool.QueryRow(context.Background(), `SELECT id FROM categories WHERE level = 2 LIMIT 1`).Scan(&catID); err != nil {
		t.Fatal(err)
	}
	course := map[string]any{"slug": "new-course", "title": "新课程", "type": "practical", "category_id": catID,
		"price_policies": []map[string]any{{"title": "永久", "price_fen": 9900, "original_price_fen": 19900}}}
	f := func(token string, wantStatus int, wantCode string) {
		t.Helper()
		r := do(t, "POST", o.base+"/api/v1/admin/courses", token, course)
		if r.status != wantStatus || (wantCode != "" && r.errorCode() != wantCode) {
			t.Errorf("create as %q: %d %s, want %d %s", token, r.status, r.body, wantStatus, wantCode)
		}
	}
	f("", 401, "unauthenticated")
	f("not-a-token", 401, "unauthenticated")
	f(student, 403, "forbidden")
	f(tutor, 403, "forbidden")
	f(admin, 201, "")
	f(admin, 409, "conflict") // same slug

	// a revoked token no longer works
	if r := do(t, "POST", o.base+"/api/v1/auth/logout", admin, nil); r.status != 200 {
		t.Fatalf("logout: %d", r.status)
	}
	f(admin, 401, "unauthenticated")

	admin = o.login(t, "admin")
	for _, tc := range []struct {
		method, path, body string
		status             int
		code               string
	}{
		{"POST", "/api/v1/admin/courses", `{"title": 5}`, 400, "invalid_title"},
		{"POST", "/api/v1/admin/courses", `{"title": "x"`, 400, "malformed_json"},
		{"POST", "/api/v1/admin/courses", `{"titel": "x"}`, 400, "malformed_json"},
		{"POST", "/api/v1/admin/courses", `{} {}`, 400, "malformed_json"},
		{"POST", "/api/v1/admin/courses", ``, 400, "malformed_json"},
		{"POST", "/api/v1/admin/courses", `{"slug":"ok","title":"t","type":"vip","category_id":1}`, 400, "invalid_type"},
		{"POST", "/api/v1/admin/courses", fmt.Sprintf(`{"slug":"ok","title":"t","type":"free","category_id":%d,"sort_code":99999999999}`, catID), 400, "invalid_sort_code"},
		{"POST", "/api/v1/admin/courses", `{"slug":"ok","title":"t","type":"free","category_id":999999}`, 400, "invalid_category_id"},
		{"POST", "/api/v1/admin/courses", `{"slug":"ok","title":"` + strings.Repeat("长", 201) + `","type":"free","category_id":1}`, 400, "invalid_title"},
		{"POST", "/api/v1/admin/courses", `{"slug":"` + strings.Repeat("a", 70000) + `"}`, 413, "body_too_large"},
		{"PATCH", "/api/v1/admin/courses/abc", `{}`, 400, "invalid_id"},
		{"PATCH", "/api/v1/admin/courses/999999", `{"title":"x"}`, 404, "not_found"},
		{"PUT", "/api/v1/admin/courses/1", `{}`, 405, "method_not_allowed"},
		{"POST", "/api/v1/admin/courses/reorder", `{"items":[]}`, 400, "invalid_items"},
		{"POST", "/api/v1/admin/courses/reorder", `{"items":[{"id":999999,"sort_code":1}]}`, 404, "not_found"},
	} {
		r := do(t, tc.method, o.base+tc.path, admin, tc.body)
		if r.status != tc.status || r.errorCode() != tc.code {
			t.Errorf("%s %s %.60s: %d %s, want %d %s", tc.method, tc.path, tc.body, r.status, r.body, tc.status, tc.code)
		}
	}
}

func TestReorderChangesListOrder(t *testing.T) {
	o := newTestOrigin(t, 10)
	admin := o.login(t, "admin")
	ids := o.allCourseIDs(t, "", 100)
	last := ids[len(ids)-1]
	r := do(t, "POST", o.base+"/api/v1/admin/courses/reorder", admin, map[string]any{"items": []map[string]any{{"id": last, "sort_code": -5}}})
	if r.status != 200 {
		t.Fatalf("reorder: %d %s", r.status, r.body)
	}
	if got := o.allCourseIDs(t, "", 100); got[0] != last {
		t.Errorf("after reorder the first course is %d, want %d", got[0], last)
	}
}

func TestBadQueriesAnswer4xxJSON(t *testing.T) {
	o := newTestOrigin(t, 3)
	f := func(path string, status int, code string) {
		t.Helper()
		r := do(t, "GET", o.base+path, "", nil)
		if r.status != status || r.errorCode() != code || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
			t.Errorf("GET %s: %d %s (%s), want %d %s", path, r.status, r.body, r.header.Get("Content-Type"), status, code)
		}
	}
	f("/api/v1/courses/999999", 404, "not_found")
	f("/api/v1/courses/0", 400, "invalid_id")
	f("/api/v1/courses/-1", 400, "invalid_id")
	f("/api/v1/courses/1e3", 400, "invalid_id")
	f("/api/v1/courses/99999999999999999999999", 400, "invalid_id")
	f("/api/v1/courses/12abc", 400, "invalid_id")
	f("/api/v1/courses?limit=0", 400, "invalid_limit")
	f("/api/v1/courses?limit=-3", 400, "invalid_limit")
	f("/api/v1/courses?limit=ten", 400, "invalid_limit")
	f("/api/v1/courses?cursor=garbage", 400, "invalid_cursor")
	f("/api/v1/courses?cursor=djEuMS4x%00", 400, "invalid_cursor")
	f("/api/v1/courses?category=abc", 400, "invalid_category")
	f("/api/v1/courses?category=999999", 404, "not_found")
	f("/api/v1/courses?type=vip", 400, "invalid_type")
	f("/api/v1/nothing", 404, "not_found")

	var page catalog.Page
	do(t, "GET", o.base+"/api/v1/courses?limit=100000", "", nil).json(t, &page)
	if len(page.Items) != 3 {
		t.Errorf("a huge limit is capped, not refused: %d items", len(page.Items))
	}
}

func TestReadyAndHealth(t *testing.T) {
	o := newTestOrigin(t, 1)
	for _, p := range []string{"/healthz", "/readyz"} {
		if r := do(t, "GET", o.base+p, "", nil); r.status != 200 {
			t.Errorf("%s: %d", p, r.status)
		}
	}
	do(t, "GET", o.base+"/api/v1/categories", "", nil)
	m := do(t, "GET", o.base+"/metrics", "", nil)
	for _, want := range []string{
		`luffy_http_requests_total{route="categories",service="origin",status="200"} 1`,
		"luffy_origin_cache_misses_total", "luffy_origin_cache_bytes", "luffy_origin_cache_evictions_total",
		"luffy_pg_pool_acquired_conns", "luffy_http_request_duration_seconds_bucket", "luffy_origin_invalidation_listener_up 1",
	} {
		if !strings.Contains(string(m.body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestGracefulShutdown(t *testing.T) {
	o := newTestOrigin(t, 1)
	// a request in flight when Stop begins: hold a connection open mid-request
	conn, err := (&netDialer).Dial("tcp", strings.TrimPrefix(o.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET /api/v1/categories HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		stopped <- o.srv.Stop(ctx)
	}()
	time.Sleep(100 * time.Millisecond)
	if _, err := (&netDialer).Dial("tcp", strings.TrimPrefix(o.base, "http://")); err == nil {
		t.Error("a new connection was accepted after Stop began")
	}
	// finish the in-flight request: it is answered in full
	if _, err := conn.Write([]byte("\r\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _ := conn.Read(buf)
	if !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 200") {
		t.Errorf("in-flight request got %q", buf[:min(n, 80)])
	}
	if err := <-stopped; err != nil {
		t.Errorf("Stop: %v", err)
	}
}

// When the LISTEN connection drops, the cache is bypassed (a change made meanwhile is
// served at once), and the listener reconnects and the cache is used again.
func TestListenerReconnectsAndFlushes(t *testing.T) {
	o := newTestOrigin(t, 5)
	ctx := context.Background()
	url := o.base + "/api/v1/courses/2"
	do(t, "GET", url, "", nil)
	o.srv.cache.c.Wait()
	if r := do(t, "GET", url, "", nil); r.header.Get("Cache-Status") != "luffy-origin; hit" {
		t.Fatalf("not cached before the drop: %q", r.header.Get("Cache-Status"))
	}

	var killed int
	err := o.db.Pool.QueryRow(ctx, `
		SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN catalog_changed%'`).Scan(&killed)
	if err != nil || killed != 1 {
		t.Fatalf("terminate the listener: %v, %d backends", err, killed)
	}
	deadline := time.Now().Add(2 * time.Second)
	for o.srv.cache.live.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the origin did not notice its listener was gone")
		}
		time.Sleep(time.Millisecond)
	}
	// a change the origin cannot hear about: with the cache bypassed it is served at once
	if _, err := o.db.Pool.Exec(ctx, `UPDATE courses SET title = '断线期间的修改' WHERE id = 2`); err != nil {
		t.Fatal(err)
	}
	var c catalog.Course
	do(t, "GET", url, "", nil).json(t, &c)
	if c.Title != "断线期间的修改" && o.srv.cache.live.Load() == false {
		t.Errorf("while disconnected the origin served a stale title %q", c.Title)
	}
	o.waitLive(t)
	do(t, "GET", url, "", nil).json(t, &c)
	if c.Title != "断线期间的修改" {
		t.Errorf("after reconnecting the origin serves %q", c.Title)
	}
	do(t, "GET", url, "", nil)
	o.srv.cache.c.Wait()
	if r := do(t, "GET", url, "", nil); r.header.Get("Cache-Status") != "luffy-origin; hit" {
		t.Errorf("the cache is not used again after reconnecting: %q", r.header.Get("Cache-Status"))
	}
}
