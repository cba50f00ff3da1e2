package origin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/valyala/fasthttp"

	"github.com/luffy-edu/luffy/accounts"
	"github.com/luffy-edu/luffy/catalog"
	"github.com/luffy-edu/luffy/judge"
	"github.com/luffy-edu/luffy/judge/testzip"
)

// apiError is an error the HTTP layer answers as it is.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.message }

func errf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

var (
	errUnauthenticated = &apiError{fasthttp.StatusUnauthorized, "unauthenticated", "sign in and send Authorization: Bearer <token>"}
	errForbidden       = &apiError{fasthttp.StatusForbidden, "forbidden", "your role may not do this"}
	errRouteNotFound   = &apiError{fasthttp.StatusNotFound, "not_found", "no such endpoint"}
)

// classify maps any error to what the client is told: the one place where domain errors
// become statuses and stable codes.
func classify(err error) *apiError {
	var ae *apiError
	var ie *catalog.InputError
	var ve *accounts.ValidationError
	var je *judge.InputError
	var ze *testzip.Error
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &ae):
		return ae
	case classifyCommerce(err) != nil:
		return classifyCommerce(err)
	case errors.As(err, &ie):
		return errf(fasthttp.StatusBadRequest, "invalid_"+ie.Field, "%s", ie.Error())
	case errors.As(err, &ve):
		return errf(fasthttp.StatusBadRequest, "invalid_"+ve.Field, "%s", ve.Error())
	case errors.As(err, &je):
		return errf(fasthttp.StatusBadRequest, "invalid_"+je.Field, "%s", je.Error())
	case errors.As(err, &ze):
		return errf(fasthttp.StatusBadRequest, "invalid_tests", "%s", ze.Error())
	case errors.As(err, &se):
		return errf(fasthttp.StatusBadRequest, "malformed_json", "malformed JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		return errf(fasthttp.StatusBadRequest, "invalid_"+te.Field, "%s must be %s, not JSON %s", te.Field, te.Type, te.Value)
	case errors.Is(err, catalog.ErrNotFound), errors.Is(err, judge.ErrNotFound):
		return errf(fasthttp.StatusNotFound, "not_found", "no such record")
	case errors.Is(err, catalog.ErrSlugTaken), errors.Is(err, accounts.ErrUsernameTaken), errors.Is(err, judge.ErrSlugTaken):
		return errf(fasthttp.StatusConflict, "conflict", "%s", err.Error())
	case errors.Is(err, catalog.ErrNotEditable), errors.Is(err, catalog.ErrNotDeletable):
		return errf(fasthttp.StatusConflict, "locked", "%s", err.Error())
	case errors.Is(err, judge.ErrNoTests):
		return errf(fasthttp.StatusConflict, "no_tests", "%s", err.Error())
	case errors.Is(err, judge.ErrRateLimited):
		return errf(fasthttp.StatusTooManyRequests, "rate_limited", "%s", err.Error())
	case errors.Is(err, accounts.ErrInvalidCredentials):
		return errf(fasthttp.StatusUnauthorized, "invalid_credentials", "%s", err.Error())
	case errors.Is(err, accounts.ErrUnauthenticated):
		return errUnauthenticated
	case errors.Is(err, accounts.ErrBusy):
		return errf(fasthttp.StatusTooManyRequests, "busy", "%s", err.Error())
	case dataException(err):
		return errf(fasthttp.StatusBadRequest, "invalid_input", "a value is not acceptable (%s)", err.Error())
	case unavailable(err):
		return errf(fasthttp.StatusServiceUnavailable, "unavailable", "the database is unavailable; retry shortly")
	}
	return nil
}

// dataException reports Postgres refusing a value a client sent (class 22: a NUL byte
// in text, a number out of range).
func dataException(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && len(pe.Code) == 5 && pe.Code[:2] == "22"
}

// unavailable reports errors that mean a dependency is down rather than a bug.
func unavailable(err error) bool {
	var ne net.Error
	var ce *pgconn.ConnectError
	if errors.As(err, &ne) || errors.As(err, &ce) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// 57P: operator intervention (shutdown, restart); 08: connection exceptions;
		// 53: resources; 40: a deadlock or serialization failure, which a retry clears.
		c := pe.Code
		return len(c) == 5 && (c[:3] == "57P" || c[:2] == "08" || c[:2] == "53" || c[:2] == "40")
	}
	return pgconn.SafeToRetry(err)
}

// fail answers err as a JSON error; errors no client can cause are logged and answered
// as a 500 without details.
func (s *Server) fail(ctx *fasthttp.RequestCtx, err error) {
	ae := classify(err)
	if ae == nil {
		slog.Error("request failed", "method", string(ctx.Method()), "path", string(ctx.Path()), "err", err)
		ae = &apiError{fasthttp.StatusInternalServerError, "internal", "internal error"}
	} else if ae.status >= 500 {
		slog.Warn("request failed", "path", string(ctx.Path()), "err", err)
	}
	writeError(ctx, ae)
}

// originUpHeader marks a 503 that an origin answers while it is itself healthy.
const originUpHeader = "Luffy-Origin-Up"

func writeError(ctx *fasthttp.RequestCtx, ae *apiError) {
	ctx.Response.Reset()
	ctx.SetStatusCode(ae.status)
	ctx.SetContentType("application/json")
	ctx.Response.Header.Set("Cache-Control", "no-store")
	if ae.status == fasthttp.StatusServiceUnavailable {
		ctx.Response.Header.Set("Retry-After", "1")
		if ae.code != "stopping" {
			// This origin is up; what it depends on (Postgres, the object store) or a
			// switch is not. Edges relay the answer rather than eject the origin and
			// try the others, which share the same dependencies.
			ctx.Response.Header.Set(originUpHeader, "1")
		}
	}
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"code": ae.code, "message": ae.message}})
	ctx.SetBody(b)
}

// serverError answers errors fasthttp meets before a handler runs (a body over the limit,
// a malformed request line, a read timeout) in the same JSON shape.
func serverError(ctx *fasthttp.RequestCtx, err error) {
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		writeError(ctx, errf(fasthttp.StatusRequestEntityTooLarge, "body_too_large", "the request body is too large"))
	case errors.As(err, new(*fasthttp.ErrSmallBuffer)):
		writeError(ctx, errf(fasthttp.StatusRequestHeaderFieldsTooLarge, "headers_too_large", "the request line and headers are too large"))
	case isTimeout(err):
		writeError(ctx, errf(fasthttp.StatusRequestTimeout, "timeout", "the request was not received in time"))
	default:
		writeError(ctx, errf(fasthttp.StatusBadRequest, "bad_request", "malformed HTTP request"))
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
