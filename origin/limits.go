package origin

import (
	"bytes"
	"math"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/luffy-edu/luffy/internal/limit"
)

// limits are the origin's defences against one client taking more than its share: a
// request rate per client address on the API, a request rate per signed-in user, and a
// cap on the connections one address holds (see Serve). Exempt networks (loopback by
// default: load tests, and a local edge) are not limited by address.
type limits struct {
	perIP   *limit.Rate
	perUser *limit.Rate
	exempt  limit.Exempt
}

var apiPrefix = []byte("/api/")

// limitedByIP answers 429 when the request's client address is over its rate, and
// reports whether it did. Only the API is limited: video fills come from edges, and the
// payment gateway's callbacks must never be refused for volume.
func (s *Server) limitedByIP(ctx *fasthttp.RequestCtx) bool {
	path := ctx.Path()
	if s.limits.perIP == nil || !bytes.HasPrefix(path, apiPrefix) || string(path) == "/api/v1/payments/callback" {
		return false
	}
	addr := s.clientAddr(ctx)
	if s.limits.exempt.Contains(addr) {
		return false
	}
	ok, wait := s.limits.perIP.Allow(addr.String(), ctx.Time())
	if ok {
		return false
	}
	tooMany(ctx, "too many requests from your address", wait)
	s.metrics.limited.WithLabelValues("ip").Inc()
	return true
}

// limitedByUser answers 429 when the signed-in user is over their rate.
func (s *Server) limitedByUser(ctx *fasthttp.RequestCtx, userID int64) bool {
	if s.limits.perUser == nil {
		return false
	}
	ok, wait := s.limits.perUser.Allow("u"+strconv.FormatInt(userID, 10), ctx.Time())
	if ok {
		return false
	}
	tooMany(ctx, "too many requests from your account", wait)
	s.metrics.limited.WithLabelValues("user").Inc()
	return true
}

func tooMany(ctx *fasthttp.RequestCtx, msg string, wait time.Duration) {
	writeError(ctx, errf(fasthttp.StatusTooManyRequests, "rate_limited", "%s; retry in %s", msg, wait.Round(time.Millisecond)))
	ctx.Response.Header.Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
}
