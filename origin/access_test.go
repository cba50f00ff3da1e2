package origin

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/luffy-edu/luffy/accounts"
	"github.com/luffy-edu/luffy/catalog"
	"github.com/luffy-edu/luffy/judge"
	"github.com/luffy-edu/luffy/judge/testzip"
	"github.com/luffy-edu/luffy/learning"
	"github.com/luffy-edu/luffy/notify"
	"github.com/luffy-edu/luffy/orders"
	"github.com/luffy-edu/luffy/points"
	"github.com/luffy-edu/luffy/storage"
	"github.com/luffy-edu/luffy/storage/pgtest"
	"github.com/luffy-edu/luffy/video"
)

// identity is who a request of the access walk is sent as. The walk sends each row as
// every identity in this order, so that everyone else is refused before the one allowed
// to change a record does.
type identity int

const (
	asAnonymous identity = iota
	asOtherStudent
	asOtherTutor // a tutor the course is not assigned to
	asTutor      // the course's assigned tutor
	asAdmin
	asOwner // the student who owns the walked records
	numIdentities
)

var (
	identityNames = [numIdentities]string{"anonymous", "another student", "an unassigned tutor", "the course's tutor", "admin", "the owner"}
	identityUsers = [numIdentities]string{"", "student2", "tutor2", "tutor1", "admin", "student1"}
	identityRoles = [numIdentities]accounts.Role{"", accounts.RoleStudent, accounts.RoleTutor, accounts.RoleTutor, accounts.RoleAdmin, accounts.RoleStudent}
)

// marker is a string that only some identities may ever find in a response: a private
// record's content, a bearer token, a secret.
type marker struct {
	what, text string
	seenBy     []identity
}

// walkFixture is an origin whose database holds, for the owner (student1), a record of
// every kind the API guards: an enrollment in a course with an assigned tutor (tutor1),
// homework versions with a file, an assigned and a pooled question, a judged submission,
// a pending order, a cart line, notifications, a coupon and points; besides another
// student (student2), a tutor of no course (tutor2) and an admin.
type walkFixture struct {
	*testOrigin
	token  [numIdentities]string
	userID [numIdentities]int64

	course, paidLesson, freeLesson, homework int64
	hwSubmission, hwFile                     int64
	question, pooledQuestion                 int64
	problemID, submission                    int64
	problemSlug                              string
	order                                    int64
	orderNumber                              string
	cartCourse, cartPolicy                   int64 // in the owner's cart
	buyCourse, buyPolicy                     int64 // for anyone to order
	addCourse, addPolicy                     int64 // for anyone to put in their cart
	patchCourse, deleteCourse, category      int64
	notice, notice2                          int64
	plainCoupon                              int64 // not sold for points
	gatewaySecret                            string

	// video: the owner's playback URL of the paid lesson (path only) and the folder of a
	// rendition it leads to; empty without video
	videoID, masterPath, renditionPath string

	markers []marker
	secrets map[string]string // marker texts by what they are
}

// newWalkFixture builds the fixture; withVideo also ingests a real video (ffmpeg) on
// the paid and the free-preview lesson, so that playback is granted and served.
func newWalkFixture(t *testing.T, withVideo bool) *walkFixture {
	t.Helper()
	ctx := context.Background()
	db := pgtest.New(t)
	if _, err := catalog.Seed(ctx, db.Pool, 14); err != nil {
		t.Fatalf("seed: %v", err)
	}
	svc := accounts.NewService(db.Pool, 0)
	f := &walkFixture{gatewaySecret: "gw-secret-" + randomHex(8)}
	for id := asOtherStudent; id < numIdentities; id++ {
		u, err := svc.EnsureUser(ctx, identityUsers[id], testPassword, identityRoles[id])
		if err != nil {
			t.Fatal(err)
		}
		f.userID[id] = u.ID
	}
	f.testOrigin = startOrigin(t, db, Config{GatewaySecret: f.gatewaySecret, PurgeSecret: "purge-secret-" + randomHex(8)})
	f.srv.cfg.EdgeURL = f.base // the origin serves /v/ itself
	for id := asOtherStudent; id < numIdentities; id++ {
		f.token[id] = f.login(t, identityUsers[id])
	}
	pool, owner := db.Pool, f.userID[asOwner]
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	// the course: paid, with a paid and a free-preview lesson and homework
	must(pool.QueryRow(ctx, `
		SELECT c.id, c.category_id,
			(SELECT id FROM lessons WHERE course_id = c.id AND NOT free_preview ORDER BY id LIMIT 1),
			(SELECT id FROM lessons WHERE course_id = c.id AND free_preview ORDER BY id LIMIT 1),
			(SELECT id FROM homework WHERE course_id = c.id ORDER BY id LIMIT 1)
		FROM courses c WHERE c.course_type <> 'free' AND c.status = 'published'
			AND EXISTS (SELECT 1 FROM homework WHERE course_id = c.id)
			AND EXISTS (SELECT 1 FROM lessons WHERE course_id = c.id AND free_preview)
		ORDER BY c.id LIMIT 1`).Scan(&f.course, &f.category, &f.paidLesson, &f.freeLesson, &f.homework))
	// other courses with a price, for the order, the cart and the walk's own purchases
	rows, err := pool.Query(ctx, `SELECT DISTINCT ON (p.course_id) p.course_id, p.id FROM price_policies p JOIN courses c ON c.id = p.course_id
		WHERE p.price_fen > 0 AND p.status = 'enabled' AND p.deleted_at IS NULL AND c.status = 'published' AND c.id <> $1
		ORDER BY p.course_id, p.id`, f.course)
	must(err)
	var priced [][2]int64
	for rows.Next() {
		var c, p int64
		must(rows.Scan(&c, &p))
		priced = append(priced, [2]int64{c, p})
	}
	must(rows.Err())
	if len(priced) < 4 {
		t.Fatalf("the seed has %d other priced courses; the walk needs 4", len(priced))
	}
	orderCourse, orderPolicy := priced[0][0], priced[0][1]
	f.cartCourse, f.cartPolicy = priced[1][0], priced[1][1]
	f.buyCourse, f.buyPolicy = priced[2][0], priced[2][1]
	f.addCourse, f.addPolicy = priced[3][0], priced[3][1]
	must(pool.QueryRow(ctx, `SELECT max(id), max(id) - 1 FROM courses`).Scan(&f.deleteCourse, &f.patchCourse))
	if slices.Contains([]int64{f.course, orderCourse, f.cartCourse, f.buyCourse, f.addCourse}, f.deleteCourse) ||
		slices.Contains([]int64{f.course, orderCourse, f.cartCourse, f.buyCourse, f.addCourse}, f.patchCourse) {
		t.Fatal("the seed has too few courses for the walk")
	}

	if withVideo {
		source, err := video.DemoSource(ctx, "ffmpeg", t.TempDir(), 4, "walk")
		must(err)
		objects, err := storage.OpenObjects(ctx, storage.ObjectConfig{})
		must(err)
		ing := video.NewIngester(pool, objects, video.IngestConfig{SegmentSeconds: 2, KeyEvery: 2})
		res, err := ing.Ingest(ctx, source, video.IngestOptions{LessonID: f.paidLesson, Title: "walk"})
		if err != nil {
			t.Fatalf("ingest: %v", err)
		}
		f.videoID = res.VideoID
		_, err = pool.Exec(ctx, `UPDATE lessons SET video_id = $1 WHERE id = $2`, f.videoID, f.freeLesson)
		must(err)
	}

	// enrollment and tutor
	_, err = pool.Exec(ctx, `INSERT INTO enrollments (user_id, course_id) VALUES ($1, $2)`, owner, f.course)
	must(err)
	must(f.srv.learning.AssignTutor(ctx, f.course, f.userID[asTutor]))

	f.markers = []marker{
		{"the gateway secret", f.gatewaySecret, nil},
		{"the purge secret", f.srv.cfg.PurgeSecret, nil},
	}
	for id := asOtherStudent; id < numIdentities; id++ {
		f.markers = append(f.markers, marker{identityNames[id] + "'s bearer token", f.token[id], nil})
	}
	staff := []identity{asOwner, asOtherTutor, asTutor, asAdmin}
	courseStaff := []identity{asOwner, asTutor, asAdmin}
	f.secrets = map[string]string{}
	keep := func(m marker) string {
		f.markers = append(f.markers, m)
		f.secrets[m.what] = m.text
		return m.text
	}
	secret := func(what string, seenBy ...identity) string {
		return keep(marker{what, strings.ToUpper(strings.ReplaceAll(what, " ", "-")) + "-" + randomHex(6), seenBy})
	}

	// homework: a text version, then one with a file
	_, err = f.srv.learning.Submit(ctx, owner, f.homework, "first try", nil)
	must(err)
	sub, err := f.srv.learning.Submit(ctx, owner, f.homework, secret("homework text", courseStaff...),
		[]learning.File{{Name: "notes.txt", Data: []byte(secret("homework file", courseStaff...) + "\n")}})
	must(err)
	f.hwSubmission, f.hwFile = sub.ID, sub.Files[0].ID

	// questions: one on the course (assigned to its tutor), one in the pool (a free
	// preview of a course without a tutor)
	q, err := f.srv.learning.Ask(ctx, owner, f.paidLesson, "why?", secret("question body", staff...))
	must(err)
	f.question = q.ID
	var poolLesson int64
	must(pool.QueryRow(ctx, `SELECT l.id FROM lessons l JOIN courses c ON c.id = l.course_id
		WHERE l.free_preview AND c.status = 'published' AND c.id <> $1 ORDER BY l.id LIMIT 1`, f.course).Scan(&poolLesson))
	q, err = f.srv.learning.Ask(ctx, owner, poolLesson, "how?", secret("pooled question body", staff...))
	must(err)
	f.pooledQuestion = q.ID
	if q.Status != learning.QuestionPooled {
		t.Fatalf("the second question is %s, want pooled", q.Status)
	}

	// a judge problem with tests, and the owner's submission judged CE
	p, err := f.srv.judge.CreateProblem(ctx, judge.Problem{Slug: "walk-echo", Title: "Echo", Statement: "Print the input.",
		TimeLimitMS: 1000, MemoryLimitMB: 64, Checker: judge.CheckExact}, 0, "test")
	must(err)
	f.problemID, f.problemSlug = p.ID, p.Slug
	var archive bytes.Buffer
	must(testzip.Write(&archive, []judge.TestCase{{Name: "sample1", Input: []byte("1\n"), Answer: []byte("1\n"), Sample: true}}))
	tests, err := testzip.Read(bytes.NewReader(archive.Bytes()), int64(archive.Len()), testzip.Limits{})
	must(err)
	_, err = f.srv.judge.SetTests(ctx, p.ID, archive.Bytes(), tests)
	must(err)
	v, err := f.srv.judge.Submit(ctx, owner, "student1", p.Slug, "python3", "# "+secret("source code")+"\nprint(input()")
	must(err)
	f.submission = v.ID
	c, err := f.srv.judge.Claim(ctx, "walk-worker", time.Minute)
	must(err)
	if c == nil || c.ID != v.ID {
		t.Fatalf("claimed %+v, want submission %d", c, v.ID)
	}
	must(f.srv.judge.Finish(ctx, c.ID, c.Lease("walk-worker"), judge.Outcome{Verdict: judge.CompileError,
		CompileOutput: secret("compiler output", staff...), Tests: []any{}}))

	// commerce: a pending order, a cart line, notifications, a coupon not sold for points
	o, _, err := f.srv.shop.Create(ctx, owner, "walk-order", orders.CreateRequest{Items: []orders.Item{{CourseID: orderCourse, PricePolicyID: orderPolicy}}})
	must(err)
	f.order, f.orderNumber = o.ID, o.Number
	keep(marker{"order number", o.Number, []identity{asOwner}})
	must(f.srv.shop.CartAdd(ctx, owner, f.cartCourse, f.cartPolicy))
	keep(marker{"cart line", fmt.Sprintf(`"price_policy_id":%d,`, f.cartPolicy), []identity{asOwner}})
	for i, id := range []*int64{&f.notice, &f.notice2} {
		title := secret(fmt.Sprintf("notice %d", i+1), asOwner)
		must(notify.Send(ctx, pool, owner, notify.KindOrder, title, "", nil, title))
		must(pool.QueryRow(ctx, `SELECT id FROM notifications WHERE user_id = $1 AND title = $2`, owner, title).Scan(id))
	}
	cp, err := f.srv.shop.CreateCoupon(ctx, orders.Coupon{Code: "WALK-PLAIN", Title: "plain", Kind: "fixed", AmountFen: 100,
		ValidUntil: time.Now().Add(time.Hour)})
	must(err)
	f.plainCoupon = cp.ID
	// a coupon of the owner's own, given, not for sale (admins see every coupon)
	cp, err = f.srv.shop.CreateCoupon(ctx, orders.Coupon{Code: secret("coupon code", asOwner, asAdmin), Title: "given", Kind: "fixed",
		AmountFen: 100, ValidUntil: time.Now().Add(time.Hour)})
	must(err)
	_, err = pool.Exec(ctx, `INSERT INTO user_coupons (user_id, coupon_id) VALUES ($1, $2)`, owner, cp.ID)
	must(err)
	// points: the owner's balance is not anyone else's
	_, err = points.Award(ctx, pool, owner, points.RuleSignup, "walk", 0)
	must(err)
	bal, err := points.BalanceOf(ctx, pool, owner)
	must(err)
	keep(marker{"points balance", fmt.Sprintf(`"available":%d,`, bal.Available), []identity{asOwner}})

	if withVideo {
		r := do(t, "POST", fmt.Sprintf("%s/api/v1/lessons/%d/play", f.base, f.paidLesson), f.token[asOwner], nil)
		var play struct{ URL string }
		r.json(t, &play)
		if r.status != 200 || !strings.HasPrefix(play.URL, f.base+"/v/") {
			t.Fatalf("owner's play: %d %s", r.status, r.body)
		}
		f.masterPath = strings.TrimPrefix(play.URL, f.base)
		m := do(t, "GET", play.URL, "", nil)
		var rendition string
		for line := range strings.Lines(string(m.body)) {
			if strings.HasSuffix(strings.TrimSpace(line), "/index.m3u8") {
				rendition = strings.TrimSuffix(strings.TrimSpace(line), "/index.m3u8")
				break
			}
		}
		if m.status != 200 || rendition == "" {
			t.Fatalf("master playlist: %d %s", m.status, m.body)
		}
		f.renditionPath = strings.TrimSuffix(f.masterPath, "master.m3u8") + rendition + "/"
	}
	return f
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// expect is the status a row answers each identity, in walk order: anonymous, another
// student, an unassigned tutor, the course's tutor, admin, the owner.
type expect [numIdentities]int

func everyone(code int) expect  { return expect{code, code, code, code, code, code} }
func signedIn(code int) expect  { return expect{401, code, code, code, code, code} }
func adminOnly(code int) expect { return expect{401, 403, 403, 403, code, 403} }
func ownerOnly(code int) expect { return expect{401, 404, 404, 404, 404, code} }

// to says that the answer to ids carries text.
func to(text string, ids ...identity) map[identity]string {
	m := map[identity]string{}
	for _, id := range ids {
		m[id] = text
	}
	return m
}

// accessRow is one request of the walk.
type accessRow struct {
	route        string // the label the origin counts it under in luffy_http_requests_total
	method, path string
	body         any // as do sends it; a func(identity) any is called per identity
	headers      []string
	want         expect
	fresh        bool                // sent with a new login's token (logout revokes it)
	shows        map[identity]string // what the answer to these identities carries
	// intact, when set, checks that the owner's record is as it was; it runs after each
	// refused request until one is granted.
	intact func() error
}

// TestAccessControl walks every route of the origin as anonymous, another student, an
// unassigned tutor, the course's tutor, admin and the owner: each gets the status the
// API promises, refused writes change nothing, no response carries a private record to
// anyone it does not belong to, and every route label the origin counts has a row.
func TestAccessControl(t *testing.T) {
	f := newWalkFixture(t, true)
	ctx := context.Background()
	db := f.db.Pool
	// status checks that query, with args, reads want.
	status := func(query string, args ...any) func() error {
		want := args[len(args)-1]
		return func() error {
			var got string
			if err := db.QueryRow(ctx, query, args[:len(args)-1]...).Scan(&got); err != nil {
				return err
			}
			if got != want {
				return fmt.Errorf("status %q, want %q", got, want)
			}
			return nil
		}
	}
	orderPending := status(`SELECT status FROM orders WHERE id = $1`, f.order, "pending")
	unread := func(id int64) func() error {
		return status(`SELECT CASE WHEN read_at IS NULL THEN 'unread' ELSE 'read' END FROM notifications WHERE id = $1`, id, "unread")
	}
	perIdentity := func(fn func(identity) any) func(identity) any { return fn }
	secret := f.secrets
	tests := fmt.Sprintf("/api/v1/admin/problems/%d/tests", f.problemID)
	var archive bytes.Buffer
	if err := testzip.Write(&archive, []judge.TestCase{{Name: "sample1", Input: []byte("2\n"), Answer: []byte("2\n"), Sample: true}}); err != nil {
		t.Fatal(err)
	}
	forged, at := []byte(f.masterPath), len("/v/")+20 // a character of the token
	forged[at] = 'A'
	if f.masterPath[at] == 'A' {
		forged[at] = 'B'
	}
	otherVideo := strings.Replace(f.masterPath, "/"+f.videoID+"/", "/"+f.videoID[:len(f.videoID)-1]+"x/", 1)
	callback := fmt.Sprintf(`{"event_id":"walk","order_number":%q,"trade_no":"t","amount_fen":1,"status":"paid"}`, f.orderNumber)

	rows := []accessRow{
		// public reads and ops
		{route: "categories", method: "GET", path: "/api/v1/categories", want: everyone(200)},
		{route: "courses", method: "GET", path: "/api/v1/courses", want: everyone(200)},
		{route: "course", method: "GET", path: fmt.Sprintf("/api/v1/courses/%d", f.course), want: everyone(200)},
		{route: "problems", method: "GET", path: "/api/v1/problems", want: everyone(200)},
		{route: "problem", method: "GET", path: "/api/v1/problems/" + f.problemSlug, want: everyone(200)},
		{route: "video_public_key", method: "GET", path: "/api/v1/video/public-key", want: everyone(200)},
		{route: "points", method: "GET", path: "/api/v1/coupons", want: everyone(200)},
		{route: "metrics", method: "GET", path: "/metrics", want: everyone(200)},
		{route: "healthz", method: "GET", path: "/healthz", want: everyone(200)},
		{route: "readyz", method: "GET", path: "/readyz", want: everyone(200)},

		// accounts
		{route: "auth_register", method: "POST", path: "/api/v1/auth/register", want: everyone(201),
			body: perIdentity(func(id identity) any {
				return map[string]string{"username": fmt.Sprintf("walker%d", id), "password": testPassword}
			})},
		{route: "auth_login", method: "POST", path: "/api/v1/auth/login", want: everyone(401),
			body: map[string]string{"username": "student1", "password": "not-" + testPassword}},
		{route: "auth_me", method: "GET", path: "/api/v1/auth/me", want: signedIn(200)},
		{route: "auth_logout", method: "POST", path: "/api/v1/auth/logout", want: signedIn(200), fresh: true},

		// video: a lesson's URL is granted to who may watch it, and the URL is what the
		// edge and origin check, whoever holds it
		{route: "lesson_play", method: "POST", path: fmt.Sprintf("/api/v1/lessons/%d/play", f.paidLesson), want: expect{401, 403, 200, 200, 200, 200}},
		{route: "lesson_play", method: "POST", path: fmt.Sprintf("/api/v1/lessons/%d/play", f.freeLesson), want: everyone(200)},
		{route: "video", method: "GET", path: f.masterPath, want: everyone(200)},
		{route: "video", method: "GET", path: f.renditionPath + "index.m3u8", want: everyone(200)},
		{route: "video", method: "GET", path: f.renditionPath + "seg-00000.ts", want: everyone(200)},
		{route: "video", method: "GET", path: f.renditionPath + "key?n=0", want: everyone(200)},
		{route: "video", method: "GET", path: string(forged), want: everyone(403)},
		{route: "video", method: "GET", path: otherVideo, want: everyone(403)},
		{route: "video", method: "GET", path: "/v/" + f.videoID + "/master.m3u8", want: everyone(404)},

		// judge
		{route: "submission", method: "GET", path: fmt.Sprintf("/api/v1/submissions/%d", f.submission), want: expect{401, 404, 200, 200, 200, 200},
			shows: to(secret["compiler output"], asOtherTutor, asTutor, asAdmin, asOwner)},
		{route: "submission_events", method: "GET", path: fmt.Sprintf("/api/v1/submissions/%d/events", f.submission), want: expect{401, 404, 200, 200, 200, 200},
			shows: to(secret["compiler output"], asOtherTutor, asTutor, asAdmin, asOwner)},
		{route: "submissions", method: "GET", path: "/api/v1/submissions", want: signedIn(200), shows: to(secret["compiler output"], asOwner)},
		{route: "wrong_book", method: "GET", path: "/api/v1/me/wrong-book", want: signedIn(200)},
		{route: "my_courses", method: "GET", path: "/api/v1/me/courses", want: signedIn(200)},
		{route: "web", method: "GET", path: "/", want: everyone(200)},
		{route: "web", method: "GET", path: "/courses/1", want: everyone(200)},
		{route: "submit", method: "POST", path: "/api/v1/submissions", want: signedIn(201),
			body: map[string]string{"problem": f.problemSlug, "language": "python3", "source": "print(input())"}},
		{route: "admin_problems", method: "POST", path: "/api/v1/admin/problems", want: adminOnly(201),
			body: map[string]any{"slug": "walk-new", "title": "New", "statement": "s", "time_limit_ms": 1000, "memory_limit_mb": 64, "checker": "exact"}},
		{route: "admin_problem_tests", method: "PUT", path: tests, want: adminOnly(200), body: archive.Bytes(), headers: []string{"Content-Type", "application/zip"}},

		// cart and orders
		{route: "cart", method: "GET", path: "/api/v1/cart", want: signedIn(200), shows: to(secret["cart line"], asOwner)},
		{route: "cart", method: "POST", path: "/api/v1/cart/items", want: signedIn(200),
			body: map[string]int64{"course_id": f.addCourse, "price_policy_id": f.addPolicy}},
		{route: "cart", method: "DELETE", path: fmt.Sprintf("/api/v1/cart/items/%d", f.cartCourse), want: ownerOnly(200),
			intact: status(`SELECT CASE WHEN EXISTS (SELECT 1 FROM cart_items WHERE user_id = $1 AND course_id = $2 AND deleted_at IS NULL)
				THEN 'in the cart' ELSE 'gone' END`, f.userID[asOwner], f.cartCourse, "in the cart")},
		{route: "orders", method: "GET", path: "/api/v1/orders", want: signedIn(200), shows: to(f.orderNumber, asOwner)},
		{route: "orders", method: "POST", path: "/api/v1/orders", want: signedIn(201), headers: []string{"Idempotency-Key", "walk"},
			body: map[string]any{"items": []map[string]int64{{"course_id": f.buyCourse, "price_policy_id": f.buyPolicy}}}},
		{route: "order", method: "GET", path: fmt.Sprintf("/api/v1/orders/%d", f.order), want: ownerOnly(200), shows: to(f.orderNumber, asOwner)},
		{route: "payment_callback", method: "POST", path: "/api/v1/payments/callback", want: everyone(401), body: callback,
			headers: []string{"X-Luffy-Signature", strings.Repeat("ab", 32)}, intact: orderPending},
		{route: "admin_commerce", method: "POST", path: fmt.Sprintf("/api/v1/admin/orders/%d/refund", f.order), want: adminOnly(409),
			body: map[string]string{"reason": "walk"}, intact: orderPending},
		{route: "order", method: "POST", path: fmt.Sprintf("/api/v1/orders/%d/cancel", f.order), want: ownerOnly(200), intact: orderPending},

		// points and coupons
		{route: "points", method: "GET", path: "/api/v1/points", want: signedIn(200), shows: to(secret["points balance"], asOwner)},
		{route: "points", method: "GET", path: "/api/v1/points/ledger", want: signedIn(200)},
		{route: "points", method: "GET", path: "/api/v1/coupons/mine", want: signedIn(200), shows: to(secret["coupon code"], asOwner)},
		{route: "points", method: "POST", path: "/api/v1/points/redeem", want: signedIn(409),
			body: map[string]any{"coupon_id": f.plainCoupon, "client_id": "walk"}},
		{route: "admin_commerce", method: "GET", path: "/api/v1/admin/coupons", want: adminOnly(200), shows: to(secret["coupon code"], asAdmin)},
		{route: "admin_commerce", method: "POST", path: "/api/v1/admin/coupons", want: adminOnly(201),
			body: map[string]any{"code": "WALK-NEW", "title": "new", "kind": "fixed", "amount_fen": 100, "valid_until": time.Now().Add(time.Hour)}},
		{route: "admin_commerce", method: "PATCH", path: fmt.Sprintf("/api/v1/admin/coupons/%d", f.plainCoupon), want: adminOnly(200),
			body: map[string]string{"status": "disabled"}},

		// notifications
		{route: "notifications", method: "GET", path: "/api/v1/notifications", want: signedIn(200), shows: to(secret["notice 1"], asOwner)},
		{route: "notifications", method: "POST", path: fmt.Sprintf("/api/v1/notifications/%d/read", f.notice), want: ownerOnly(200), intact: unread(f.notice)},
		{route: "notifications", method: "POST", path: "/api/v1/notifications/read-all", want: signedIn(200), intact: unread(f.notice2)},

		// homework: the owner's versions and files are theirs, their tutor's and admins'
		{route: "homework", method: "GET", path: fmt.Sprintf("/api/v1/homework/%d/submissions", f.homework), want: signedIn(200),
			shows: to(secret["homework text"], asOwner)},
		{route: "homework", method: "GET", path: fmt.Sprintf("/api/v1/homework/files/%d", f.hwFile), want: expect{401, 404, 404, 200, 200, 200},
			shows: to(secret["homework file"], asTutor, asAdmin, asOwner)},
		{route: "tutor", method: "GET", path: "/api/v1/tutor/homework-queue", want: expect{401, 403, 200, 200, 200, 403},
			shows: to(secret["homework text"], asTutor)},
		{route: "tutor", method: "POST", path: fmt.Sprintf("/api/v1/tutor/submissions/%d/grade", f.hwSubmission), want: expect{401, 403, 403, 200, 409, 403},
			body:   map[string]any{"score": 40, "comment": "walk"},
			intact: status(`SELECT status FROM homework_submissions WHERE id = $1`, f.hwSubmission, learning.SubmissionSubmitted)},
		{route: "homework", method: "POST", path: fmt.Sprintf("/api/v1/homework/%d/submissions", f.homework), want: expect{401, 403, 403, 403, 403, 201},
			body: map[string]string{"text": "walk"}},
		{route: "admin_commerce", method: "PUT", path: fmt.Sprintf("/api/v1/admin/course-tutors/%d", f.course), want: adminOnly(200),
			body: map[string]int64{"tutor_id": f.userID[asTutor]}},

		// questions: the asker's, and any tutor's or admin's to read
		{route: "questions", method: "GET", path: "/api/v1/questions", want: signedIn(200), shows: to(secret["question body"], asOwner)},
		{route: "questions", method: "GET", path: fmt.Sprintf("/api/v1/questions/%d", f.question), want: expect{401, 404, 200, 200, 200, 200},
			shows: to(secret["question body"], asOtherTutor, asTutor, asAdmin, asOwner)},
		{route: "questions", method: "POST", path: "/api/v1/questions", want: signedIn(201),
			body: map[string]any{"lesson_id": f.freeLesson, "title": "walk", "body": "walk"}},
		{route: "tutor", method: "GET", path: "/api/v1/tutor/questions", want: expect{401, 403, 200, 200, 200, 403},
			shows: to(secret["question body"], asTutor)},
		{route: "tutor", method: "GET", path: "/api/v1/tutor/questions/pool", want: expect{401, 403, 200, 200, 200, 403},
			shows: to(secret["pooled question body"], asOtherTutor, asTutor, asAdmin)},
		{route: "tutor", method: "POST", path: fmt.Sprintf("/api/v1/tutor/questions/%d/take", f.pooledQuestion), want: expect{401, 403, 200, 409, 409, 403},
			intact: status(`SELECT status FROM questions WHERE id = $1`, f.pooledQuestion, learning.QuestionPooled)},
		{route: "tutor", method: "POST", path: fmt.Sprintf("/api/v1/tutor/questions/%d/answer", f.question), want: expect{401, 403, 403, 200, 409, 403},
			body:   map[string]string{"answer": "walk"},
			intact: status(`SELECT status FROM questions WHERE id = $1`, f.question, learning.QuestionAssigned)},

		// catalog and feature administration
		{route: "admin_courses", method: "POST", path: "/api/v1/admin/courses", want: adminOnly(201),
			body: map[string]any{"slug": "walk-course", "title": "Walk", "type": "practical", "category_id": f.category,
				"price_policies": []map[string]any{{"title": "forever", "price_fen": 9900, "original_price_fen": 19900}}}},
		{route: "admin_reorder", method: "POST", path: "/api/v1/admin/courses/reorder", want: adminOnly(200),
			body: map[string]any{"items": []map[string]int64{{"id": f.patchCourse, "sort_code": 7}}}},
		{route: "admin_course", method: "PATCH", path: fmt.Sprintf("/api/v1/admin/courses/%d", f.patchCourse), want: adminOnly(200),
			body: map[string]string{"title": "walked"}},
		{route: "admin_course", method: "DELETE", path: fmt.Sprintf("/api/v1/admin/courses/%d", f.deleteCourse), want: adminOnly(200),
			intact: status(`SELECT CASE WHEN deleted_at IS NULL THEN 'live' ELSE 'deleted' END FROM courses WHERE id = $1`, f.deleteCourse, "live")},
		{route: "admin_commerce", method: "GET", path: "/api/v1/admin/features", want: adminOnly(200)},
		{route: "admin_commerce", method: "PUT", path: "/api/v1/admin/features/judge", want: adminOnly(200),
			body: map[string]any{"enabled": true, "reason": "walk"}},
	}

	walked := map[string]bool{}
	requests := 0
	for _, row := range rows {
		name := row.method + " " + row.path
		changed := false
		for id := range numIdentities {
			token := f.token[id]
			if row.fresh && id != asAnonymous {
				token = f.login(t, identityUsers[id])
			}
			body := row.body
			if fn, ok := body.(func(identity) any); ok {
				body = fn(id)
			}
			before := routeCounts(f.srv)
			r := do(t, row.method, f.base+row.path, token, body, row.headers...)
			counted := countedRoute(before, routeCounts(f.srv))
			requests++
			if counted != row.route {
				t.Errorf("%s as %s: counted as %q, want %q", name, identityNames[id], counted, row.route)
			}
			walked[counted] = true
			if r.status != row.want[id] {
				t.Errorf("%s as %s: %d %.300s, want %d", name, identityNames[id], r.status, r.body, row.want[id])
			}
			if r.status >= 400 && (r.errorCode() == "" || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json")) {
				t.Errorf("%s as %s: %d is not a JSON error: %.300s", name, identityNames[id], r.status, r.body)
			}
			seen := append(fmt.Appendf(nil, "%v\n", r.header), r.body...)
			for _, m := range f.markers {
				if !slices.Contains(m.seenBy, id) && bytes.Contains(seen, []byte(m.text)) {
					t.Errorf("%s as %s: the response carries %s: %.500s", name, identityNames[id], m.what, r.body)
				}
			}
			if text, ok := row.shows[id]; ok && !bytes.Contains(r.body, []byte(text)) {
				t.Errorf("%s as %s: the answer does not carry what it should (%.40s): %.300s", name, identityNames[id], text, r.body)
			}
			changed = changed || r.status < 300
			if row.intact != nil && !changed {
				if err := row.intact(); err != nil {
					t.Errorf("%s as %s (%d) changed the owner's record: %v", name, identityNames[id], r.status, err)
				}
			}
		}
	}
	for _, label := range routeNames[1:] {
		if !walked[label] {
			t.Errorf("route %q has no row in the access walk: add one for each of its paths", label)
		}
	}
	t.Logf("access walk: %d rows over %d route labels × %d identities = %d requests", len(rows), len(walked), numIdentities, requests)
	if testing.Verbose() {
		fmt.Printf("access walk: %d rows over %d route labels × %d identities = %d requests\n", len(rows), len(walked), numIdentities, requests)
	}
}

// routeCounts reads the origin's request counter by route label, summed over statuses.
func routeCounts(s *Server) map[string]float64 {
	ch := make(chan prometheus.Metric, 64)
	go func() {
		s.metrics.requests.Collect(ch)
		close(ch)
	}()
	out := map[string]float64{}
	for m := range ch {
		var d dto.Metric
		if m.Write(&d) != nil {
			continue
		}
		for _, l := range d.GetLabel() {
			if l.GetName() == "route" {
				out[l.GetValue()] += d.GetCounter().GetValue()
			}
		}
	}
	return out
}

// countedRoute names the one route counted once between two readings of routeCounts,
// or describes what was counted instead.
func countedRoute(before, after map[string]float64) string {
	var grew []string
	for label, n := range after {
		if d := n - before[label]; d != 0 {
			grew = append(grew, fmt.Sprintf("%s+%g", label, d))
		}
	}
	if len(grew) == 1 && strings.HasSuffix(grew[0], "+1") {
		return strings.TrimSuffix(grew[0], "+1")
	}
	slices.Sort(grew)
	return "[" + strings.Join(grew, " ") + "]"
}
