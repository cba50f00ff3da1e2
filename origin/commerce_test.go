package origin

import (
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/luffy-edu/luffy/accounts"
	"github.com/luffy-edu/luffy/catalog"
	"github.com/luffy-edu/luffy/paysim"
	"github.com/luffy-edu/luffy/points"
	"github.com/luffy-edu/luffy/storage"
	"github.com/luffy-edu/luffy/storage/pgtest"
)

// shopOrigin is an origin with the payment simulator beside it, each knowing the other.
func shopOrigin(t *testing.T) *testOrigin {
	t.Helper()
	db := pgtest.New(t)
	ctx := context.Background()
	if _, err := catalog.Seed(ctx, db.Pool, 5); err != nil {
		t.Fatal(err)
	}
	svc := accounts.NewService(db.Pool, 0)
	for name, role := range map[string]accounts.Role{"admin": accounts.RoleAdmin, "tutor1": accounts.RoleTutor, "student1": accounts.RoleStudent} {
		if _, err := svc.EnsureUser(ctx, name, testPassword, role); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const secret = "test-gateway-secret"
	pay := paysim.New(paysim.Config{Listen: "127.0.0.1:0", CallbackURL: "http://" + ln.Addr().String() + "/api/v1/payments/callback", Secret: secret})
	if err := pay.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pay.Stop(context.Background()) })
	objects, err := storage.OpenObjects(ctx, storage.ObjectConfig{})
	if err != nil {
		t.Fatalf("%v\nstart the local stack with `make stack`", err)
	}
	srv, err := New(ctx, Config{GatewayURL: "http://" + pay.Addr(), GatewaySecret: secret}, Deps{Pool: db.Pool, PGURL: db.URL, Objects: objects})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(ctx, ln); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Stop(c)
	})
	o := &testOrigin{srv: srv, base: "http://" + ln.Addr().String(), db: db}
	o.waitLive(t)
	return o
}

type orderJSON struct {
	ID        int64  `json:"id"`
	Number    string `json:"number"`
	Status    string `json:"status"`
	AmountFen int64  `json:"amount_fen"`
	PayURL    string `json:"pay_url"`
}

// TestCheckoutThroughHTTP: a new user registers with an invite code, fills a cart,
// orders (idempotently), pays through the simulator, gets the course, points and a
// notification; other users can neither see nor cancel the order.
func TestCheckoutThroughHTTP(t *testing.T) {
	o := shopOrigin(t)
	ctx := context.Background()
	var inviter struct {
		ID         int64  `json:"id"`
		InviteCode string `json:"invite_code"`
	}
	r := do(t, "POST", o.base+"/api/v1/auth/register", "", map[string]string{"username": "inviter", "password": testPassword})
	r.json(t, &inviter)
	r = do(t, "POST", o.base+"/api/v1/auth/register", "", map[string]string{"username": "buyer", "password": testPassword, "invite_code": inviter.InviteCode})
	if r.status != 201 {
		t.Fatalf("register with invite code: %d %s", r.status, r.body)
	}
	if r := do(t, "POST", o.base+"/api/v1/auth/register", "", map[string]string{"username": "nobody", "password": testPassword, "invite_code": "WRONG"}); r.status != 400 || r.errorCode() != "invalid_invite_code" {
		t.Errorf("unknown invite code: %d %s", r.status, r.body)
	}
	buyer, other := o.login(t, "buyer"), o.login(t, "student1")

	var course, policy int64
	var price int64
	if err := o.db.Pool.QueryRow(ctx, `SELECT course_id, id, price_fen FROM price_policies WHERE price_fen > 0 AND status = 'enabled' ORDER BY id LIMIT 1`).Scan(&course, &policy, &price); err != nil {
		t.Fatal(err)
	}
	if r := do(t, "POST", o.base+"/api/v1/cart/items", buyer, map[string]int64{"course_id": course, "price_policy_id": policy}); r.status != 200 || !strings.Contains(string(r.body), fmt.Sprint(course)) {
		t.Fatalf("add to cart: %d %s", r.status, r.body)
	}
	if r := do(t, "POST", o.base+"/api/v1/orders", buyer, map[string]any{}); r.status != 400 || r.errorCode() != "invalid_idempotency_key" {
		t.Errorf("order without Idempotency-Key: %d %s", r.status, r.body)
	}
	r = do(t, "POST", o.base+"/api/v1/orders", buyer, map[string]any{}, "Idempotency-Key", "k1")
	if r.status != 201 {
		t.Fatalf("order from the cart: %d %s", r.status, r.body)
	}
	var ord orderJSON
	r.json(t, &ord)
	if ord.Status != "pending" || ord.AmountFen != price || !strings.HasPrefix(ord.PayURL, "http://") {
		t.Fatalf("order: %+v", ord)
	}
	var again orderJSON
	r = do(t, "POST", o.base+"/api/v1/orders", buyer, map[string]any{}, "Idempotency-Key", "k1")
	r.json(t, &again)
	if r.status != 200 || again.ID != ord.ID {
		t.Errorf("the same key and body: %d, order %d (want %d)", r.status, again.ID, ord.ID)
	}
	if r := do(t, "POST", o.base+"/api/v1/orders", buyer, map[string]any{"points": 1}, "Idempotency-Key", "k1"); r.status != 422 {
		t.Errorf("the same key, another body: %d %s", r.status, r.body)
	}
	// another student can neither read, cancel nor pay it
	path := fmt.Sprintf("%s/api/v1/orders/%d", o.base, ord.ID)
	if r := do(t, "GET", path, other, nil); r.status != 404 {
		t.Errorf("another user's order: %d", r.status)
	}
	if r := do(t, "POST", path+"/cancel", other, nil); r.status != 404 {
		t.Errorf("another user cancels: %d", r.status)
	}
	if r := do(t, "POST", o.base+"/api/v1/payments/callback", "", `{"event_id":"x","order_number":"`+ord.Number+`","amount_fen":1,"status":"paid"}`, "X-Luffy-Signature", "00"); r.status != 401 || r.errorCode() != "bad_signature" {
		t.Errorf("forged callback: %d %s", r.status, r.body)
	}
	// the gateway pays and calls back
	if r := do(t, "POST", ord.PayURL, "", nil); r.status != 200 {
		t.Fatalf("pay: %d %s", r.status, r.body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for ord.Status != "paid" && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		do(t, "GET", path, buyer, nil).json(t, &ord)
	}
	if ord.Status != "paid" {
		t.Fatalf("order not paid after paying: %+v", ord)
	}
	var enrolled bool
	o.db.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM enrollments e JOIN users u ON u.id = e.user_id WHERE u.username = 'buyer' AND e.course_id = $1)`, course).Scan(&enrolled)
	if !enrolled {
		t.Error("paid, but no enrollment")
	}
	var mine struct {
		Items []struct {
			CourseID int64  `json:"course_id"`
			Title    string `json:"title"`
		} `json:"items"`
	}
	do(t, "GET", o.base+"/api/v1/me/courses", buyer, nil).json(t, &mine)
	if len(mine.Items) != 1 || mine.Items[0].CourseID != course || mine.Items[0].Title == "" {
		t.Errorf("my courses after paying: %+v", mine)
	}
	do(t, "GET", o.base+"/api/v1/me/courses", other, nil).json(t, &mine)
	for _, c := range mine.Items {
		if c.CourseID == course {
			t.Error("another user's course is listed as theirs")
		}
	}
	var bal struct{ Available int64 }
	do(t, "GET", o.base+"/api/v1/points", buyer, nil).json(t, &bal)
	if want := points.RuleAmount(points.RuleSignup, 0) + points.RuleAmount(points.RulePurchase, price); bal.Available != want {
		t.Errorf("buyer's points %d, want sign-up + purchase = %d", bal.Available, want)
	}
	var inbox struct {
		Items []struct{ Kind string }
	}
	do(t, "GET", o.base+"/api/v1/notifications", buyer, nil).json(t, &inbox)
	if len(inbox.Items) == 0 || !strings.Contains(fmt.Sprint(inbox.Items), "payment") {
		t.Errorf("no payment notification: %+v", inbox.Items)
	}
	if r := do(t, "POST", path+"/cancel", buyer, nil); r.status != 409 {
		t.Errorf("cancelling a paid order: %d %s", r.status, r.body)
	}
	if rep, err := points.Verify(ctx, o.db.Pool); err != nil || len(rep.Problems) > 0 {
		t.Errorf("ledger after checkout: %+v %v", rep, err)
	}

	// Refunds are the admin's: the buyer cannot refund, nor can anyone without a reason.
	admin := o.login(t, "admin")
	refund := fmt.Sprintf("%s/api/v1/admin/orders/%d/refund", o.base, ord.ID)
	if r := do(t, "POST", refund, buyer, map[string]string{"reason": "mine"}); r.status != 403 {
		t.Errorf("the buyer refunds: %d %s", r.status, r.body)
	}
	if r := do(t, "POST", refund, admin, map[string]string{}); r.status != 400 || r.errorCode() != "invalid_reason" {
		t.Errorf("refund without a reason: %d %s", r.status, r.body)
	}
	if r := do(t, "POST", fmt.Sprintf("%s/api/v1/admin/orders/%d/refund", o.base, ord.ID+999), admin, map[string]string{"reason": "x"}); r.status != 404 {
		t.Errorf("refund of a missing order: %d %s", r.status, r.body)
	}
	r = do(t, "POST", refund, admin, map[string]string{"reason": "course cancelled"})
	var refunded orderJSON
	r.json(t, &refunded)
	if r.status != 200 || refunded.Status != "refunded" {
		t.Fatalf("refund: %d %s", r.status, r.body)
	}
	if r := do(t, "POST", refund, admin, map[string]string{"reason": "again"}); r.status != 409 || r.errorCode() != "not_pending" {
		t.Errorf("second refund: %d %s", r.status, r.body)
	}
	do(t, "GET", o.base+"/api/v1/points", buyer, nil).json(t, &bal)
	if want := points.RuleAmount(points.RuleSignup, 0); bal.Available != want {
		t.Errorf("buyer's points after the refund %d, want the purchase points taken back: %d", bal.Available, want)
	}
	var active bool
	o.db.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM enrollments e JOIN users u ON u.id = e.user_id WHERE u.username = 'buyer' AND e.course_id = $1 AND e.status = 'active')`, course).Scan(&active)
	if active {
		t.Error("refunded, but the course is still the buyer's")
	}
	if rep, err := points.Verify(ctx, o.db.Pool); err != nil || len(rep.Problems) > 0 {
		t.Errorf("ledger after the refund: %+v %v", rep, err)
	}
}

// TestHomeworkAndQuestionsThroughHTTP: an enrolled student submits homework, the
// course's tutor grades it, the student is told; a question goes to the pool and a
// tutor answers it.
func TestHomeworkAndQuestionsThroughHTTP(t *testing.T) {
	o := newTestOrigin(t, 3)
	ctx := context.Background()
	student, tutor, admin := o.login(t, "student1"), o.login(t, "tutor1"), o.login(t, "admin")
	var hw, course, lesson, tutorID, studentID int64
	if err := o.db.Pool.QueryRow(ctx, `SELECT h.id, h.course_id, l.id FROM homework h JOIN lessons l ON l.course_id = h.course_id ORDER BY h.id, l.id LIMIT 1`).Scan(&hw, &course, &lesson); err != nil {
		t.Fatal(err)
	}
	o.db.Pool.QueryRow(ctx, `SELECT id FROM users WHERE username = 'tutor1'`).Scan(&tutorID)
	o.db.Pool.QueryRow(ctx, `SELECT id FROM users WHERE username = 'student1'`).Scan(&studentID)
	hwPath := fmt.Sprintf("%s/api/v1/homework/%d/submissions", o.base, hw)
	if r := do(t, "POST", hwPath, student, map[string]string{"text": "my answer"}); r.status != 403 {
		t.Errorf("homework before enrolling: %d %s", r.status, r.body)
	}
	if _, err := o.db.Pool.Exec(ctx, `INSERT INTO enrollments (user_id, course_id) VALUES ($1, $2)`, studentID, course); err != nil {
		t.Fatal(err)
	}
	if r := do(t, "PUT", fmt.Sprintf("%s/api/v1/admin/course-tutors/%d", o.base, course), tutor, map[string]int64{"tutor_id": tutorID}); r.status != 403 {
		t.Errorf("a tutor assigning tutors: %d", r.status)
	}
	if r := do(t, "PUT", fmt.Sprintf("%s/api/v1/admin/course-tutors/%d", o.base, course), admin, map[string]int64{"tutor_id": tutorID}); r.status != 200 {
		t.Fatalf("assign tutor: %d %s", r.status, r.body)
	}
	r := do(t, "POST", hwPath, student, map[string]string{"text": "my answer"})
	if r.status != 201 {
		t.Fatalf("submit homework: %d %s", r.status, r.body)
	}
	var sub struct {
		ID      int64 `json:"id"`
		Version int   `json:"version"`
	}
	r.json(t, &sub)
	var queue struct{ Items []struct{ ID int64 } }
	do(t, "GET", o.base+"/api/v1/tutor/homework-queue", tutor, nil).json(t, &queue)
	if len(queue.Items) != 1 || queue.Items[0].ID != sub.ID {
		t.Fatalf("tutor queue: %+v", queue)
	}
	if r := do(t, "GET", o.base+"/api/v1/tutor/homework-queue", student, nil); r.status != 403 {
		t.Errorf("a student reading the tutor queue: %d", r.status)
	}
	gradePath := fmt.Sprintf("%s/api/v1/tutor/submissions/%d/grade", o.base, sub.ID)
	if r := do(t, "POST", gradePath, tutor, map[string]any{"score": 101}); r.status != 400 {
		t.Errorf("score 101: %d %s", r.status, r.body)
	}
	if r := do(t, "POST", gradePath, tutor, map[string]any{"score": 90, "comment": "good"}); r.status != 200 {
		t.Fatalf("grade: %d %s", r.status, r.body)
	}
	var inbox struct{ Items []struct{ Kind string } }
	do(t, "GET", o.base+"/api/v1/notifications", student, nil).json(t, &inbox)
	if !strings.Contains(fmt.Sprint(inbox.Items), "grade") {
		t.Errorf("no grade notification: %+v", inbox.Items)
	}

	// a second version with a file: the student, the tutor and admins download it; no
	// one else learns it exists
	var mp bytes.Buffer
	w := multipart.NewWriter(&mp)
	w.WriteField("text", "now with notes")
	fw, _ := w.CreateFormFile("files", "notes.txt")
	fw.Write([]byte("my working notes\n"))
	w.Close()
	r = do(t, "POST", hwPath, student, mp.Bytes(), "Content-Type", w.FormDataContentType())
	var v2 struct {
		Version int `json:"version"`
		Files   []struct {
			ID   int64  `json:"id"`
			Name string `json:"name"`
		} `json:"files"`
	}
	r.json(t, &v2)
	if r.status != 201 || v2.Version != 2 || len(v2.Files) != 1 {
		t.Fatalf("submit with a file: %d %s", r.status, r.body)
	}
	filePath := fmt.Sprintf("%s/api/v1/homework/files/%d", o.base, v2.Files[0].ID)
	for who, token := range map[string]string{"student": student, "tutor": tutor, "admin": admin} {
		r := do(t, "GET", filePath, token, nil)
		if r.status != 200 || string(r.body) != "my working notes\n" || !strings.HasPrefix(r.header.Get("Content-Disposition"), "attachment") ||
			r.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s downloads the file: %d %v %q", who, r.status, r.header, r.body)
		}
	}
	do(t, "POST", o.base+"/api/v1/auth/register", "", map[string]string{"username": "nosy", "password": testPassword})
	if r := do(t, "GET", filePath, o.login(t, "nosy"), nil); r.status != 404 {
		t.Errorf("another student downloads the file: %d %s", r.status, r.body)
	}
	if r := do(t, "GET", filePath, "", nil); r.status != 401 {
		t.Errorf("anonymous download: %d %s", r.status, r.body)
	}

	// questions: the course has a tutor now, so it is assigned; the tutor answers
	r = do(t, "POST", o.base+"/api/v1/questions", student, map[string]any{"lesson_id": lesson, "title": "why?", "body": "I do not get it"})
	if r.status != 201 {
		t.Fatalf("ask: %d %s", r.status, r.body)
	}
	var q struct {
		ID     int64  `json:"id"`
		Status string `json:"status"`
	}
	r.json(t, &q)
	if r := do(t, "POST", fmt.Sprintf("%s/api/v1/tutor/questions/%d/answer", o.base, q.ID), tutor, map[string]string{"answer": "because"}); r.status != 200 {
		t.Fatalf("answer: %d %s", r.status, r.body)
	}
	do(t, "GET", fmt.Sprintf("%s/api/v1/questions/%d", o.base, q.ID), student, nil).json(t, &q)
	if q.Status != "answered" {
		t.Errorf("question after the answer: %+v", q)
	}
	do(t, "GET", o.base+"/api/v1/notifications", student, nil).json(t, &inbox)
	if !strings.Contains(fmt.Sprint(inbox.Items), "answer") {
		t.Errorf("no answer notification: %+v", inbox.Items)
	}
}

// TestCouponsThroughHTTP: admins create, list and disable coupons; students see the ones
// points can buy, buy one and find it among their own.
func TestCouponsThroughHTTP(t *testing.T) {
	o := shopOrigin(t)
	admin := o.login(t, "admin")
	do(t, "POST", o.base+"/api/v1/auth/register", "", map[string]string{"username": "saver", "password": testPassword})
	student := o.login(t, "saver") // 100 sign-up points
	r := do(t, "POST", o.base+"/api/v1/admin/coupons", admin, map[string]any{"code": "PTS50", "title": "10 yuan off", "kind": "fixed",
		"amount_fen": 1000, "valid_until": time.Now().Add(time.Hour), "points_price": 50, "total_limit": 10})
	var c struct {
		ID     int64  `json:"id"`
		Status string `json:"status"`
	}
	r.json(t, &c)
	if r.status != 201 {
		t.Fatalf("create coupon: %d %s", r.status, r.body)
	}
	var page struct {
		Items []struct{ ID int64 } `json:"items"`
	}
	if r := do(t, "GET", o.base+"/api/v1/admin/coupons", student, nil); r.status != 403 {
		t.Errorf("a student lists all coupons: %d", r.status)
	}
	do(t, "GET", o.base+"/api/v1/admin/coupons", admin, nil).json(t, &page)
	if len(page.Items) != 1 || page.Items[0].ID != c.ID {
		t.Errorf("admin coupon list: %+v", page)
	}
	do(t, "GET", o.base+"/api/v1/coupons", "", nil).json(t, &page)
	if len(page.Items) != 1 {
		t.Errorf("coupons for sale: %+v", page)
	}
	if r := do(t, "POST", o.base+"/api/v1/points/redeem", student, map[string]any{"coupon_id": c.ID, "client_id": "buy-1"}); r.status != 201 {
		t.Fatalf("buy a coupon with points: %d %s", r.status, r.body)
	}
	var mine struct {
		Items []struct {
			Status string `json:"status"`
			Coupon struct{ Code string }
		} `json:"items"`
	}
	do(t, "GET", o.base+"/api/v1/coupons/mine", student, nil).json(t, &mine)
	if len(mine.Items) != 1 || mine.Items[0].Status != "available" || mine.Items[0].Coupon.Code != "PTS50" {
		t.Errorf("my coupons: %+v", mine)
	}
	if r := do(t, "GET", o.base+"/api/v1/coupons/mine", "", nil); r.status != 401 {
		t.Errorf("anonymous: my coupons %d", r.status)
	}

	path := fmt.Sprintf("%s/api/v1/admin/coupons/%d", o.base, c.ID)
	if r := do(t, "PATCH", path, student, map[string]string{"status": "disabled"}); r.status != 403 {
		t.Errorf("a student disables a coupon: %d", r.status)
	}
	if r := do(t, "PATCH", path, admin, map[string]string{"status": "gone"}); r.status != 400 || r.errorCode() != "invalid_status" {
		t.Errorf("unknown status: %d %s", r.status, r.body)
	}
	if r := do(t, "PATCH", fmt.Sprintf("%s/api/v1/admin/coupons/%d", o.base, c.ID+99), admin, map[string]string{"status": "disabled"}); r.status != 404 {
		t.Errorf("missing coupon: %d %s", r.status, r.body)
	}
	if r := do(t, "PATCH", path, admin, map[string]string{"status": "disabled"}); r.status != 200 {
		t.Fatalf("disable: %d %s", r.status, r.body)
	}
	do(t, "GET", o.base+"/api/v1/coupons", "", nil).json(t, &page)
	if len(page.Items) != 0 {
		t.Errorf("a disabled coupon is for sale: %+v", page)
	}
	if r := do(t, "POST", o.base+"/api/v1/points/redeem", student, map[string]any{"coupon_id": c.ID, "client_id": "buy-2"}); r.status != 409 || r.errorCode() != "coupon_unavailable" {
		t.Errorf("buying a disabled coupon: %d %s", r.status, r.body)
	}
}
