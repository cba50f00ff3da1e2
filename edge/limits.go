package edge

import (
	"math"
	"net/netip"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// limited answers 429 when the client address is over its request rate, and reports
// whether it did. The edge's own endpoints (health, metrics, purges) are not limited;
// exempt networks (loopback by default, for local load tests) are not either.
func (s *Server) limited(ctx *fasthttp.RequestCtx, path []byte) bool {
	if s.perIP == nil {
		return false
	}
	switch string(path) {
	case "/healthz", "/metrics", "/edge/purge":
		return false
	}
	addr, _ := netip.AddrFromSlice(ctx.RemoteIP())
	addr = addr.Unmap()
	if s.exempt.Contains(addr) {
		return false
	}
	ok, wait := s.perIP.Allow(addr.String(), ctx.Time())
	if ok {
		return false
	}
	writeError(ctx, fasthttp.StatusTooManyRequests, "rate_limited", "too many requests from your address; retry in "+wait.Round(time.Millisecond).String())
	ctx.Response.Header.Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
	s.metrics.limited.WithLabelValues("ip").Inc()
	return true
}
