package origin

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"time"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/luffy-edu/luffy/accounts"
	"github.com/luffy-edu/luffy/catalog"
)

// maxJSONBody caps API request bodies below the server-wide limit.
const maxJSONBody = 64 << 10

// decodeJSON reads the request body into v strictly: one JSON value, no unknown fields.
func decodeJSON(ctx *fasthttp.RequestCtx, v any) error { return decodeJSONUpTo(ctx, v, maxJSONBody) }

// decodeJSONUpTo is decodeJSON for a route whose bodies may be up to limit bytes.
func decodeJSONUpTo(ctx *fasthttp.RequestCtx, v any, limit int) error {
	body := ctx.PostBody()
	if len(body) > limit {
		return errf(fasthttp.StatusRequestEntityTooLarge, "body_too_large", "the body is larger than %d bytes", limit)
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return errf(fasthttp.StatusBadRequest, "malformed_json", "a JSON body is required")
	}
	// encoding/json would quietly turn invalid UTF-8 into U+FFFD and null into a zero
	// value: a body so mangled is refused, not half-understood.
	if !utf8.Valid(body) {
		return errf(fasthttp.StatusBadRequest, "malformed_json", "the body is not UTF-8")
	}
	if trimmed[0] != '{' {
		return errf(fasthttp.StatusBadRequest, "malformed_json", "the body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		if errors.As(err, &se) || errors.As(err, &te) {
			return err
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return errf(fasthttp.StatusBadRequest, "malformed_json", "the JSON body ends too early")
		}
		return errf(fasthttp.StatusBadRequest, "malformed_json", "%s", err.Error())
	}
	if dec.More() {
		return errf(fasthttp.StatusBadRequest, "malformed_json", "the body holds more than one JSON value")
	}
	if _, err := dec.Token(); err != io.EOF {
		return errf(fasthttp.StatusBadRequest, "malformed_json", "trailing data after the JSON value")
	}
	return nil
}

func writeJSON(ctx *fasthttp.RequestCtx, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(ctx, &apiError{fasthttp.StatusInternalServerError, "internal", "internal error"})
		return
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.SetBody(b)
}

// bearer returns the token of an Authorization: Bearer header.
func bearer(ctx *fasthttp.RequestCtx) string {
	h := ctx.Request.Header.Peek("Authorization")
	const p = "Bearer "
	if len(h) <= len(p) || !bytes.EqualFold(h[:len(p)], []byte(p)) {
		return ""
	}
	return string(bytes.TrimSpace(h[len(p):]))
}

// user authenticates the request; it answers the error itself and returns false when the
// caller may not go on.
func (s *Server) user(ctx *fasthttp.RequestCtx, roles ...accounts.Role) (accounts.User, bool) {
	tok := bearer(ctx)
	if tok == "" {
		writeError(ctx, errUnauthenticated)
		return accounts.User{}, false
	}
	u, err := s.accounts.Authenticate(s.dbctx(ctx), tok)
	if err != nil {
		s.fail(ctx, err)
		return accounts.User{}, false
	}
	if s.limitedByUser(ctx, u.ID) {
		return accounts.User{}, false
	}
	if len(roles) == 0 {
		return u, true
	}
	for _, r := range roles {
		if u.Role == r {
			return u, true
		}
	}
	writeError(ctx, errForbidden)
	return accounts.User{}, false
}

type credentials struct {
	Username   string `json:"username"`
	Password   string `json:"password"`
	InviteCode string `json:"invite_code,omitempty"` // registration only
}

func (s *Server) serveRegister(ctx *fasthttp.RequestCtx) {
	var in credentials
	if err := decodeJSON(ctx, &in); err != nil {
		s.fail(ctx, err)
		return
	}
	u, err := s.accounts.RegisterInvited(s.dbctx(ctx), in.Username, in.Password, in.InviteCode)
	if err != nil {
		s.fail(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusCreated, u)
}

func (s *Server) serveLogin(ctx *fasthttp.RequestCtx) {
	var in credentials
	if err := decodeJSON(ctx, &in); err != nil {
		s.fail(ctx, err)
		return
	}
	if in.Password == "" { // Login refuses malformed names and long passwords itself
		s.fail(ctx, accounts.ErrInvalidCredentials)
		return
	}
	tok, exp, err := s.accounts.Login(s.dbctx(ctx), in.Username, in.Password)
	if err != nil {
		s.fail(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, map[string]any{"token": tok, "expires_at": exp.Format(time.RFC3339)})
}

func (s *Server) serveLogout(ctx *fasthttp.RequestCtx) {
	if _, ok := s.user(ctx); !ok {
		return
	}
	if err := s.accounts.Logout(s.dbctx(ctx), bearer(ctx)); err != nil {
		s.fail(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, map[string]bool{"revoked": true})
}

func (s *Server) serveMe(ctx *fasthttp.RequestCtx) {
	if u, ok := s.user(ctx); ok {
		writeJSON(ctx, fasthttp.StatusOK, u)
	}
}

func actor(u accounts.User) catalog.Actor { return catalog.Actor{ID: u.ID, Name: u.Username} }

func (s *Server) serveAdminCreate(ctx *fasthttp.RequestCtx) {
	u, ok := s.user(ctx, accounts.RoleAdmin)
	if !ok {
		return
	}
	var in catalog.CourseInput
	if err := decodeJSON(ctx, &in); err != nil {
		s.fail(ctx, err)
		return
	}
	id, err := s.catalog.CreateCourse(s.dbctx(ctx), actor(u), in)
	if err != nil {
		s.fail(ctx, err)
		return
	}
	s.cache.courseChanged(id) // read-your-writes here; NOTIFY tells the other origins
	s.purgeEdges(courseKey(id), "courses")
	writeJSON(ctx, fasthttp.StatusCreated, map[string]int64{"id": id})
}

func (s *Server) serveAdminCourse(ctx *fasthttp.RequestCtx, rawID []byte) {
	id := parseIDBytes(rawID)
	if id <= 0 {
		writeError(ctx, errf(fasthttp.StatusBadRequest, "invalid_id", "course id must be a positive integer"))
		return
	}
	u, ok := s.user(ctx, accounts.RoleAdmin)
	if !ok {
		return
	}
	var err error
	if string(ctx.Method()) == "DELETE" {
		err = s.catalog.DeleteCourse(s.dbctx(ctx), actor(u), id)
	} else {
		var p catalog.CoursePatch
		if err = decodeJSON(ctx, &p); err == nil {
			err = s.catalog.UpdateCourse(s.dbctx(ctx), actor(u), id, p)
		}
	}
	if err != nil {
		s.fail(ctx, err)
		return
	}
	s.cache.courseChanged(id)
	s.purgeEdges(courseKey(id), "courses")
	writeJSON(ctx, fasthttp.StatusOK, map[string]int64{"id": id})
}

func (s *Server) serveAdminReorder(ctx *fasthttp.RequestCtx) {
	u, ok := s.user(ctx, accounts.RoleAdmin)
	if !ok {
		return
	}
	var in struct {
		Items []catalog.Position `json:"items"`
	}
	if err := decodeJSON(ctx, &in); err != nil {
		s.fail(ctx, err)
		return
	}
	if err := s.catalog.Reorder(s.dbctx(ctx), actor(u), in.Items); err != nil {
		s.fail(ctx, err)
		return
	}
	keys := []string{"courses"}
	for _, p := range in.Items {
		s.cache.courseChanged(p.ID)
		keys = append(keys, courseKey(p.ID))
	}
	s.purgeEdges(keys...)
	writeJSON(ctx, fasthttp.StatusOK, map[string]int{"updated": len(in.Items)})
}
