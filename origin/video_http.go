package origin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"
	"github.com/valyala/fasthttp"

	"github.com/luffy-edu/luffy/accounts"
	"github.com/luffy-edu/luffy/features"
	"github.com/luffy-edu/luffy/internal/httprange"
	"github.com/luffy-edu/luffy/video"
)

const (
	ctPlaylist       = "application/vnd.apple.mpegurl"
	ctSegment        = "video/mp2t"
	ccImmutable      = "public, max-age=31536000, immutable"
	ccMaster         = "public, max-age=10, s-maxage=10, stale-if-error=3600"
	masterTTL        = 2 * time.Second // a republish reaches origins' masters this fast
	maxHotObjectSize = 32 << 20
)

// errTooLargeToHold marks an object too large to keep in memory: it is always streamed.
var errTooLargeToHold = errors.New("object too large to hold in memory")

var (
	errVideoNotFound = &apiError{fasthttp.StatusNotFound, "not_found", "no such video file"}
	errHotlink       = &apiError{fasthttp.StatusForbidden, "hotlink_refused", "this video may not be embedded on that site"}
)

// serveVideo answers /v/{token}/{videoID}/...: the Referer and the token are checked
// before anything is read.
func (s *Server) serveVideo(ctx *fasthttp.RequestCtx) {
	if !s.allow(ctx, "GET, HEAD", methodGet, methodHead) {
		return
	}
	// The raw path, not the decoded and normalized one: a URL that needs decoding or dot
	// removal to name a file is not one this server issued, and the edge must key its
	// cache on the same bytes.
	req, err := video.ParsePath(string(ctx.Request.URI().PathOriginal()))
	if err != nil {
		writeError(ctx, errVideoNotFound)
		return
	}
	if !s.referers.Allows(string(ctx.Request.Header.Referer())) {
		writeError(ctx, errHotlink)
		return
	}
	claims, err := s.verifier.Verify(req.Token, time.Now())
	if err == nil {
		err = claims.Authorize(req.VideoID, s.clientAddr(ctx))
	}
	if err != nil {
		writeError(ctx, errf(fasthttp.StatusForbidden, "forbidden_token", "%s", err.Error()))
		return
	}
	ctx.Response.Header.Set("Surrogate-Key", "video-"+req.VideoID)
	switch req.Kind {
	case video.KindMaster:
		s.serveMaster(ctx, req.VideoID)
	case video.KindKey:
		s.serveKey(ctx, req)
	case video.KindMedia:
		s.serveObject(ctx, video.ObjectPrefix(req.VideoID, req.Version)+req.Rendition+"/index.m3u8", ctPlaylist)
	case video.KindSegment:
		s.serveObject(ctx, video.ObjectPrefix(req.VideoID, req.Version)+req.Rendition+"/"+video.SegmentName(req.Segment), ctSegment)
	}
}

// clientAddr is the viewer's address: the peer, or the last X-Forwarded-For hop when the
// peer is a trusted proxy (an edge).
func (s *Server) clientAddr(ctx *fasthttp.RequestCtx) netip.Addr {
	peer, _ := netip.AddrFromSlice(ctx.RemoteIP())
	peer = peer.Unmap()
	xff := ctx.Request.Header.Peek("X-Forwarded-For")
	if len(xff) == 0 || !s.trusted(peer) {
		return peer
	}
	last := string(xff)
	if i := strings.LastIndexByte(last, ','); i >= 0 {
		last = last[i+1:]
	}
	if a, err := netip.ParseAddr(strings.TrimSpace(last)); err == nil {
		return a.Unmap()
	}
	return peer
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.trustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

type masterEntry struct {
	body    []byte
	expires time.Time
}

func (s *Server) serveMaster(ctx *fasthttp.RequestCtx, videoID string) {
	key := "M|" + videoID
	if m, ok := s.masters.Get(key); ok && time.Now().Before(m.expires) {
		s.writeMaster(ctx, m.body)
		return
	}
	v, err, _ := s.objectLoads.Do(key, func() (any, error) {
		var (
			version    int
			renditions []video.Rendition
		)
		err := s.pool.QueryRow(s.dbctx(ctx), `
			SELECT vv.version, vv.renditions FROM videos v
			JOIN video_versions vv ON vv.video_id = v.id AND vv.version = v.published_version
			WHERE v.id = $1 AND v.deleted_at IS NULL`, videoID).Scan(&version, &renditions)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, errVideoNotFound
		}
		if err != nil {
			return nil, fmt.Errorf("look up video %s: %w", videoID, err)
		}
		m := &masterEntry{body: masterPlaylist(version, renditions), expires: time.Now().Add(masterTTL)}
		s.masters.SetWithTTL(key, m, int64(len(m.body)), masterTTL)
		return m, nil
	})
	if err != nil {
		s.fail(ctx, err)
		return
	}
	s.writeMaster(ctx, v.(*masterEntry).body)
}

func (s *Server) writeMaster(ctx *fasthttp.RequestCtx, body []byte) {
	ctx.SetContentType(ctPlaylist)
	ctx.Response.Header.Set("Cache-Control", ccMaster)
	ctx.Response.SetBodyRaw(body)
}

// masterPlaylist lists the renditions of a version with URIs relative to the master, so
// that one cached copy serves every token.
func masterPlaylist(version int, rs []video.Rendition) []byte {
	var b strings.Builder
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n")
	for _, r := range rs {
		bw := r.Bandwidth
		if bw == 0 {
			bw = r.VideoBitrate + r.AudioBitrate
		}
		fmt.Fprintf(&b, "#EXT-X-STREAM-INF:BANDWIDTH=%d,RESOLUTION=%dx%d\n%s/index.m3u8\n", bw, r.Width, r.Height, video.RenditionPath(version, r.Name))
	}
	return []byte(b.String())
}

func (s *Server) serveKey(ctx *fasthttp.RequestCtx, req video.Request) {
	if s.featureOff(ctx, features.Playback) {
		return
	}
	n, err := video.ParseKeyIndex(string(ctx.QueryArgs().Peek("n")))
	if err != nil {
		writeError(ctx, errVideoNotFound)
		return
	}
	var key []byte
	err = s.pool.QueryRow(s.dbctx(ctx), `
		SELECT k.key FROM video_keys k JOIN video_versions vv ON vv.id = k.video_version_id
		WHERE vv.video_id = $1 AND vv.version = $2 AND k.key_index = $3
		  AND k.deleted_at IS NULL AND vv.deleted_at IS NULL`, req.VideoID, req.Version, n).Scan(&key)
	if errors.Is(err, pgx.ErrNoRows) {
		writeError(ctx, errVideoNotFound)
		return
	}
	if err != nil {
		s.fail(ctx, err)
		return
	}
	ctx.SetContentType("application/octet-stream")
	ctx.Response.Header.Set("Cache-Control", "private, no-store")
	ctx.SetBody(key)
}

// serveObject answers a playlist or segment of a published version. Hot objects (asked
// for before) are served from memory; a first request streams from MinIO without
// loading the file, so a crawl over cold files does not flush the cache.
func (s *Server) serveObject(ctx *fasthttp.RequestCtx, key, contentType string) {
	h := &ctx.Response.Header
	h.Set("Cache-Control", ccImmutable)
	h.Set("Accept-Ranges", "bytes")
	if body, ok := s.hotObjects.Get(key); ok {
		s.metrics.segmentHits.Inc()
		writeRanged(ctx, body, contentType)
		return
	}
	s.metrics.segmentMisses.Inc()
	if _, seen := s.seenObjects.Get(key); seen {
		v, err, _ := s.objectLoads.Do(key, func() (any, error) { return s.loadObject(key) })
		if err == nil {
			writeRanged(ctx, v.([]byte), contentType)
			return
		}
		if !errors.Is(err, errTooLargeToHold) {
			s.fail(ctx, err)
			return
		}
	}
	s.seenObjects.Set(key, struct{}{}, 1)
	s.streamObject(ctx, key, contentType)
}

func (s *Server) loadObject(key string) ([]byte, error) {
	cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	obj, err := s.objects.Reads.GetObject(cctx, s.objects.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, objectError(key, err)
	}
	defer obj.Close()
	st, err := obj.Stat()
	if err != nil {
		return nil, objectError(key, err)
	}
	if st.Size > maxHotObjectSize {
		return nil, errTooLargeToHold
	}
	body := make([]byte, st.Size)
	if _, err := io.ReadFull(obj, body); err != nil {
		return nil, objectError(key, err)
	}
	s.hotObjects.Set(key, body, int64(len(body)+len(key)+64))
	return body, nil
}

func (s *Server) streamObject(ctx *fasthttp.RequestCtx, key, contentType string) {
	opts := minio.GetObjectOptions{}
	rangeHeader := string(ctx.Request.Header.Peek("Range"))
	var start, end, total int64
	ranged := false
	if rangeHeader != "" {
		// A cold ranged read needs the size first, to resolve the range and answer
		// Content-Range.
		st, err := s.objects.Reads.StatObject(ctx, s.objects.Bucket, key, minio.StatObjectOptions{})
		if err != nil {
			s.fail(ctx, objectError(key, err))
			return
		}
		total = st.Size
		var ok bool
		if start, end, ranged, ok = httprange.Parse(rangeHeader, total); !ok {
			ctx.Response.Header.Set("Content-Range", "bytes */"+strconv.FormatInt(total, 10))
			writeError(ctx, errf(fasthttp.StatusRequestedRangeNotSatisfiable, "bad_range", "range outside the file"))
			return
		}
		if err := opts.SetRange(start, end); err != nil {
			writeError(ctx, errf(fasthttp.StatusRequestedRangeNotSatisfiable, "bad_range", "unsupported Range"))
			return
		}
	}
	// The body is read after this handler returns, so the request must not be bound to
	// a context that ends with it; closing the object ends the transfer.
	obj, err := s.objects.Reads.GetObject(context.Background(), s.objects.Bucket, key, opts)
	if err != nil {
		s.fail(ctx, objectError(key, err))
		return
	}
	st, err := obj.Stat()
	if err != nil {
		obj.Close()
		s.fail(ctx, objectError(key, err))
		return
	}
	ctx.SetContentType(contentType)
	length := st.Size
	if ranged {
		length = end - start + 1
		ctx.SetStatusCode(fasthttp.StatusPartialContent)
		ctx.Response.Header.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end, total))
	}
	ctx.SetBodyStream(obj, int(length))
}

// objectError maps a MinIO error: a missing object is the client's 404, anything else
// means the store is unavailable.
func objectError(key string, err error) error {
	if resp := minio.ToErrorResponse(err); resp.Code == "NoSuchKey" || resp.StatusCode == 404 {
		return errVideoNotFound
	}
	return &apiError{fasthttp.StatusServiceUnavailable, "unavailable", "the object store is unavailable; retry shortly"}
}

// writeRanged answers body, or the single byte range the client asked for.
func writeRanged(ctx *fasthttp.RequestCtx, body []byte, contentType string) {
	size := int64(len(body))
	start, end, ranged, ok := httprange.Parse(string(ctx.Request.Header.Peek("Range")), size)
	if !ok {
		ctx.Response.Header.Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
		writeError(ctx, errf(fasthttp.StatusRequestedRangeNotSatisfiable, "bad_range", "range outside the file"))
		return
	}
	ctx.SetContentType(contentType)
	if !ranged {
		ctx.Response.SetBodyRaw(body)
		return
	}
	ctx.SetStatusCode(fasthttp.StatusPartialContent)
	ctx.Response.Header.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end, size))
	ctx.Response.SetBodyRaw(body[start : end+1])
}

// servePlay grants a playback URL: for anyone on a free-preview lesson, for an enrolled
// student (or an admin or tutor) otherwise.
func (s *Server) servePlay(ctx *fasthttp.RequestCtx, rawID []byte) {
	if s.featureOff(ctx, features.Playback) {
		return
	}
	id := parseIDBytes(rawID)
	if id <= 0 {
		writeError(ctx, errf(fasthttp.StatusBadRequest, "invalid_id", "lesson id must be a positive integer"))
		return
	}
	dctx := s.dbctx(ctx)
	var (
		free     bool
		courseID int64
		videoID  *string
		version  *int
	)
	err := s.pool.QueryRow(dctx, `
		SELECT l.free_preview, l.course_id, l.video_id, v.published_version
		FROM lessons l JOIN courses c ON c.id = l.course_id
		LEFT JOIN videos v ON v.id = l.video_id AND v.deleted_at IS NULL
		WHERE l.id = $1 AND l.deleted_at IS NULL AND c.deleted_at IS NULL AND c.status = 'published'`,
		id).Scan(&free, &courseID, &videoID, &version)
	if errors.Is(err, pgx.ErrNoRows) {
		writeError(ctx, errf(fasthttp.StatusNotFound, "not_found", "no such lesson"))
		return
	}
	if err != nil {
		s.fail(ctx, err)
		return
	}
	if videoID == nil || version == nil {
		writeError(ctx, errf(fasthttp.StatusNotFound, "no_video", "this lesson has no video yet"))
		return
	}
	var userID int64
	if !free || bearer(ctx) != "" {
		u, ok := s.user(ctx)
		if !ok {
			return
		}
		userID = u.ID
		if !free && u.Role == accounts.RoleStudent {
			enrolled, err := s.enrollments.Active(dctx, u.ID, courseID)
			if err != nil {
				s.fail(ctx, err)
				return
			}
			if !enrolled {
				writeError(ctx, errf(fasthttp.StatusForbidden, "not_enrolled", "buy this course to watch this lesson"))
				return
			}
		}
	}
	claims := video.Claims{VideoID: *videoID, UserID: userID, Expires: time.Now().Add(s.cfg.PlaybackTTL).Truncate(time.Second)}
	if s.cfg.BindNetwork {
		a := s.clientAddr(ctx)
		bits := 24
		if a.Is6() {
			bits = 48
		}
		claims.Network, _ = a.Prefix(bits)
	}
	tok, err := s.signer.Sign(claims)
	if err != nil {
		s.fail(ctx, err)
		return
	}
	body, _ := json.Marshal(map[string]any{
		"url":        s.cfg.EdgeURL + "/v/" + tok + "/" + *videoID + "/master.m3u8",
		"expires_at": claims.Expires.UTC().Format(time.RFC3339),
		"video_id":   *videoID,
	})
	ctx.SetContentType("application/json")
	ctx.Response.Header.Set("Cache-Control", "private, no-store")
	ctx.SetBody(body)
}
