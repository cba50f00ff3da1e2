package origin

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/luffy-edu/luffy/accounts"
	"github.com/luffy-edu/luffy/catalog"
	"github.com/luffy-edu/luffy/storage/pgtest"
)

// TestFeatureSwitchesAcrossOrigins: an admin switches features off on one origin; the
// other, sharing the database, answers 503 JSON on each switched route within a second
// or two, shows it in /metrics, and serves again once switched back on.
func TestFeatureSwitchesAcrossOrigins(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	if _, err := catalog.Seed(ctx, db.Pool, 3); err != nil {
		t.Fatal(err)
	}
	svc := accounts.NewService(db.Pool, 0)
	for name, role := range map[string]accounts.Role{"admin": accounts.RoleAdmin, "student1": accounts.RoleStudent} {
		if _, err := svc.EnsureUser(ctx, name, testPassword, role); err != nil {
			t.Fatal(err)
		}
	}
	a, b := startOrigin(t, db, Config{}), startOrigin(t, db, Config{})
	admin, student := a.login(t, "admin"), b.login(t, "student1")

	switched := []struct{ feature, method, path, body string }{
		{"orders", "POST", "/api/v1/orders", `{"items":[{"course_id":1,"price_policy_id":1}]}`},
		{"judge", "POST", "/api/v1/submissions", `{"problem":"a-plus-b","language":"python3","source":"print(1)"}`},
		{"playback", "POST", "/api/v1/lessons/1/play", ``},
		{"homework_uploads", "POST", "/api/v1/homework/1/submissions", `{"text":"x"}`},
	}
	call := func(o *testOrigin, method, path, body string) response {
		return do(t, method, o.base+path, student, body, "Idempotency-Key", "k-"+time.Now().Format(time.RFC3339Nano), "Content-Type", "application/json")
	}
	for _, c := range switched {
		if r := call(b, c.method, c.path, c.body); r.status == 503 {
			t.Fatalf("%s %s answers 503 with every switch on: %s", c.method, c.path, r.body)
		}
	}

	if r := do(t, "PUT", a.base+"/api/v1/admin/features/orders", student, map[string]any{"enabled": false}); r.status != 403 {
		t.Errorf("a student switches orders off: %d", r.status)
	}
	if r := do(t, "PUT", a.base+"/api/v1/admin/features/coffee", admin, map[string]any{"enabled": false}); r.status != 404 {
		t.Errorf("an unknown switch: %d %s", r.status, r.body)
	}
	if r := do(t, "PUT", a.base+"/api/v1/admin/features/orders", admin, map[string]any{"reason": "no enabled"}); r.status != 400 {
		t.Errorf("no enabled field: %d %s", r.status, r.body)
	}
	start := time.Now()
	for _, c := range switched {
		if r := do(t, "PUT", a.base+"/api/v1/admin/features/"+c.feature, admin, map[string]any{"enabled": false, "reason": "drill"}); r.status != 200 {
			t.Fatalf("switch %s off: %d %s", c.feature, r.status, r.body)
		}
	}
	for _, c := range switched {
		for {
			r := call(b, c.method, c.path, c.body)
			if r.status == 503 && r.errorCode() == "feature_disabled" && r.header.Get("Retry-After") != "" {
				break
			}
			if time.Since(start) > 3*time.Second {
				t.Fatalf("%s %s on the other origin 3s after %s was switched off: %d %s", c.method, c.path, c.feature, r.status, r.body)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	t.Logf("all four switches reached the other origin in %v", time.Since(start).Round(time.Millisecond))
	metrics := string(do(t, "GET", b.base+"/metrics", "", nil).body)
	for _, c := range switched {
		if want := `luffy_feature_enabled{feature="` + c.feature + `"} 0`; !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(metrics, "luffy_feature_enabled"))
		}
	}
	// the rest of the site is untouched: the catalog, and paying orders already placed
	if r := do(t, "GET", b.base+"/api/v1/courses", "", nil); r.status != 200 {
		t.Errorf("catalog with orders off: %d", r.status)
	}
	if r := do(t, "POST", b.base+"/api/v1/payments/callback", "", `{}`, "X-Luffy-Signature", "00"); r.status == 503 {
		t.Errorf("payment callbacks are switched off with new orders")
	}

	if r := do(t, "PUT", a.base+"/api/v1/admin/features/orders", admin, map[string]any{"enabled": true}); r.status != 200 {
		t.Fatalf("switch orders on: %d %s", r.status, r.body)
	}
	deadline := time.Now().Add(3 * time.Second)
	for call(b, "POST", switched[0].path, switched[0].body).status == 503 {
		if time.Now().After(deadline) {
			t.Fatal("orders still off on the other origin 3s after switching them on")
		}
		time.Sleep(20 * time.Millisecond)
	}
	var list struct {
		Items []struct {
			Name    string `json:"name"`
			Enabled bool   `json:"enabled"`
			Reason  string `json:"reason"`
		} `json:"items"`
	}
	do(t, "GET", b.base+"/api/v1/admin/features", b.login(t, "admin"), nil).json(t, &list)
	if len(list.Items) != 4 {
		t.Fatalf("switch list: %+v", list)
	}
	for _, it := range list.Items {
		if it.Enabled != (it.Name == "orders") {
			t.Errorf("switch %s enabled %t", it.Name, it.Enabled)
		}
	}
}
