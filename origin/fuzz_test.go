package origin

import (
	"encoding/json"
	"testing"

	"github.com/valyala/fasthttp"
)

// FuzzRequest drives the real handler (over a real, seeded Postgres) with arbitrary
// methods, paths, query strings and bodies: whatever a client sends, the answer is never
// a 5xx, and every error is the JSON error shape.
func FuzzRequest(f *testing.F) {
	o := newTestOrigin(f, 5)
	h := o.srv.Handler()
	for _, seed := range [][4]string{
		{"GET", "/api/v1/courses", "limit=5&category=1&type=free", ""},
		{"GET", "/api/v1/courses/1", "", ""},
		{"GET", "/api/v1/courses/", "cursor=djEuMTAuMQ", ""},
		{"GET", "/api/v1/categories", "x=%zz", ""},
		{"POST", "/api/v1/auth/login", "", `{"username":"admin","password":"x"}`},
		{"POST", "/api/v1/auth/register", "", `{"username":"a","password":1}`},
		{"PATCH", "/api/v1/admin/courses/1", "", `{"title":"t"}`},
		{"DELETE", "/api/v1/admin/courses/%2e%2e", "", ""},
		{"GET", "/api/v1/courses/9223372036854775807", "", ""},
		{"GET", "/v/AAAA/abc123def456/master.m3u8", "", ""},
		{"GET", "/v/AAAA/abc123def456/v1-720p/seg-00001.ts", "", ""},
		{"GET", "/v/AAAA/abc123def456/v1-720p/key", "n=0", ""},
		{"POST", "/api/v1/lessons/1/play", "", ""},
	} {
		f.Add(seed[0], seed[1], seed[2], []byte(seed[3]))
	}
	f.Fuzz(func(t *testing.T, method, path, query string, body []byte) {
		var req fasthttp.Request
		req.Header.SetMethod(method)
		req.SetRequestURI(path + "?" + query)
		req.SetBody(body)
		var ctx fasthttp.RequestCtx
		ctx.Init(&req, nil, nil)
		h(&ctx)
		status := ctx.Response.StatusCode()
		if status >= 500 {
			t.Fatalf("%s %s?%s %q: %d %s", method, path, query, body, status, ctx.Response.Body())
		}
		if status >= 400 {
			var e struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if err := json.Unmarshal(ctx.Response.Body(), &e); err != nil || e.Error.Code == "" {
				t.Fatalf("%s %s?%s: %d with a body that is not a JSON error: %q", method, path, query, status, ctx.Response.Body())
			}
		}
	})
}
