package origin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/luffy-edu/luffy/accounts"
	"github.com/luffy-edu/luffy/features"
	"github.com/luffy-edu/luffy/judge"
	"github.com/luffy-edu/luffy/judge/testzip"
)

const (
	problemsPrefix      = "/api/v1/problems/"
	submissionsPrefix   = "/api/v1/submissions/"
	adminProblemsPrefix = "/api/v1/admin/problems/"

	// Problems are not announced on catalog_changed, so nothing purges them: a short
	// max-age is how long an edited statement may look old.
	problemsCacheControl = "public, max-age=30"

	// maxSubmitBody fits a source of judge.MaxSourceBytes even when JSON escaping
	// triples it (quotes, backslashes, tabs and newlines are two bytes each).
	maxSubmitBody = 3*judge.MaxSourceBytes + 1<<10

	defaultPageSize = 20
	maxPageSize     = 100

	// uploadTimeout bounds reading and storing a test archive, which may be tens of MiB
	// over an admin's office uplink: the ordinary request timeouts would cut it off.
	uploadTimeout = 5 * time.Minute

	// rateLimitWindow is the window of judge.Store.SubmitPerMinute, for Retry-After.
	rateLimitWindow = "60"
)

var methodPut = []byte("PUT")

// cutPrefix is bytes.CutPrefix for a string prefix, without converting either side.
func cutPrefix(path []byte, prefix string) ([]byte, bool) {
	if len(path) < len(prefix) || string(path[:len(prefix)]) != prefix {
		return nil, false
	}
	return path[len(prefix):], true
}

// dispatchJudge routes the judge's paths that carry an id; ok is false for other paths.
func (s *Server) dispatchJudge(ctx *fasthttp.RequestCtx, path []byte) (r route, ok bool) {
	if rest, ok := cutPrefix(path, problemsPrefix); ok && len(rest) > 0 {
		if s.allow(ctx, "GET, HEAD", methodGet, methodHead) {
			s.serveProblem(ctx, string(rest))
		}
		return routeProblem, true
	}
	if rest, ok := cutPrefix(path, submissionsPrefix); ok && len(rest) > 0 {
		if id, ok := bytes.CutSuffix(rest, []byte("/events")); ok {
			if s.allow(ctx, "GET", methodGet) {
				s.serveSubmissionEvents(ctx, id)
			}
			return routeSubmissionEvents, true
		}
		if s.allow(ctx, "GET", methodGet) {
			s.serveSubmission(ctx, rest)
		}
		return routeSubmission, true
	}
	if rest, ok := cutPrefix(path, adminProblemsPrefix); ok {
		id, ok := bytes.CutSuffix(rest, []byte("/tests"))
		if !ok || len(id) == 0 {
			writeError(ctx, errRouteNotFound)
			return routeUnknown, true
		}
		if s.allow(ctx, "PUT", methodPut) {
			s.serveUploadTests(ctx, id)
		}
		return routeAdminProblemTests, true
	}
	return routeUnknown, false
}

// isTestsUpload says whether a request is PUT /api/v1/admin/problems/{id}/tests, the one
// route whose body may exceed MaxBodyBytes.
func isTestsUpload(method, path []byte) bool {
	rest, ok := cutPrefix(path, adminProblemsPrefix)
	return ok && string(method) == "PUT" && len(rest) > len("/tests") && bytes.HasSuffix(rest, []byte("/tests"))
}

// requestConfig sets the body limit once the headers are read and before the body is:
// only a test upload may send up to MaxUploadBytes, so no other route buffers that much.
// It sees the raw request URI; a path that matches here but not once normalized is
// refused by dispatch instead.
func (s *Server) requestConfig(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	uri := h.RequestURI()
	if i := bytes.IndexByte(uri, '?'); i >= 0 {
		uri = uri[:i]
	}
	if isTestsUpload(h.Method(), uri) || isHomeworkUpload(h.Method(), uri) {
		return fasthttp.RequestConfig{MaxRequestBodySize: int(s.cfg.MaxUploadBytes), ReadTimeout: max(s.cfg.ReadTimeout, uploadTimeout)}
	}
	return fasthttp.RequestConfig{MaxRequestBodySize: s.cfg.MaxBodyBytes}
}

// pageLimit reads a list's limit parameter: absent means the default, above the maximum
// is capped.
func pageLimit(raw []byte) (int, error) {
	if len(raw) == 0 {
		return defaultPageSize, nil
	}
	n := parseIDBytes(raw)
	if n <= 0 {
		return 0, &judge.InputError{Field: "limit", Reason: "must be an integer from 1 to " + strconv.Itoa(maxPageSize)}
	}
	return int(min(n, maxPageSize)), nil
}

// pageCursor reads a list's cursor, an id this server handed out as next_cursor; absent
// gives def.
func pageCursor(raw []byte, def int64) (int64, error) {
	if len(raw) == 0 {
		return def, nil
	}
	id := parseIDBytes(raw)
	if id <= 0 {
		return 0, &judge.InputError{Field: "cursor", Reason: "not a cursor this server issued"}
	}
	return id, nil
}

// listArgs reads a list request's cursor (def when absent) and limit.
func listArgs(ctx *fasthttp.RequestCtx, def int64) (cursor int64, limit int, err error) {
	args := ctx.QueryArgs()
	if cursor, err = pageCursor(args.Peek("cursor"), def); err != nil {
		return 0, 0, err
	}
	limit, err = pageLimit(args.Peek("limit"))
	return cursor, limit, err
}

// page is a list answer: next_cursor is the last item's id when more may follow, else null.
type page[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// newPage makes the answer from up to limit+1 items, the extra one only saying that
// there is a next page.
func newPage[T any](items []T, limit int, id func(T) int64) page[T] {
	p := page[T]{Items: items}
	if p.Items == nil {
		p.Items = []T{}
	}
	if len(p.Items) > limit {
		p.Items = p.Items[:limit]
		c := strconv.FormatInt(id(p.Items[limit-1]), 10)
		p.NextCursor = &c
	}
	return p
}

func (s *Server) serveProblems(ctx *fasthttp.RequestCtx) {
	after, limit, err := listArgs(ctx, 0)
	if err != nil {
		s.fail(ctx, err)
		return
	}
	items, err := s.judge.Problems(s.dbctx(ctx), after, limit+1)
	if err != nil {
		s.fail(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, newPage(items, limit, func(p judge.ProblemSummary) int64 { return p.ID }))
	ctx.Response.Header.Set("Cache-Control", problemsCacheControl)
}

func (s *Server) serveProblem(ctx *fasthttp.RequestCtx, idOrSlug string) {
	if _, err := strconv.ParseInt(idOrSlug, 10, 64); err == nil && parseIDBytes([]byte(idOrSlug)) <= 0 {
		// "01" and "+1" are not more names of problem 1, each a page of its own in caches
		s.fail(ctx, judge.ErrNotFound)
		return
	}
	p, err := s.judge.Problem(s.dbctx(ctx), idOrSlug)
	if err != nil {
		s.fail(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, p)
	ctx.Response.Header.Set("Cache-Control", problemsCacheControl)
}

type submitRequest struct {
	// Problem is an id (a JSON number) or a slug (a JSON string).
	Problem  json.RawMessage `json:"problem"`
	Language string          `json:"language"`
	Source   string          `json:"source"`
}

// problemRef turns the problem of a submission, a number or a string, into what
// judge.Store.Problem looks up.
func problemRef(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", &judge.InputError{Field: "problem", Reason: "is required"}
	}
	bad := &judge.InputError{Field: "problem", Reason: "must be a problem's id (a number) or slug (a string)"}
	if raw[0] == '"' {
		var slug string
		if json.Unmarshal(raw, &slug) != nil || slug == "" {
			return "", bad
		}
		return slug, nil
	}
	if parseIDBytes(raw) <= 0 {
		return "", bad
	}
	return string(raw), nil
}

func (s *Server) serveSubmit(ctx *fasthttp.RequestCtx) {
	if s.featureOff(ctx, features.Judge) {
		return
	}
	u, ok := s.user(ctx)
	if !ok {
		return
	}
	var in submitRequest
	if err := decodeJSONUpTo(ctx, &in, maxSubmitBody); err != nil {
		s.fail(ctx, err)
		return
	}
	problem, err := problemRef(in.Problem)
	if err != nil {
		s.fail(ctx, err)
		return
	}
	v, err := s.judge.Submit(s.dbctx(ctx), u.ID, u.Username, problem, in.Language, in.Source)
	if err != nil {
		s.fail(ctx, err)
		if errors.Is(err, judge.ErrRateLimited) {
			ctx.Response.Header.Set("Retry-After", rateLimitWindow)
		}
		return
	}
	writeJSON(ctx, fasthttp.StatusCreated, v)
	ctx.Response.Header.Set("Location", submissionsPrefix+strconv.FormatInt(v.ID, 10))
}

// readableSubmission reads a submission that u may see: their own, or any for tutors and
// admins. Others are told it does not exist, so ids cannot be probed.
func (s *Server) readableSubmission(ctx context.Context, u accounts.User, id int64) (judge.SubmissionView, error) {
	v, err := s.judge.Submission(ctx, id)
	if err != nil {
		return v, err
	}
	if v.UserID != u.ID && u.Role != accounts.RoleTutor && u.Role != accounts.RoleAdmin {
		return judge.SubmissionView{}, judge.ErrNotFound
	}
	return v, nil
}

// submissionID reads the id in a submission's path; a malformed one is answered as
// missing, like one that is not the caller's.
func submissionID(raw []byte) (int64, error) {
	if id := parseIDBytes(raw); id > 0 {
		return id, nil
	}
	return 0, judge.ErrNotFound
}

func (s *Server) serveSubmission(ctx *fasthttp.RequestCtx, rawID []byte) {
	u, ok := s.user(ctx)
	if !ok {
		return
	}
	id, err := submissionID(rawID)
	if err != nil {
		s.fail(ctx, err)
		return
	}
	v, err := s.readableSubmission(s.dbctx(ctx), u, id)
	if err != nil {
		s.fail(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, v)
}

func (s *Server) serveSubmissions(ctx *fasthttp.RequestCtx) {
	u, ok := s.user(ctx)
	if !ok {
		return
	}
	before, limit, err := listArgs(ctx, math.MaxInt64)
	if err != nil {
		s.fail(ctx, err)
		return
	}
	items, err := s.judge.SubmissionsOf(s.dbctx(ctx), u.ID, before, limit+1)
	if err != nil {
		s.fail(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, newPage(items, limit, func(v judge.SubmissionView) int64 { return v.ID }))
}

func (s *Server) serveWrongBook(ctx *fasthttp.RequestCtx) {
	u, ok := s.user(ctx)
	if !ok {
		return
	}
	items, err := s.judge.WrongBook(s.dbctx(ctx), u.ID)
	if err != nil {
		s.fail(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, map[string]any{"items": items})
}

// problemInput is a problem as an admin sends it; tests come separately, as a zip.
type problemInput struct {
	Slug          string            `json:"slug"`
	Title         string            `json:"title"`
	Statement     string            `json:"statement"`
	TimeLimitMS   int               `json:"time_limit_ms"`
	MemoryLimitMB int               `json:"memory_limit_mb"`
	Checker       judge.CheckerKind `json:"checker"`
	FloatAbs      float64           `json:"float_abs"`
	FloatRel      float64           `json:"float_rel"`
	CheckerSource string            `json:"checker_source"`
	Subtasks      []judge.Subtask   `json:"subtasks"`
	Tags          []string          `json:"tags"`
}

func (s *Server) serveAdminCreateProblem(ctx *fasthttp.RequestCtx) {
	u, ok := s.user(ctx, accounts.RoleAdmin)
	if !ok {
		return
	}
	var in problemInput
	// A statement and a custom checker may each be 256 KiB, more than other admin bodies.
	if err := decodeJSONUpTo(ctx, &in, s.cfg.MaxBodyBytes); err != nil {
		s.fail(ctx, err)
		return
	}
	p, err := s.judge.CreateProblem(s.dbctx(ctx), judge.Problem{
		Slug: in.Slug, Title: in.Title, Statement: in.Statement, TimeLimitMS: in.TimeLimitMS, MemoryLimitMB: in.MemoryLimitMB,
		Checker: in.Checker, FloatAbs: in.FloatAbs, FloatRel: in.FloatRel, CheckerSource: in.CheckerSource,
		Subtasks: in.Subtasks, Tags: in.Tags,
	}, u.ID, u.Username)
	if err != nil {
		s.fail(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusCreated, p)
	ctx.Response.Header.Set("Location", problemsPrefix+strconv.FormatInt(p.ID, 10))
}

var errNoObjectStore = &apiError{fasthttp.StatusServiceUnavailable, "unavailable", "this server has no object store to keep test archives in"}

// serveUploadTests replaces a problem's tests with the zip in the body (NAME.in with
// NAME.ans, see testzip); the archive is checked whole before anything is stored.
func (s *Server) serveUploadTests(ctx *fasthttp.RequestCtx, rawID []byte) {
	if _, ok := s.user(ctx, accounts.RoleAdmin); !ok {
		return
	}
	id := parseIDBytes(rawID)
	if id <= 0 {
		writeError(ctx, errf(fasthttp.StatusBadRequest, "invalid_id", "problem id must be a positive integer"))
		return
	}
	if s.objects == nil {
		writeError(ctx, errNoObjectStore)
		return
	}
	body := ctx.PostBody()
	tests, err := testzip.Read(bytes.NewReader(body), int64(len(body)), testzip.Limits{MaxZipBytes: s.cfg.MaxUploadBytes})
	if err != nil {
		s.fail(ctx, err)
		return
	}
	sctx, cancel := context.WithTimeout(context.Background(), uploadTimeout)
	defer cancel()
	p, err := s.judge.SetTests(sctx, id, body, tests)
	if err != nil {
		s.fail(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, p)
}
