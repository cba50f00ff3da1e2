package origin

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/luffy-edu/luffy/accounts"
	"github.com/luffy-edu/luffy/catalog"
	"github.com/luffy-edu/luffy/storage"
	"github.com/luffy-edu/luffy/storage/pgtest"
)

const testPassword = "test-password-1"

type testOrigin struct {
	srv  *Server
	base string
	db   *pgtest.DB
}

// newTestOrigin starts an origin on a random loopback port over a fresh database seeded
// with n courses and the accounts admin, tutor1 and student1.
func newTestOrigin(t testing.TB, n int) *testOrigin {
	t.Helper()
	db := pgtest.New(t)
	ctx := context.Background()
	if _, err := catalog.Seed(ctx, db.Pool, n); err != nil {
		t.Fatalf("seed: %v", err)
	}
	svc := accounts.NewService(db.Pool, 0)
	for name, role := range map[string]accounts.Role{"admin": accounts.RoleAdmin, "tutor1": accounts.RoleTutor, "student1": accounts.RoleStudent} {
		if _, err := svc.EnsureUser(ctx, name, testPassword, role); err != nil {
			t.Fatal(err)
		}
	}
	return startOrigin(t, db, Config{})
}

func startOrigin(t testing.TB, db *pgtest.DB, cfg Config) *testOrigin {
	t.Helper()
	objects, err := storage.OpenObjects(context.Background(), storage.ObjectConfig{})
	if err != nil {
		t.Fatalf("%v\nstart the local stack with `make stack`", err)
	}
	srv, err := New(context.Background(), cfg, Deps{Pool: db.Pool, PGURL: db.URL, Objects: objects})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(context.Background(), ln); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Stop(ctx)
	})
	o := &testOrigin{srv: srv, base: "http://" + ln.Addr().String(), db: db}
	o.waitLive(t)
	return o
}

// waitLive waits until the change listener is connected, so the cache is in use.
func (o *testOrigin) waitLive(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !o.srv.cache.live.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the catalog change listener did not connect within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var client = &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 64}, Timeout: 10 * time.Second}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// errorCode returns the error.code of a JSON error body, or "" when it is not one.
func (r response) errorCode() string {
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if json.Unmarshal(r.body, &e) != nil {
		return ""
	}
	return e.Error.Code
}

func do(t testing.TB, method, url, token string, body any, headers ...string) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (o *testOrigin) login(t testing.TB, user string) string {
	t.Helper()
	r := do(t, "POST", o.base+"/api/v1/auth/login", "", map[string]string{"username": user, "password": testPassword})
	if r.status != 200 {
		t.Fatalf("login %s: %d %s", user, r.status, r.body)
	}
	var out struct{ Token string }
	r.json(t, &out)
	return out.Token
}

// allCourseIDs walks every page of a list with the given query and page size.
func (o *testOrigin) allCourseIDs(t testing.TB, query string, limit int) []int64 {
	t.Helper()
	var ids []int64
	cursor := ""
	for pages := 0; pages < 10000; pages++ {
		url := o.base + "/api/v1/courses?limit=" + itoa(int64(limit)) + query
		if cursor != "" {
			url += "&cursor=" + cursor
		}
		r := do(t, "GET", url, "", nil)
		if r.status != 200 {
			t.Fatalf("GET %s: %d %s", url, r.status, r.body)
		}
		var page struct {
			Items []struct {
				ID int64 `json:"id"`
			} `json:"items"`
			NextCursor *string `json:"next_cursor"`
		}
		r.json(t, &page)
		for _, c := range page.Items {
			ids = append(ids, c.ID)
		}
		if page.NextCursor == nil {
			return ids
		}
		cursor = *page.NextCursor
	}
	t.Fatal("pagination did not end")
	return nil
}

var netDialer = net.Dialer{Timeout: time.Second}
