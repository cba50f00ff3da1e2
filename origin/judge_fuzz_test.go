package origin

import (
	"context"
	"encoding/json"
	"net"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/luffy-edu/luffy/judge/demo"
)

// FuzzJudgeRequest drives the judge's routes signed in as nobody, a student or an admin,
// with arbitrary methods, paths and bodies: never a 5xx, always the JSON error shape.
func FuzzJudgeRequest(f *testing.F) {
	o := newTestOrigin(f, 1)
	if _, err := demo.Seed(context.Background(), o.srv.judge); err != nil {
		f.Fatal(err)
	}
	tokens := []string{"", o.login(f, "student1"), o.login(f, "admin")}
	h := o.srv.Handler()
	for _, seed := range []struct {
		who          uint8
		method, path string
		body         string
	}{
		{0, "GET", "/api/v1/problems", ""},
		{0, "GET", "/api/v1/problems/a-plus-b", ""},
		{0, "GET", "/api/v1/problems/1", ""},
		{1, "POST", "/api/v1/submissions", `{"problem":"a-plus-b","language":"c","source":"int main(){}"}`},
		{1, "POST", "/api/v1/submissions", `{"problem":1,"language":"python3","source":"print(1)"}`},
		{1, "POST", "/api/v1/submissions", `{"problem":1.5,"language":["c"],"source":null}`},
		{1, "GET", "/api/v1/submissions/1", ""},
		{1, "GET", "/api/v1/submissions/1/events", ""},
		{1, "GET", "/api/v1/submissions", "cursor=abc"},
		{1, "GET", "/api/v1/me/wrong-book", ""},
		{2, "POST", "/api/v1/admin/problems", `{"slug":"x","title":"X","time_limit_ms":1000,"memory_limit_mb":64,"checker":"token"}`},
		{2, "POST", "/api/v1/admin/problems", `{"slug":"y","title":"Y","time_limit_ms":1000,"memory_limit_mb":64,"checker":"custom","subtasks":[{"name":"a","points":100,"tests":["1"]}]}`},
		{2, "PUT", "/api/v1/admin/problems/1/tests", "PK\x03\x04garbage"},
		// the commerce and learning routes share the harness
		{1, "POST", "/api/v1/cart/items", `{"course_id":1,"price_policy_id":1}`},
		{1, "POST", "/api/v1/orders", `{"items":[{"course_id":1,"price_policy_id":1}],"coupon_code":"X","points":-5}`},
		{1, "POST", "/api/v1/orders/1/cancel", ""},
		{0, "POST", "/api/v1/payments/callback", `{"event_id":"e","order_number":"n","amount_fen":1,"status":"paid"}`},
		{1, "POST", "/api/v1/points/redeem", `{"coupon_id":1,"client_id":"c"}`},
		{1, "GET", "/api/v1/points/ledger", ""},
		{1, "POST", "/api/v1/notifications/1/read", ""},
		{1, "POST", "/api/v1/homework/1/submissions", `{"text":"x"}`},
		{1, "POST", "/api/v1/questions", `{"lesson_id":1,"title":"t","body":"b"}`},
		{2, "POST", "/api/v1/tutor/submissions/1/grade", `{"score":50,"rubric":[{"criterion":"a","points":3,"max":2}]}`},
		{2, "POST", "/api/v1/admin/coupons", `{"code":"SAVE10","kind":"fixed","amount_fen":1000,"valid_until":"2030-01-01T00:00:00Z"}`},
		{2, "POST", "/api/v1/admin/orders/1/refund", `{"reason":"r"}`},
		{1, "GET", "/api/v1/homework/files/1", ""},
		{2, "PATCH", "/api/v1/admin/coupons/1", `{"status":"disabled"}`},
		{1, "GET", "/api/v1/coupons/mine", ""},
	} {
		f.Add(seed.who, seed.method, seed.path, []byte(seed.body))
	}
	f.Fuzz(func(t *testing.T, who uint8, method, path string, body []byte) {
		var req fasthttp.Request
		req.Header.SetMethod(method)
		req.SetRequestURI(path)
		if tok := tokens[int(who)%len(tokens)]; tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		req.SetBody(body)
		// A real connection: an event stream sets write deadlines on it.
		c1, c2 := net.Pipe()
		defer c1.Close()
		defer c2.Close()
		var ctx fasthttp.RequestCtx
		ctx.Init2(c1, nil, false)
		req.CopyTo(&ctx.Request)
		h(&ctx)
		ctx.Response.CloseBodyStream() // ends an event stream's writer
		status := ctx.Response.StatusCode()
		if status >= 500 {
			t.Fatalf("%s %s %q: %d %s", method, path, body, status, ctx.Response.Body())
		}
		if status >= 400 {
			var e struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if err := json.Unmarshal(ctx.Response.Body(), &e); err != nil || e.Error.Code == "" {
				t.Fatalf("%s %s: %d with a body that is not a JSON error: %q", method, path, status, ctx.Response.Body())
			}
		}
	})
}
