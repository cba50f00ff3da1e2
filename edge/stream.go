package edge

import (
	"bufio"
	"bytes"
	"time"

	"github.com/valyala/fasthttp"
)

// wantsStream says whether a request asks for a server-sent event stream (a judge
// submission's progress): such a response is relayed as it arrives, never buffered whole
// or cached.
func wantsStream(ctx *fasthttp.RequestCtx) bool {
	return bytes.Contains(ctx.Request.Header.Peek("Accept"), []byte("text/event-stream")) ||
		bytes.HasSuffix(ctx.Path(), []byte("/events"))
}

// streamClient is a client per origin whose responses are read as a stream, with no read
// deadline: an event stream stays open for minutes (the origin sends keep-alive comments
// and ends streams itself).
func (s *Server) streamClient(o *Origin) *fasthttp.HostClient {
	s.streamMu.Lock()
	defer s.streamMu.Unlock()
	c := s.streamClients[o]
	if c == nil {
		c = &fasthttp.HostClient{
			Addr: o.Addr, IsTLS: o.TLS, Name: "luffy-edge", MaxConns: 10_000, StreamResponseBody: true,
			WriteTimeout: s.cfg.OriginTimeout, MaxIdleConnDuration: 30 * time.Second,
			DisablePathNormalizing: true, NoDefaultUserAgentHeader: true,
		}
		s.streamClients[o] = c
	}
	return c
}

// stream proxies a server-sent event stream from an origin to the client, flushing each
// chunk as it comes; it ends when either side goes away.
func (s *Server) stream(ctx *fasthttp.RequestCtx) {
	var tried triedOrigins
	o, ok := s.next(ctx.Path(), &tried)
	if !ok {
		writeError(ctx, fasthttp.StatusBadGateway, "origin_unavailable", "no origin could answer")
		return
	}
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	ctx.Request.CopyTo(req)
	req.Header.Set("X-Forwarded-For", clientIP(ctx))
	req.SetHost(o.Addr)
	resp := fasthttp.AcquireResponse()
	if err := s.streamClient(o).Do(req, resp); err != nil {
		fasthttp.ReleaseResponse(resp)
		o.ReportFailure()
		writeError(ctx, fasthttp.StatusBadGateway, "origin_unavailable", "the origin did not answer")
		return
	}
	o.ReportSuccess()
	body := resp.BodyStream()
	if body == nil || resp.StatusCode() != fasthttp.StatusOK {
		// an error answer (401, 404, ...) is short: relayed whole
		resp.Header.CopyTo(&ctx.Response.Header)
		ctx.SetBody(resp.Body())
		fasthttp.ReleaseResponse(resp)
		s.cacheStatus(ctx, valPass)
		return
	}
	resp.Header.CopyTo(&ctx.Response.Header)
	ctx.Response.Header.Del("Content-Length")
	s.cacheStatus(ctx, valPass)
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		defer fasthttp.ReleaseResponse(resp)
		defer resp.CloseBodyStream()
		buf := make([]byte, 4096)
		for {
			n, err := body.Read(buf)
			if n > 0 {
				if _, werr := w.Write(buf[:n]); werr != nil || w.Flush() != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	})
}
