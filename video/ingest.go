package video

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/minio/minio-go/v7"
	"golang.org/x/sync/errgroup"

	"github.com/luffy-edu/luffy/storage"
)

// IngestConfig says how videos are cut and stored. Zero values mean the documented
// defaults.
type IngestConfig struct {
	Ladder         Ladder  `help:"Renditions to make, as name:WIDTHxHEIGHT:video-bitrate:audio-bitrate,..." default:"360p:640x360:800k:96k,720p:1280x720:2800k:128k" env:"LUFFY_LADDER"`
	SegmentSeconds float64 `help:"Length of an HLS segment in seconds: shorter starts playback and switches renditions sooner, longer makes fewer requests." default:"4" env:"LUFFY_SEGMENT_SECONDS"`
	KeyEvery       int     `help:"Segments encrypted under one AES-128 key before the next key: a leaked key opens only that many segments." default:"5" env:"LUFFY_KEY_EVERY"`
	FFmpeg         string  `name:"ffmpeg" help:"ffmpeg binary." default:"ffmpeg" env:"LUFFY_FFMPEG"`
	FFprobe        string  `name:"ffprobe" help:"ffprobe binary." default:"ffprobe" env:"LUFFY_FFPROBE"`
	Uploads        int     `help:"Segments and playlists uploaded to the object store at once." default:"8" env:"LUFFY_UPLOADS"`
	Preset         string  `help:"x264 preset: slower presets make smaller segments for the same quality and take longer." default:"veryfast" env:"LUFFY_PRESET"`
	// Progress, when set, hears what an ingest is doing: bars on a terminal, a line per
	// stage elsewhere.
	Progress io.Writer `kong:"-"`
}

func (c *IngestConfig) withDefaults() {
	if c.Ladder == nil {
		c.Ladder = DefaultLadder
	}
	if c.SegmentSeconds <= 0 {
		c.SegmentSeconds = 4
	}
	if c.KeyEvery <= 0 {
		c.KeyEvery = 5
	}
	if c.FFmpeg == "" {
		c.FFmpeg = "ffmpeg"
	}
	if c.FFprobe == "" {
		c.FFprobe = "ffprobe"
	}
	if c.Uploads <= 0 {
		c.Uploads = 8
	}
	if c.Preset == "" {
		c.Preset = "veryfast"
	}
}

// Ladder is the renditions an ingest makes. As a flag it reads as ParseLadder says.
type Ladder []Rendition

// UnmarshalText parses a ladder flag.
func (l *Ladder) UnmarshalText(b []byte) error {
	v, err := ParseLadder(string(b))
	if err != nil {
		return err
	}
	*l = v
	return nil
}

// ParseLadder parses renditions written as name:WIDTHxHEIGHT:video-bitrate:audio-bitrate,
// comma-separated, with bitrates in bits per second and an optional k or M suffix:
// "360p:640x360:800k:96k,720p:1280x720:2800k:128k".
func ParseLadder(s string) (Ladder, error) {
	var l Ladder
	for item := range strings.SplitSeq(s, ",") {
		parts := strings.Split(strings.TrimSpace(item), ":")
		if len(parts) != 4 {
			return nil, fmt.Errorf("ladder: %q is not name:WIDTHxHEIGHT:video-bitrate:audio-bitrate", item)
		}
		r := Rendition{Name: parts[0]}
		w, h, ok := strings.Cut(parts[1], "x")
		var err error
		if r.Width, err = strconv.Atoi(w); !ok || err != nil {
			return nil, fmt.Errorf("ladder: %q: size %q is not WIDTHxHEIGHT", item, parts[1])
		}
		if r.Height, err = strconv.Atoi(h); err != nil {
			return nil, fmt.Errorf("ladder: %q: size %q is not WIDTHxHEIGHT", item, parts[1])
		}
		if r.VideoBitrate, err = parseBitrate(parts[2]); err != nil {
			return nil, fmt.Errorf("ladder: %q: video bitrate: %w", item, err)
		}
		if r.AudioBitrate, err = parseBitrate(parts[3]); err != nil {
			return nil, fmt.Errorf("ladder: %q: audio bitrate: %w", item, err)
		}
		l = append(l, r)
	}
	if err := l.validate(); err != nil {
		return nil, err
	}
	return l, nil
}

func parseBitrate(s string) (int, error) {
	mult := 1.0
	switch {
	case strings.HasSuffix(s, "k"):
		mult, s = 1e3, s[:len(s)-1]
	case strings.HasSuffix(s, "M"):
		mult, s = 1e6, s[:len(s)-1]
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !(f*mult >= 1000) || f*mult > 1e9 {
		return 0, fmt.Errorf("%q is not a bitrate between 1k and 1000M", s)
	}
	return int(f * mult), nil
}

func (l Ladder) validate() error {
	if len(l) == 0 {
		return errors.New("ladder: no renditions")
	}
	seen := make(map[string]bool)
	for _, r := range l {
		if !ValidRenditionName(r.Name) {
			return fmt.Errorf("ladder: rendition name %q is not [a-z0-9]{1,16}", r.Name)
		}
		if seen[r.Name] {
			return fmt.Errorf("ladder: rendition %s twice", r.Name)
		}
		seen[r.Name] = true
		// H.264 in 4:2:0 needs even dimensions.
		if r.Width < 2 || r.Height < 2 || r.Width > 7680 || r.Height > 4320 || r.Width%2 != 0 || r.Height%2 != 0 {
			return fmt.Errorf("ladder: %s: %dx%d is not an even size up to 7680x4320", r.Name, r.Width, r.Height)
		}
		if r.VideoBitrate <= 0 || r.AudioBitrate <= 0 {
			return fmt.Errorf("ladder: %s: bitrates must be positive", r.Name)
		}
	}
	return nil
}

// Ingester turns source files into published, encrypted HLS versions of videos.
type Ingester struct {
	pool    *pgxpool.Pool
	objects *storage.Objects
	cfg     IngestConfig
}

// NewIngester returns an Ingester that keeps keys and versions in pool and segments in
// objects.
func NewIngester(pool *pgxpool.Pool, objects *storage.Objects, cfg IngestConfig) *Ingester {
	cfg.withDefaults()
	return &Ingester{pool: pool, objects: objects, cfg: cfg}
}

// IngestOptions says what an ingest is for.
type IngestOptions struct {
	// LessonID, when not 0, is the lesson that plays the video once it is published.
	LessonID int64
	// VideoID is the video the ingest makes a new version of. Empty means the lesson's
	// video, or a new video when the lesson has none (or there is no lesson).
	VideoID string
	// Title names the video; empty keeps the title it has.
	Title string
	// Actor is who ingests, for the rows' created_by_name.
	Actor string
}

// IngestResult is the version an ingest published.
type IngestResult struct {
	VideoID    string
	Version    int
	DurationMS int64
	Segments   int // per rendition, the most any rendition has
	Renditions []Rendition
	Took       time.Duration
}

// Advisory lock classes (the first key of pg_advisory_xact_lock(int, int)); catalog's
// seed holds 7261001.
const (
	lockLesson = 7261002
	lockVideo  = 7261003
)

// rendition is a transcoded rendition waiting in the temporary directory.
type rendition struct {
	Rendition
	dir      string
	segments []segment
	playlist []byte
}

// Ingest transcodes src into the configured ladder, encrypts and uploads it as a new
// version of a video and publishes that version, in one transaction that also points the
// lesson at the video. Versions already published are never touched, so viewers on them
// keep playing; when Ingest fails, nothing of the new version stays behind.
func (ing *Ingester) Ingest(ctx context.Context, src string, opt IngestOptions) (*IngestResult, error) {
	start := time.Now()
	cfg := &ing.cfg
	if err := cfg.Ladder.validate(); err != nil {
		return nil, err
	}
	if opt.VideoID != "" && !ValidVideoID(opt.VideoID) {
		return nil, fmt.Errorf("video id %q is not [a-z0-9]{6,32}", opt.VideoID)
	}
	if opt.LessonID < 0 {
		return nil, fmt.Errorf("lesson id %d is negative", opt.LessonID)
	}
	if _, err := os.Stat(src); err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	// Transcoding takes minutes; find out first whether there is a lesson to publish to.
	if opt.LessonID > 0 {
		if _, err := lessonVideo(ctx, ing.pool, opt.LessonID); err != nil {
			return nil, err
		}
	}
	prog := newProgress(cfg.Progress)
	s, err := probe(ctx, cfg.FFprobe, src)
	if err != nil {
		return nil, err
	}
	prog.printf("%s: %dx%d, %.1fs, audio: %t", src, s.width, s.height, s.duration, s.hasAudio)

	dir, err := os.MkdirTemp("", "luffy-ingest-")
	if err != nil {
		return nil, fmt.Errorf("work directory: %w", err)
	}
	defer os.RemoveAll(dir)
	rends, err := ing.transcode(ctx, src, s, dir, prog)
	if err != nil {
		return nil, err
	}

	segCount := 0
	var seconds float64
	for _, r := range rends {
		segCount = max(segCount, len(r.segments))
		var d float64
		for _, seg := range r.segments {
			d += seg.duration
		}
		seconds = max(seconds, d)
	}
	// A file cut short after its index (an mp4 with its moov atom first) probes as whole
	// and transcodes "successfully" up to where its data ends.
	if seconds < s.duration-cfg.SegmentSeconds {
		return nil, fmt.Errorf("%s is truncated: it says %.1fs but only %.1fs decode", src, s.duration, seconds)
	}
	keys := make([]contentKey, (segCount+cfg.KeyEvery-1)/cfg.KeyEvery)
	for i := range keys {
		keys[i] = contentKey{key: make([]byte, 16), iv: make([]byte, 16)}
		rand.Read(keys[i].key)
		rand.Read(keys[i].iv)
	}
	for i := range rends {
		rends[i].playlist = writePlaylist(rends[i].segments, keys, cfg.KeyEvery)
	}

	res := &IngestResult{DurationMS: int64(math.Round(seconds * 1000)), Segments: segCount}
	for _, r := range rends {
		res.Renditions = append(res.Renditions, r.Rendition)
	}
	if err := ing.store(ctx, opt, rends, keys, res, prog); err != nil {
		return nil, err
	}
	res.Took = time.Since(start)
	prog.printf("published video %s version %d in %s", res.VideoID, res.Version, res.Took.Round(time.Millisecond))
	return res, nil
}

// transcode runs ffmpeg once for the whole ladder and reads back what it made.
func (ing *Ingester) transcode(ctx context.Context, src string, s *source, dir string, prog *progress) ([]rendition, error) {
	cfg := &ing.cfg
	names := make([]string, len(cfg.Ladder))
	for i, r := range cfg.Ladder {
		names[i] = r.Name
	}
	prog.printf("transcoding into %s, %gs segments", strings.Join(names, ", "), cfg.SegmentSeconds)
	prog.start("transcode", int64(math.Ceil(s.duration*1000)), false)
	started := time.Now()
	err := runFFmpeg(ctx, cfg.FFmpeg, cfg.transcodeArgs(src, s, dir), func(t float64) { prog.set(int64(t * 1000)) })
	prog.finish()
	if err != nil {
		return nil, fmt.Errorf("transcode %s: %w", src, err)
	}
	rends := make([]rendition, len(cfg.Ladder))
	for i, r := range cfg.Ladder {
		rd := rendition{Rendition: r, dir: filepath.Join(dir, r.Name)}
		if rd.segments, err = readPlaylist(filepath.Join(rd.dir, playlistFile)); err != nil {
			return nil, fmt.Errorf("transcode %s: %w", src, err)
		}
		rd.Segments = len(rd.segments)
		rd.Bandwidth = peakBitrate(rd.segments)
		rends[i] = rd
	}
	prog.printf("transcoded in %s", time.Since(started).Round(time.Millisecond))
	return rends, nil
}

// store uploads a version and publishes it, in one transaction that first takes
// advisory locks on the lesson and the video. The locks are held from before the version
// number is chosen until the version is committed, or its objects deleted after a
// failure (an aborted transaction keeps its locks until it rolls back): two ingests of
// one video never pick the same version, and a failed one never deletes objects that
// another has uploaded. Ingests of other videos do not wait, and neither does anyone
// editing the lesson: no row is locked before the final writes.
func (ing *Ingester) store(ctx context.Context, opt IngestOptions, rends []rendition, keys []contentKey, res *IngestResult, prog *progress) error {
	tx, err := ing.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := reserveVersion(ctx, tx, opt, res); err != nil {
		return err
	}
	prefix := ObjectPrefix(res.VideoID, res.Version)
	err = ing.upload(ctx, prefix, rends, keys, prog)
	if err == nil {
		if err = ing.writeVersion(ctx, tx, opt, res, prefix, keys); err != nil {
			err = fmt.Errorf("publish video %s version %d: %w", res.VideoID, res.Version, err)
		}
	}
	if err == nil {
		err = ing.commit(ctx, tx, res, keys)
	}
	if err == nil || errors.Is(err, errMaybePublished) {
		return err
	}
	// Uploads may have begun; clear the prefix while the lock still keeps it ours.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if cerr := ing.removePrefix(cctx, prefix); cerr != nil {
		return fmt.Errorf("%w (objects left under %s: %v)", err, prefix, cerr)
	}
	return err
}

// reserveVersion locks the lesson and the video and picks the video's next version.
func reserveVersion(ctx context.Context, tx pgx.Tx, opt IngestOptions, res *IngestResult) error {
	res.VideoID = opt.VideoID
	if opt.LessonID > 0 {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, lockLesson, strconv.FormatInt(opt.LessonID, 10)); err != nil {
			return fmt.Errorf("lock lesson %d: %w", opt.LessonID, err)
		}
		// Read under the lock: an ingest of this lesson that just finished may have given
		// it its first video, and this one must make a version of that video, not another.
		current, err := lessonVideo(ctx, tx, opt.LessonID)
		if err != nil {
			return err
		}
		if res.VideoID == "" {
			res.VideoID = current
		}
	}
	if res.VideoID == "" {
		res.VideoID = newVideoID()
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, lockVideo, res.VideoID); err != nil {
		return fmt.Errorf("lock video %s: %w", res.VideoID, err)
	}
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) + 1 FROM video_versions WHERE video_id = $1`, res.VideoID).Scan(&res.Version); err != nil {
		return fmt.Errorf("next version of video %s: %w", res.VideoID, err)
	}
	return nil
}

// errMaybePublished marks a publish whose commit may have happened all the same (its
// connection broke): its objects stay, because deleting a published version's segments
// would break every viewer of it.
var errMaybePublished = errors.New("the version may be published")

type queryRower interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// lessonVideo is the video a lesson plays, "" when it has none yet.
func lessonVideo(ctx context.Context, q queryRower, lessonID int64) (string, error) {
	var id *string
	err := q.QueryRow(ctx, `SELECT video_id FROM lessons WHERE id = $1 AND deleted_at IS NULL`, lessonID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("lesson %d not found", lessonID)
	}
	if err != nil {
		return "", fmt.Errorf("look up lesson %d: %w", lessonID, err)
	}
	if id == nil {
		return "", nil
	}
	return *id, nil
}

// newVideoID is 12 random characters of [a-z0-9]: 62 bits, so ids never collide in
// practice and cannot be guessed from one another.
func newVideoID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	id := make([]byte, 0, 12)
	var b [16]byte
	for len(id) < cap(id) {
		rand.Read(b[:])
		for _, c := range b {
			// 252 is 7*36: dropping the bytes above it keeps every character equally likely.
			if c < 252 && len(id) < cap(id) {
				id = append(id, alphabet[c%36])
			}
		}
	}
	return string(id)
}

// upload encrypts every segment and puts it, and the playlists, under prefix.
func (ing *Ingester) upload(ctx context.Context, prefix string, rends []rendition, keys []contentKey, prog *progress) error {
	keyEvery := ing.cfg.KeyEvery
	var total int64
	objects := 0
	for _, r := range rends {
		total += int64(len(r.playlist))
		for _, s := range r.segments {
			total += s.size
		}
		objects += len(r.segments) + 1
	}
	prog.printf("uploading %d objects (%.1f MB) to %s", objects, float64(total)/1e6, prefix)
	prog.start("upload", total, true)
	defer prog.finish()

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(ing.cfg.Uploads)
	for _, r := range rends {
		for i, s := range r.segments {
			g.Go(func() error {
				if err := gctx.Err(); err != nil { // another upload failed: do not read and seal for nothing
					return err
				}
				plain, err := os.ReadFile(filepath.Join(r.dir, s.file))
				if err != nil {
					return err
				}
				body := seal(keys[i/keyEvery], plain)
				if err := ing.put(gctx, prefix+r.Name+"/"+s.file, body, "video/mp2t"); err != nil {
					return err
				}
				prog.add(int64(len(body)))
				return nil
			})
		}
		g.Go(func() error {
			if err := ing.put(gctx, prefix+r.Name+"/"+playlistFile, r.playlist, "application/vnd.apple.mpegurl"); err != nil {
				return err
			}
			prog.add(int64(len(r.playlist)))
			return nil
		})
	}
	return g.Wait()
}

// put stores one object, trying three times: one lost request should not throw away a
// transcode that took minutes.
func (ing *Ingester) put(ctx context.Context, key string, body []byte, contentType string) error {
	var err error
	for attempt := range 3 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("upload %s: %w", key, ctx.Err())
			case <-time.After(time.Duration(attempt*attempt) * 250 * time.Millisecond):
			}
		}
		_, err = ing.objects.PutObject(ctx, ing.objects.Bucket, key, bytes.NewReader(body), int64(len(body)),
			minio.PutObjectOptions{ContentType: contentType})
		if err == nil {
			return nil
		}
	}
	return fmt.Errorf("upload %s: %w", key, err)
}

// commit commits the publish. A commit whose connection broke may have happened all the
// same, so then it asks whether this ingest's first key is there, which no other ingest
// can have written. (By then the locks are gone with the connection: a concurrent ingest
// of the same video could pick this version number while this one deletes its objects.
// It takes a connection dying at the commit and a second ingest of one video waiting at
// that moment.)
func (ing *Ingester) commit(ctx context.Context, tx pgx.Tx, res *IngestResult, keys []contentKey) error {
	err := tx.Commit(ctx)
	if err == nil {
		return nil
	}
	var committed bool
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	qerr := ing.pool.QueryRow(qctx, `
		SELECT EXISTS (SELECT 1 FROM video_versions vv JOIN video_keys k ON k.video_version_id = vv.id
		WHERE vv.video_id = $1 AND vv.version = $2 AND k.key_index = 0 AND k.key = $3)`,
		res.VideoID, res.Version, keys[0].key).Scan(&committed)
	switch {
	case qerr != nil:
		return fmt.Errorf("publish video %s version %d: commit: %w (%w: %v)", res.VideoID, res.Version, err, errMaybePublished, qerr)
	case committed:
		return nil
	}
	return fmt.Errorf("publish video %s version %d: commit: %w", res.VideoID, res.Version, err)
}

// writeVersion records the version and its keys, moves the video to it and points the
// lesson at the video.
func (ing *Ingester) writeVersion(ctx context.Context, tx pgx.Tx, opt IngestOptions, res *IngestResult, prefix string, keys []contentKey) error {
	renditions, err := json.Marshal(res.Renditions)
	if err != nil {
		return err
	}
	ks, ivs := make([][]byte, len(keys)), make([][]byte, len(keys))
	for i, k := range keys {
		ks[i], ivs[i] = k.key, k.iv
	}
	if _, err := tx.Exec(ctx, `INSERT INTO videos (id, title, created_by_name) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING`,
		res.VideoID, opt.Title, opt.Actor); err != nil {
		return fmt.Errorf("insert video: %w", err)
	}
	var versionID int64
	if err := tx.QueryRow(ctx, `
		INSERT INTO video_versions (video_id, version, object_prefix, renditions, segment_seconds, segment_count, duration_ms, keys_every, created_by_name)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
		res.VideoID, res.Version, prefix, renditions, float32(ing.cfg.SegmentSeconds), res.Segments, res.DurationMS, ing.cfg.KeyEvery, opt.Actor,
	).Scan(&versionID); err != nil {
		return fmt.Errorf("insert version: %w", err)
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO video_keys (video_version_id, key_index, key, iv, created_by_name)
		SELECT $1, n - 1, k, iv, $4 FROM unnest($2::bytea[], $3::bytea[]) WITH ORDINALITY AS t(k, iv, n)`,
		versionID, ks, ivs, opt.Actor); err != nil {
		return fmt.Errorf("insert keys: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE videos SET published_version = $2, title = CASE WHEN $3 = '' THEN title ELSE $3 END WHERE id = $1`,
		res.VideoID, res.Version, opt.Title); err != nil {
		return fmt.Errorf("move video to the version: %w", err)
	}
	if opt.LessonID == 0 {
		return nil
	}
	tag, err := tx.Exec(ctx, `UPDATE lessons SET video_id = $2, duration_seconds = $3 WHERE id = $1 AND deleted_at IS NULL`,
		opt.LessonID, res.VideoID, int32(math.Round(float64(res.DurationMS)/1000)))
	if err != nil {
		return fmt.Errorf("point lesson %d at the video: %w", opt.LessonID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("lesson %d not found", opt.LessonID)
	}
	return nil
}

// removePrefix deletes every object under prefix.
func (ing *Ingester) removePrefix(ctx context.Context, prefix string) error {
	ctx, cancel := context.WithCancel(ctx) // stops the listing if we return early
	defer cancel()
	var found []minio.ObjectInfo
	for o := range ing.objects.ListObjects(ctx, ing.objects.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			return fmt.Errorf("list %s: %w", prefix, o.Err)
		}
		found = append(found, o)
	}
	ch := make(chan minio.ObjectInfo, len(found))
	for _, o := range found {
		ch <- o
	}
	close(ch)
	var errs []error
	for e := range ing.objects.RemoveObjects(ctx, ing.objects.Bucket, ch, minio.RemoveObjectsOptions{}) {
		errs = append(errs, fmt.Errorf("remove %s: %w", e.ObjectName, e.Err))
	}
	return errors.Join(errs...)
}
