package origin

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/luffy-edu/luffy/accounts"
	"github.com/luffy-edu/luffy/features"
)

const adminFeaturesPrefix = "/api/v1/admin/features/"

// featureMessages say, per switch, what is off.
var featureMessages = map[features.Name]string{
	features.Judge:           "code submissions are switched off for now; try again later",
	features.Orders:          "new orders are switched off for now; orders already placed can still be paid",
	features.Playback:        "video playback is switched off for now; try again later",
	features.HomeworkUploads: "homework submissions are switched off for now; try again later",
}

// featureOff answers 503 when switch n is off, and reports whether it did.
func (s *Server) featureOff(ctx *fasthttp.RequestCtx, n features.Name) bool {
	if s.features.Enabled(n) {
		return false
	}
	writeError(ctx, errf(fasthttp.StatusServiceUnavailable, "feature_disabled", "%s", featureMessages[n]))
	ctx.Response.Header.Set("Retry-After", "60")
	return true
}

// reloadFeatures reads the switches anew; a failure keeps the last state.
func (s *Server) reloadFeatures(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := s.features.Reload(cctx); err != nil && ctx.Err() == nil {
		slog.Warn("feature switches not reloaded; keeping the last state", "err", err)
	}
}

// pollFeatures reloads the switches every few seconds until ctx ends: the safety net
// for a notification missed while the listener reconnected.
func (s *Server) pollFeatures(ctx context.Context) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.reloadFeatures(ctx)
		}
	}
}

// dispatchFeatures routes the admin switch API; ok is false for other paths.
func (s *Server) dispatchFeatures(ctx *fasthttp.RequestCtx, path []byte) (route, bool) {
	if string(path) == "/api/v1/admin/features" {
		if s.allow(ctx, "GET", methodGet) {
			s.serveFeatures(ctx)
		}
		return routeAdminCommerce, true
	}
	if rest, ok := cutPrefix(path, adminFeaturesPrefix); ok {
		if s.allow(ctx, "PUT", methodPut) {
			s.serveSetFeature(ctx, features.Name(rest))
		}
		return routeAdminCommerce, true
	}
	return routeUnknown, false
}

func (s *Server) serveFeatures(ctx *fasthttp.RequestCtx) {
	if _, ok := s.user(ctx, accounts.RoleAdmin); !ok {
		return
	}
	list, err := s.features.List(s.dbctx(ctx))
	if err != nil {
		s.fail(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, map[string]any{"items": list})
}

func (s *Server) serveSetFeature(ctx *fasthttp.RequestCtx, name features.Name) {
	u, ok := s.user(ctx, accounts.RoleAdmin)
	if !ok {
		return
	}
	if !features.Known(name) {
		writeError(ctx, errf(fasthttp.StatusNotFound, "not_found", "no feature switch %q; there are judge, orders, playback and homework_uploads", string(name)))
		return
	}
	var in struct {
		Enabled *bool  `json:"enabled"`
		Reason  string `json:"reason"`
	}
	if err := decodeJSON(ctx, &in); err != nil {
		s.fail(ctx, err)
		return
	}
	if in.Enabled == nil {
		writeError(ctx, errf(fasthttp.StatusBadRequest, "invalid_enabled", "enabled (true or false) is required"))
		return
	}
	if len(in.Reason) > 500 {
		writeError(ctx, errf(fasthttp.StatusBadRequest, "invalid_reason", "reason is at most 500 characters"))
		return
	}
	sw, err := s.features.Set(s.dbctx(ctx), name, *in.Enabled, in.Reason, u.Username)
	if errors.Is(err, features.ErrUnknown) {
		writeError(ctx, errf(fasthttp.StatusNotFound, "not_found", "%s", err.Error()))
		return
	}
	if err != nil {
		s.fail(ctx, err)
		return
	}
	slog.Info("feature switch set", "feature", name, "enabled", sw.Enabled, "by", u.Username, "reason", sw.Reason)
	writeJSON(ctx, fasthttp.StatusOK, sw)
}
