package origin

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/luffy-edu/luffy/accounts"
	"github.com/luffy-edu/luffy/features"
	"github.com/luffy-edu/luffy/learning"
	"github.com/luffy-edu/luffy/notify"
	"github.com/luffy-edu/luffy/orders"
	"github.com/luffy-edu/luffy/points"
)

// The commerce and learning API: cart, orders and the payment callback, points,
// notifications, homework and questions. Business rules live in orders, points,
// learning and notify; this file only maps HTTP to them.

const (
	ordersPrefix        = "/api/v1/orders/"
	cartItemsPrefix     = "/api/v1/cart/items/"
	notificationsPrefix = "/api/v1/notifications/"
	homeworkPrefix      = "/api/v1/homework/"
	questionsPrefix     = "/api/v1/questions/"
	tutorSubPrefix      = "/api/v1/tutor/submissions/"
	tutorQPrefix        = "/api/v1/tutor/questions/"
	adminTutorPrefix    = "/api/v1/admin/course-tutors/"
	adminOrdersPrefix   = "/api/v1/admin/orders/"
	adminCouponsPrefix  = "/api/v1/admin/coupons/"
	maxHomeworkFiles    = 10
)

// dispatchCommerce routes the commerce and learning paths; ok is false for other paths.
func (s *Server) dispatchCommerce(ctx *fasthttp.RequestCtx, path []byte) (route, bool) {
	switch string(path) {
	case "/api/v1/cart":
		if s.allow(ctx, "GET", methodGet) {
			s.serveCart(ctx)
		}
		return routeCart, true
	case "/api/v1/cart/items":
		if s.allow(ctx, "POST", methodPost) {
			s.serveCartAdd(ctx)
		}
		return routeCart, true
	case "/api/v1/orders":
		if s.allow(ctx, "GET, POST", methodGet, methodPost) {
			if string(ctx.Method()) == "POST" {
				s.serveCreateOrder(ctx)
			} else {
				s.serveOrders(ctx)
			}
		}
		return routeOrders, true
	case "/api/v1/payments/callback":
		if s.allow(ctx, "POST", methodPost) {
			s.serveCallback(ctx)
		}
		return routePaymentCallback, true
	case "/api/v1/points":
		if s.allow(ctx, "GET", methodGet) {
			s.servePoints(ctx)
		}
		return routePoints, true
	case "/api/v1/points/ledger":
		if s.allow(ctx, "GET", methodGet) {
			s.servePointsLedger(ctx)
		}
		return routePoints, true
	case "/api/v1/points/redeem":
		if s.allow(ctx, "POST", methodPost) {
			s.serveRedeem(ctx)
		}
		return routePoints, true
	case "/api/v1/admin/coupons":
		if s.allow(ctx, "GET, POST", methodGet, methodPost) {
			if string(ctx.Method()) == "POST" {
				s.serveCreateCoupon(ctx)
			} else {
				s.serveAdminCoupons(ctx)
			}
		}
		return routeAdminCommerce, true
	case "/api/v1/coupons":
		if s.allow(ctx, "GET", methodGet) {
			s.serveCouponsForSale(ctx)
		}
		return routePoints, true
	case "/api/v1/coupons/mine":
		if s.allow(ctx, "GET", methodGet) {
			s.serveMyCoupons(ctx)
		}
		return routePoints, true
	case "/api/v1/notifications":
		if s.allow(ctx, "GET", methodGet) {
			s.serveNotifications(ctx)
		}
		return routeNotifications, true
	case "/api/v1/notifications/read-all":
		if s.allow(ctx, "POST", methodPost) {
			s.serveMarkRead(ctx, 0)
		}
		return routeNotifications, true
	case "/api/v1/questions":
		if s.allow(ctx, "GET, POST", methodGet, methodPost) {
			if string(ctx.Method()) == "POST" {
				s.serveAsk(ctx)
			} else {
				s.serveMyQuestions(ctx)
			}
		}
		return routeQuestions, true
	case "/api/v1/tutor/homework-queue":
		if s.allow(ctx, "GET", methodGet) {
			serveTutorList(s, ctx, s.learning.TutorQueue)
		}
		return routeTutor, true
	case "/api/v1/tutor/questions":
		if s.allow(ctx, "GET", methodGet) {
			serveTutorList(s, ctx, s.learning.TutorQuestions)
		}
		return routeTutor, true
	case "/api/v1/tutor/questions/pool":
		if s.allow(ctx, "GET", methodGet) {
			serveTutorList(s, ctx, func(c context.Context, _ int64, limit int) ([]learning.Question, error) {
				return s.learning.Pool(c, limit)
			})
		}
		return routeTutor, true
	}
	if rest, ok := cutPrefix(path, ordersPrefix); ok {
		if id, ok := bytes.CutSuffix(rest, []byte("/cancel")); ok {
			if s.allow(ctx, "POST", methodPost) {
				s.serveCancelOrder(ctx, parseIDBytes(id))
			}
			return routeOrder, true
		}
		if s.allow(ctx, "GET", methodGet) {
			s.serveOrder(ctx, parseIDBytes(rest))
		}
		return routeOrder, true
	}
	if rest, ok := cutPrefix(path, cartItemsPrefix); ok {
		if s.allow(ctx, "DELETE", methodDelete) {
			s.serveCartRemove(ctx, parseIDBytes(rest))
		}
		return routeCart, true
	}
	if rest, ok := cutPrefix(path, notificationsPrefix); ok {
		if id, ok := bytes.CutSuffix(rest, []byte("/read")); ok && parseIDBytes(id) > 0 {
			if s.allow(ctx, "POST", methodPost) {
				s.serveMarkRead(ctx, parseIDBytes(id))
			}
			return routeNotifications, true
		}
	}
	if rest, ok := cutPrefix(path, homeworkPrefix); ok {
		if id, ok := bytes.CutPrefix(rest, []byte("files/")); ok {
			if s.allow(ctx, "GET", methodGet) {
				s.serveHomeworkFile(ctx, parseIDBytes(id))
			}
			return routeHomework, true
		}
		if id, ok := bytes.CutSuffix(rest, []byte("/submissions")); ok {
			if s.allow(ctx, "GET, POST", methodGet, methodPost) {
				if string(ctx.Method()) == "POST" {
					s.serveSubmitHomework(ctx, parseIDBytes(id))
				} else {
					s.serveHomeworkSubmissions(ctx, parseIDBytes(id))
				}
			}
			return routeHomework, true
		}
	}
	if rest, ok := cutPrefix(path, questionsPrefix); ok {
		if s.allow(ctx, "GET", methodGet) {
			s.serveQuestion(ctx, parseIDBytes(rest))
		}
		return routeQuestions, true
	}
	if rest, ok := cutPrefix(path, tutorSubPrefix); ok {
		if id, ok := bytes.CutSuffix(rest, []byte("/grade")); ok {
			if s.allow(ctx, "POST", methodPost) {
				s.serveGrade(ctx, parseIDBytes(id))
			}
			return routeTutor, true
		}
	}
	if rest, ok := cutPrefix(path, tutorQPrefix); ok {
		if id, ok := bytes.CutSuffix(rest, []byte("/take")); ok {
			if s.allow(ctx, "POST", methodPost) {
				s.serveTake(ctx, parseIDBytes(id))
			}
			return routeTutor, true
		}
		if id, ok := bytes.CutSuffix(rest, []byte("/answer")); ok {
			if s.allow(ctx, "POST", methodPost) {
				s.serveAnswer(ctx, parseIDBytes(id))
			}
			return routeTutor, true
		}
	}
	if rest, ok := cutPrefix(path, adminCouponsPrefix); ok {
		if s.allow(ctx, "PATCH", methodPatch) {
			s.serveSetCouponStatus(ctx, parseIDBytes(rest))
		}
		return routeAdminCommerce, true
	}
	if rest, ok := cutPrefix(path, adminOrdersPrefix); ok {
		if id, ok := bytes.CutSuffix(rest, []byte("/refund")); ok {
			if s.allow(ctx, "POST", methodPost) {
				s.serveRefund(ctx, parseIDBytes(id))
			}
			return routeAdminCommerce, true
		}
	}
	if rest, ok := cutPrefix(path, adminTutorPrefix); ok {
		if s.allow(ctx, "PUT", methodPut) {
			s.serveAssignTutor(ctx, parseIDBytes(rest))
		}
		return routeAdminCommerce, true
	}
	return routeUnknown, false
}

// isHomeworkUpload says whether a request carries homework files, which may be larger
// than other bodies.
func isHomeworkUpload(method, path []byte) bool {
	rest, ok := cutPrefix(path, homeworkPrefix)
	return ok && string(method) == "POST" && bytes.HasSuffix(rest, []byte("/submissions"))
}

var errNoSuchRecord = &apiError{fasthttp.StatusNotFound, "not_found", "no such record"}

// --- cart and orders ---

func (s *Server) serveCart(ctx *fasthttp.RequestCtx) {
	u, ok := s.user(ctx)
	if !ok {
		return
	}
	lines, err := s.shop.Cart(s.dbctx(ctx), u.ID)
	if err != nil {
		s.fail(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, map[string]any{"items": lines})
}

func (s *Server) serveCartAdd(ctx *fasthttp.RequestCtx) {
	u, ok := s.user(ctx)
	if !ok {
		return
	}
	var in orders.Item
	if err := decodeJSON(ctx, &in); err != nil {
		s.fail(ctx, err)
		return
	}
	if err := s.shop.CartAdd(s.dbctx(ctx), u.ID, in.CourseID, in.PricePolicyID); err != nil {
		s.fail(ctx, err)
		return
	}
	s.serveCart(ctx)
}

func (s *Server) serveCartRemove(ctx *fasthttp.RequestCtx, courseID int64) {
	u, ok := s.user(ctx)
	if !ok {
		return
	}
	if err := s.shop.CartRemove(s.dbctx(ctx), u.ID, courseID); err != nil {
		s.fail(ctx, err)
		return
	}
	s.serveCart(ctx)
}

func (s *Server) serveCreateOrder(ctx *fasthttp.RequestCtx) {
	if s.featureOff(ctx, features.Orders) {
		return
	}
	u, ok := s.user(ctx)
	if !ok {
		return
	}
	key := string(ctx.Request.Header.Peek("Idempotency-Key"))
	if key == "" || len(key) > 128 {
		writeError(ctx, errf(fasthttp.StatusBadRequest, "invalid_idempotency_key", "send an Idempotency-Key header of 1 to 128 characters"))
		return
	}
	var in orders.CreateRequest
	if err := decodeJSON(ctx, &in); err != nil {
		s.fail(ctx, err)
		return
	}
	o, created, err := s.shop.Create(s.dbctx(ctx), u.ID, key, in)
	if err != nil {
		s.fail(ctx, err)
		return
	}
	status := fasthttp.StatusOK
	if created {
		status = fasthttp.StatusCreated
	}
	writeJSON(ctx, status, o)
}

func (s *Server) serveOrders(ctx *fasthttp.RequestCtx) {
	u, ok := s.user(ctx)
	if !ok {
		return
	}
	before, limit, err := listArgs(ctx, 0)
	if err != nil {
		s.fail(ctx, err)
		return
	}
	list, err := s.shop.List(s.dbctx(ctx), u.ID, before, limit+1)
	if err != nil {
		s.fail(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, newPage(list, limit, func(o orders.Order) int64 { return o.ID }))
}

func (s *Server) serveOrder(ctx *fasthttp.RequestCtx, id int64) {
	u, ok := s.user(ctx)
	if !ok {
		return
	}
	if id <= 0 {
		writeError(ctx, errNoSuchRecord)
		return
	}
	o, err := s.shop.Get(s.dbctx(ctx), u.ID, id)
	if err != nil {
		s.fail(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, o)
}

func (s *Server) serveCancelOrder(ctx *fasthttp.RequestCtx, id int64) {
	u, ok := s.user(ctx)
	if !ok {
		return
	}
	if id <= 0 {
		writeError(ctx, errNoSuchRecord)
		return
	}
	o, err := s.shop.Cancel(s.dbctx(ctx), u.ID, id)
	if err != nil {
		s.fail(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, o)
}

// serveRefund returns a paid order's money (admin only): the gateway refunds the trade,
// the courses are revoked and the points settled back.
func (s *Server) serveRefund(ctx *fasthttp.RequestCtx, id int64) {
	if _, ok := s.user(ctx, accounts.RoleAdmin); !ok {
		return
	}
	var in struct {
		Reason string `json:"reason"`
	}
	if err := decodeJSON(ctx, &in); err != nil {
		s.fail(ctx, err)
		return
	}
	if in.Reason == "" || len(in.Reason) > 500 {
		writeError(ctx, errf(fasthttp.StatusBadRequest, "invalid_reason", "reason must be 1 to 500 characters"))
		return
	}
	if id <= 0 {
		writeError(ctx, errNoSuchRecord)
		return
	}
	o, err := s.shop.Refund(s.dbctx(ctx), id, in.Reason)
	if err != nil {
		s.fail(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, o)
}

// serveMyCourses lists the courses the user may watch now.
func (s *Server) serveMyCourses(ctx *fasthttp.RequestCtx) {
	u, ok := s.user(ctx)
	if !ok {
		return
	}
	list, err := s.enrollments.Mine(s.dbctx(ctx), u.ID)
	if err != nil {
		s.fail(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, map[string]any{"items": list})
}

// serveCallback is the payment gateway's notification: its signature is checked on the
// raw body, before anything is parsed.
func (s *Server) serveCallback(ctx *fasthttp.RequestCtx) {
	outcome, err := s.shop.HandleCallback(s.dbctx(ctx), ctx.PostBody(), string(ctx.Request.Header.Peek("X-Luffy-Signature")))
	if err != nil {
		label := "error"
		if errors.Is(err, orders.ErrBadSignature) {
			label = "bad_signature"
		}
		s.metrics.callbacks.WithLabelValues(label).Inc()
		s.fail(ctx, err)
		return
	}
	s.metrics.callbacks.WithLabelValues(outcome).Inc()
	writeJSON(ctx, fasthttp.StatusOK, map[string]string{"outcome": outcome})
}

// --- points ---

func (s *Server) servePoints(ctx *fasthttp.RequestCtx) {
	u, ok := s.user(ctx)
	if !ok {
		return
	}
	b, err := points.BalanceOf(s.dbctx(ctx), s.pool, u.ID)
	if err != nil {
		s.fail(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, map[string]int64{"available": b.Available, "pending": b.Pending, "posted": b.Posted})
}

func (s *Server) servePointsLedger(ctx *fasthttp.RequestCtx) {
	u, ok := s.user(ctx)
	if !ok {
		return
	}
	before, limit, err := listArgs(ctx, 0)
	if err != nil {
		s.fail(ctx, err)
		return
	}
	list, err := points.History(s.dbctx(ctx), s.pool, u.ID, before, limit+1)
	if err != nil {
		s.fail(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, newPage(list, limit, func(e points.Entry) int64 { return e.ID }))
}

func (s *Server) serveRedeem(ctx *fasthttp.RequestCtx) {
	u, ok := s.user(ctx)
	if !ok {
		return
	}
	var in struct {
		CouponID int64  `json:"coupon_id"`
		ClientID string `json:"client_id"`
	}
	if err := decodeJSON(ctx, &in); err != nil {
		s.fail(ctx, err)
		return
	}
	if in.ClientID == "" || len(in.ClientID) > 40 {
		writeError(ctx, errf(fasthttp.StatusBadRequest, "invalid_client_id", "client_id must be 1 to 40 characters, unique per redemption"))
		return
	}
	uc, err := s.shop.BuyCouponWithPoints(s.dbctx(ctx), u.ID, in.CouponID, "redeem:"+strconv.FormatInt(u.ID, 10)+":"+in.ClientID)
	if err != nil {
		s.fail(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusCreated, uc)
}

func (s *Server) serveCreateCoupon(ctx *fasthttp.RequestCtx) {
	if _, ok := s.user(ctx, accounts.RoleAdmin); !ok {
		return
	}
	var in orders.Coupon
	if err := decodeJSON(ctx, &in); err != nil {
		s.fail(ctx, err)
		return
	}
	c, err := s.shop.CreateCoupon(s.dbctx(ctx), in)
	if err != nil {
		s.fail(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusCreated, c)
}

func (s *Server) serveAdminCoupons(ctx *fasthttp.RequestCtx) {
	if _, ok := s.user(ctx, accounts.RoleAdmin); !ok {
		return
	}
	before, limit, err := listArgs(ctx, 0)
	if err != nil {
		s.fail(ctx, err)
		return
	}
	list, err := s.shop.Coupons(s.dbctx(ctx), before, limit+1)
	if err != nil {
		s.fail(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, newPage(list, limit, func(c orders.Coupon) int64 { return c.ID }))
}

func (s *Server) serveSetCouponStatus(ctx *fasthttp.RequestCtx, id int64) {
	if _, ok := s.user(ctx, accounts.RoleAdmin); !ok {
		return
	}
	var in struct {
		Status string `json:"status"`
	}
	if err := decodeJSON(ctx, &in); err != nil {
		s.fail(ctx, err)
		return
	}
	if id <= 0 {
		writeError(ctx, errNoSuchRecord)
		return
	}
	c, err := s.shop.SetCouponStatus(s.dbctx(ctx), id, in.Status)
	if err != nil {
		s.fail(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, c)
}

// serveCouponsForSale lists the coupons points can buy; anyone may look.
func (s *Server) serveCouponsForSale(ctx *fasthttp.RequestCtx) {
	list, err := s.shop.CouponsForSale(s.dbctx(ctx))
	if err != nil {
		s.fail(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, map[string]any{"items": list})
}

func (s *Server) serveMyCoupons(ctx *fasthttp.RequestCtx) {
	u, ok := s.user(ctx)
	if !ok {
		return
	}
	list, err := s.shop.UserCoupons(s.dbctx(ctx), u.ID)
	if err != nil {
		s.fail(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, map[string]any{"items": list})
}

// --- notifications ---

func (s *Server) serveNotifications(ctx *fasthttp.RequestCtx) {
	u, ok := s.user(ctx)
	if !ok {
		return
	}
	before, limit, err := listArgs(ctx, 0)
	if err != nil {
		s.fail(ctx, err)
		return
	}
	list, err := notify.List(s.dbctx(ctx), s.pool, u.ID, before, limit+1)
	if err != nil {
		s.fail(ctx, err)
		return
	}
	unread, err := notify.Unread(s.dbctx(ctx), s.pool, u.ID)
	if err != nil {
		s.fail(ctx, err)
		return
	}
	p := newPage(list, limit, func(n notify.Notice) int64 { return n.ID })
	writeJSON(ctx, fasthttp.StatusOK, map[string]any{"items": p.Items, "next_cursor": p.NextCursor, "unread": unread})
}

func (s *Server) serveMarkRead(ctx *fasthttp.RequestCtx, id int64) {
	u, ok := s.user(ctx)
	if !ok {
		return
	}
	if err := notify.MarkRead(s.dbctx(ctx), s.pool, u.ID, id); err != nil {
		s.fail(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, map[string]bool{"ok": true})
}

// --- homework ---

func (s *Server) serveSubmitHomework(ctx *fasthttp.RequestCtx, homeworkID int64) {
	if s.featureOff(ctx, features.HomeworkUploads) {
		return
	}
	u, ok := s.user(ctx)
	if !ok {
		return
	}
	if homeworkID <= 0 {
		writeError(ctx, errNoSuchRecord)
		return
	}
	var text string
	var files []learning.File
	if bytes.HasPrefix(ctx.Request.Header.ContentType(), []byte("multipart/form-data")) {
		form, err := ctx.MultipartForm()
		if err != nil {
			writeError(ctx, errf(fasthttp.StatusBadRequest, "malformed_form", "the multipart form could not be read"))
			return
		}
		// An unknown part is refused, as unknown JSON fields are: files sent as "file"
		// instead of "files" would otherwise be dropped without a word.
		for name := range form.Value {
			if name != "text" {
				writeError(ctx, errf(fasthttp.StatusBadRequest, "malformed_form", "unknown form field %q; the form takes text and files", name))
				return
			}
		}
		for name := range form.File {
			if name != "files" {
				writeError(ctx, errf(fasthttp.StatusBadRequest, "malformed_form", "unknown form field %q; the form takes text and files", name))
				return
			}
		}
		if v := form.Value["text"]; len(v) > 0 {
			text = v[0]
		}
		if len(form.File["files"]) > maxHomeworkFiles {
			writeError(ctx, errf(fasthttp.StatusBadRequest, "invalid_files", "at most %d files", maxHomeworkFiles))
			return
		}
		for _, fh := range form.File["files"] {
			data, err := readPart(fh)
			if err != nil {
				writeError(ctx, errf(fasthttp.StatusBadRequest, "invalid_files", "file %q could not be read", fh.Filename))
				return
			}
			files = append(files, learning.File{Name: fh.Filename, Data: data})
		}
	} else {
		var in struct {
			Text string `json:"text"`
		}
		if err := decodeJSON(ctx, &in); err != nil {
			s.fail(ctx, err)
			return
		}
		text = in.Text
	}
	sub, err := s.learning.Submit(s.dbctx(ctx), u.ID, homeworkID, text, files)
	if err != nil {
		s.fail(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusCreated, sub)
}

func readPart(fh *multipart.FileHeader) ([]byte, error) {
	f, err := fh.Open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

func (s *Server) serveHomeworkSubmissions(ctx *fasthttp.RequestCtx, homeworkID int64) {
	u, ok := s.user(ctx)
	if !ok {
		return
	}
	if homeworkID <= 0 {
		writeError(ctx, errNoSuchRecord)
		return
	}
	list, err := s.learning.Submissions(s.dbctx(ctx), u.ID, homeworkID)
	if err != nil {
		s.fail(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, map[string]any{"items": list})
}

// serveHomeworkFile sends a submitted file to its student, the course's tutor or an
// admin, as a download: never rendered inline, never sniffed into another type.
func (s *Server) serveHomeworkFile(ctx *fasthttp.RequestCtx, fileID int64) {
	u, ok := s.user(ctx)
	if !ok {
		return
	}
	if fileID <= 0 {
		writeError(ctx, errNoSuchRecord)
		return
	}
	a, body, err := s.learning.File(s.dbctx(ctx), u.ID, u.Role == accounts.RoleAdmin, fileID)
	if err != nil {
		s.fail(ctx, err)
		return
	}
	ctx.SetContentType(a.ContentType)
	ctx.Response.Header.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": a.Name}))
	ctx.Response.Header.Set("X-Content-Type-Options", "nosniff")
	ctx.Response.Header.Set("Cache-Control", "private, no-store")
	ctx.SetBodyStream(body, int(a.Size)) // fasthttp closes body when sent
}

func (s *Server) serveGrade(ctx *fasthttp.RequestCtx, submissionID int64) {
	u, ok := s.user(ctx, accounts.RoleTutor, accounts.RoleAdmin)
	if !ok {
		return
	}
	var in struct {
		Score   int                  `json:"score"`
		Comment string               `json:"comment"`
		Rubric  []learning.Criterion `json:"rubric"`
	}
	if err := decodeJSON(ctx, &in); err != nil {
		s.fail(ctx, err)
		return
	}
	sub, err := s.learning.Grade(s.dbctx(ctx), u.ID, u.Role == accounts.RoleAdmin, submissionID, in.Score, in.Comment, in.Rubric)
	if err != nil {
		s.fail(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, sub)
}

// --- questions ---

func (s *Server) serveAsk(ctx *fasthttp.RequestCtx) {
	u, ok := s.user(ctx)
	if !ok {
		return
	}
	var in struct {
		LessonID int64  `json:"lesson_id"`
		Title    string `json:"title"`
		Body     string `json:"body"`
	}
	if err := decodeJSON(ctx, &in); err != nil {
		s.fail(ctx, err)
		return
	}
	q, err := s.learning.Ask(s.dbctx(ctx), u.ID, in.LessonID, in.Title, in.Body)
	if err != nil {
		s.fail(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusCreated, q)
}

func (s *Server) serveMyQuestions(ctx *fasthttp.RequestCtx) {
	u, ok := s.user(ctx)
	if !ok {
		return
	}
	list, err := s.learning.MyQuestions(s.dbctx(ctx), u.ID)
	if err != nil {
		s.fail(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, map[string]any{"items": list})
}

func (s *Server) serveQuestion(ctx *fasthttp.RequestCtx, id int64) {
	u, ok := s.user(ctx)
	if !ok {
		return
	}
	q, err := s.learning.Question(s.dbctx(ctx), u.ID, id)
	if errors.Is(err, learning.ErrForbidden) {
		// another student's question is not there for them, so that ids cannot be probed
		err = learning.ErrNotFound
	}
	if err != nil {
		s.fail(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, q)
}

// serveTutorList answers a tutor's (or an admin's) list, which read gives for them and
// the request's ?limit: the homework queue, the questions they hold, the public pool.
func serveTutorList[T any](s *Server, ctx *fasthttp.RequestCtx, read func(c context.Context, tutorID int64, limit int) ([]T, error)) {
	u, ok := s.user(ctx, accounts.RoleTutor, accounts.RoleAdmin)
	if !ok {
		return
	}
	limit, err := pageLimit(ctx.QueryArgs().Peek("limit"))
	if err != nil {
		s.fail(ctx, err)
		return
	}
	list, err := read(s.dbctx(ctx), u.ID, limit)
	if err != nil {
		s.fail(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, map[string]any{"items": list})
}

func (s *Server) serveTake(ctx *fasthttp.RequestCtx, id int64) {
	u, ok := s.user(ctx, accounts.RoleTutor, accounts.RoleAdmin)
	if !ok {
		return
	}
	q, err := s.learning.Take(s.dbctx(ctx), u.ID, id)
	if err != nil {
		s.fail(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, q)
}

func (s *Server) serveAnswer(ctx *fasthttp.RequestCtx, id int64) {
	u, ok := s.user(ctx, accounts.RoleTutor, accounts.RoleAdmin)
	if !ok {
		return
	}
	var in struct {
		Answer string `json:"answer"`
	}
	if err := decodeJSON(ctx, &in); err != nil {
		s.fail(ctx, err)
		return
	}
	q, err := s.learning.Answer(s.dbctx(ctx), u.ID, u.Role == accounts.RoleAdmin, id, in.Answer)
	if err != nil {
		s.fail(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, q)
}

func (s *Server) serveAssignTutor(ctx *fasthttp.RequestCtx, courseID int64) {
	if _, ok := s.user(ctx, accounts.RoleAdmin); !ok {
		return
	}
	var in struct {
		TutorID int64 `json:"tutor_id"`
	}
	if err := decodeJSON(ctx, &in); err != nil {
		s.fail(ctx, err)
		return
	}
	if err := s.learning.AssignTutor(s.dbctx(ctx), courseID, in.TutorID); err != nil {
		s.fail(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, map[string]int64{"course_id": courseID, "tutor_id": in.TutorID})
}

// classifyCommerce maps the commerce and learning errors; classify calls it.
func classifyCommerce(err error) *apiError {
	var oe *orders.InputError
	var le *learning.InputError
	switch {
	case errors.As(err, &oe):
		return errf(fasthttp.StatusBadRequest, "invalid_"+oe.Field, "%s", oe.Error())
	case errors.As(err, &le):
		return errf(fasthttp.StatusBadRequest, "invalid_"+le.Field, "%s", le.Error())
	case errors.Is(err, orders.ErrNotFound), errors.Is(err, learning.ErrNotFound), errors.Is(err, notify.ErrNotFound), errors.Is(err, points.ErrNotFound):
		return errNoSuchRecord
	case errors.Is(err, orders.ErrIdempotencyMismatch):
		return errf(fasthttp.StatusUnprocessableEntity, "idempotency_key_reused", "%s", err.Error())
	case errors.Is(err, orders.ErrNotPending):
		return errf(fasthttp.StatusConflict, "not_pending", "%s", err.Error())
	case errors.Is(err, orders.ErrCouponUnavailable):
		return errf(fasthttp.StatusConflict, "coupon_unavailable", "%s", err.Error())
	case errors.Is(err, orders.ErrInsufficientPoints), errors.Is(err, points.ErrInsufficient):
		return errf(fasthttp.StatusConflict, "insufficient_points", "%s", err.Error())
	case errors.Is(err, points.ErrClientIDReused):
		return errf(fasthttp.StatusUnprocessableEntity, "client_id_reused", "%s", err.Error())
	case errors.Is(err, orders.ErrBadSignature):
		return errf(fasthttp.StatusUnauthorized, "bad_signature", "%s", err.Error())
	case errors.Is(err, orders.ErrGateway):
		return errf(fasthttp.StatusBadGateway, "gateway_error", "the payment gateway did not refund: try again later")
	case errors.Is(err, orders.ErrEmpty):
		return errf(fasthttp.StatusBadRequest, "empty_order", "%s", err.Error())
	case errors.Is(err, learning.ErrForbidden):
		return errf(fasthttp.StatusForbidden, "forbidden", "%s", err.Error())
	case errors.Is(err, learning.ErrConflict):
		return errf(fasthttp.StatusConflict, "conflict", "%s", err.Error())
	}
	return nil
}
