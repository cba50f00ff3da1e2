package origin

import (
	"encoding/json"
	"log/slog"
	"time"

	"github.com/valyala/fasthttp"
)

// purgeEdges tells every configured edge to drop the surrogate keys a write changed, in
// the background: the write has committed, and an edge that cannot be told now still
// drops the entries when their s-maxage runs out.
func (s *Server) purgeEdges(keys ...string) {
	if len(s.cfg.EdgePurgeURLs) == 0 {
		return
	}
	body, _ := json.Marshal(map[string][]string{"keys": keys})
	for _, u := range s.cfg.EdgePurgeURLs {
		go func() {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI(u)
			req.Header.SetMethod("POST")
			req.Header.SetContentType("application/json")
			req.Header.Set("Authorization", "Bearer "+s.cfg.PurgeSecret)
			req.SetBody(body)
			for attempt := 0; attempt < 3; attempt++ {
				err := s.purgeClient.DoTimeout(req, resp, 2*time.Second)
				if err == nil && resp.StatusCode() == 200 {
					return
				}
				slog.Warn("edge purge failed", "edge", u, "keys", keys, "attempt", attempt+1, "err", err, "status", resp.StatusCode())
				time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
			}
		}()
	}
}

func courseKey(id int64) string { return "course-" + itoa(id) }
