package video

import (
	"bufio"
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// playlistFile is the object name of a rendition's media playlist, as doc.go lays out.
const playlistFile = "index.m3u8"

// source is what ffprobe says about the file to ingest.
type source struct {
	duration float64 // seconds
	width    int
	height   int
	hasAudio bool
}

// probe asks ffprobe what src holds. A file ffprobe cannot open, one without a video
// stream (cover art of an audio file does not count) and one with no duration are not
// videos.
func probe(ctx context.Context, ffprobe, src string) (*source, error) {
	var stderr tail
	cmd := exec.CommandContext(ctx, ffprobe, "-v", "error", "-print_format", "json", "-show_format", "-show_streams", src)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("probe %s: %w", src, ctx.Err())
		}
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return nil, fmt.Errorf("%s is not a video or is truncated: ffprobe: %s", src, stderr.String())
		}
		return nil, fmt.Errorf("run %s: %w", ffprobe, err)
	}
	var info struct {
		Streams []struct {
			CodecType   string `json:"codec_type"`
			Width       int    `json:"width"`
			Height      int    `json:"height"`
			Disposition struct {
				AttachedPic int `json:"attached_pic"`
			} `json:"disposition"`
		} `json:"streams"`
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(out, &info); err != nil {
		return nil, fmt.Errorf("parse ffprobe output for %s: %w", src, err)
	}
	var s source
	for _, st := range info.Streams {
		switch {
		case st.CodecType == "video" && st.Disposition.AttachedPic == 0 && s.width == 0:
			s.width, s.height = st.Width, st.Height
		case st.CodecType == "audio":
			s.hasAudio = true
		}
	}
	if s.width == 0 {
		return nil, fmt.Errorf("%s is not a video: no video stream", src)
	}
	s.duration, _ = strconv.ParseFloat(info.Format.Duration, 64)
	if !(s.duration > 0) {
		return nil, fmt.Errorf("%s is not a video: no duration", src)
	}
	return &s, nil
}

// transcodeArgs is the single ffmpeg run that makes every rendition of the ladder into
// dir/<name>/index.m3u8 and dir/<name>/seg-NNNNN.ts: unencrypted MPEG-TS segments that
// Ingest then encrypts itself, because ffmpeg's own HLS encryption cannot rotate keys on a
// schedule shared by every rendition.
func (c *IngestConfig) transcodeArgs(src string, s *source, dir string) []string {
	seg := strconv.FormatFloat(c.SegmentSeconds, 'f', -1, 64)
	args := []string{"-hide_banner", "-nostdin", "-loglevel", "error", "-nostats", "-progress", "pipe:1", "-y", "-i", src}
	audio := "0:a:0"
	if !s.hasAudio {
		// Players switch renditions more smoothly, and some refuse to start, when every
		// rendition has the same tracks: give a silent source a silent audio track.
		args = append(args, "-f", "lavfi", "-t", strconv.FormatFloat(s.duration, 'f', 3, 64),
			"-i", "anullsrc=channel_layout=stereo:sample_rate=48000")
		audio = "1:a:0"
	}
	// Scale to fit and pad, so that a source of another aspect ratio keeps its shape and
	// every rendition still has exactly the size the master playlist announces. V, not v:
	// the first video stream that is not cover art, as probe chose.
	var graph strings.Builder
	fmt.Fprintf(&graph, "[0:V:0]split=%d", len(c.Ladder))
	for i := range c.Ladder {
		fmt.Fprintf(&graph, "[s%d]", i)
	}
	for i, r := range c.Ladder {
		fmt.Fprintf(&graph, ";[s%d]scale=%d:%d:force_original_aspect_ratio=decrease:force_divisible_by=2,pad=%d:%d:(ow-iw)/2:(oh-ih)/2,setsar=1,format=yuv420p[v%d]",
			i, r.Width, r.Height, r.Width, r.Height, i)
	}
	args = append(args, "-filter_complex", graph.String())
	var streams []string
	for i, r := range c.Ladder {
		n := strconv.Itoa(i)
		args = append(args, "-map", "[v"+n+"]", "-map", audio,
			// maxrate and bufsize cap the peaks, so that the measured bandwidth stays near
			// the rung's nominal bitrate and the ladder's rungs stay apart.
			"-b:v:"+n, strconv.Itoa(r.VideoBitrate),
			"-maxrate:v:"+n, strconv.Itoa(r.VideoBitrate*107/100),
			"-bufsize:v:"+n, strconv.Itoa(r.VideoBitrate*3/2),
			"-b:a:"+n, strconv.Itoa(r.AudioBitrate))
		streams = append(streams, fmt.Sprintf("v:%d,a:%d,name:%s", i, i, r.Name))
	}
	args = append(args,
		"-c:v", "libx264", "-preset", c.Preset,
		// Keyframes forced at every multiple of the segment length, none from scene cuts:
		// every rendition cuts at the same instants, so segment i covers the same time in
		// all of them and one key schedule fits all.
		"-force_key_frames", "expr:gte(t,n_forced*"+seg+")", "-sc_threshold", "0",
		"-c:a", "aac", "-ac", "2",
		// Several outputs fed by one filter graph can otherwise overflow ffmpeg's default
		// per-stream queue before the slowest encoder starts writing.
		"-max_muxing_queue_size", "4096",
		"-f", "hls", "-hls_time", seg, "-hls_playlist_type", "vod", "-hls_segment_type", "mpegts",
		"-hls_segment_filename", filepath.Join(dir, "%v", "seg-%05d.ts"),
		"-var_stream_map", strings.Join(streams, " "),
		filepath.Join(dir, "%v", playlistFile))
	return args
}

// runFFmpeg runs ffmpeg with args. Each out_time it reports on its -progress pipe goes to
// onTime in seconds, when it is not nil. A failure carries the end of ffmpeg's stderr,
// which is where ffmpeg says what went wrong.
func runFFmpeg(ctx context.Context, ffmpeg string, args []string, onTime func(seconds float64)) error {
	var stderr tail
	cmd := exec.CommandContext(ctx, ffmpeg, args...)
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run %s: %w", ffmpeg, err)
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		// out_time_ms is in microseconds too (an ffmpeg bug kept for compatibility);
		// out_time_us says what it is.
		v, ok := strings.CutPrefix(sc.Text(), "out_time_us=")
		if !ok || onTime == nil {
			continue
		}
		if us, err := strconv.ParseInt(v, 10, 64); err == nil && us >= 0 {
			onTime(float64(us) / 1e6)
		}
	}
	if err := cmd.Wait(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("ffmpeg: %w: %s", err, stderr.String())
	}
	return nil
}

// segment is one media segment of a rendition.
type segment struct {
	file     string  // name in the rendition's directory, SegmentName(i)
	duration float64 // seconds, from EXTINF
	size     int64   // bytes once encrypted
}

// readPlaylist reads the segments of a media playlist that ffmpeg wrote, checking that
// they are named as the object layout says.
func readPlaylist(path string) ([]segment, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var segs []segment
	var duration float64
	pending := false
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "#EXTINF:"):
			d, _, _ := strings.Cut(strings.TrimPrefix(line, "#EXTINF:"), ",")
			duration, err = strconv.ParseFloat(d, 64)
			if err != nil || !(duration > 0) {
				return nil, fmt.Errorf("%s: bad %q", path, line)
			}
			pending = true
		case line == "" || strings.HasPrefix(line, "#"):
			// ffmpeg's other tags: writePlaylist writes its own.
		case !pending:
			return nil, fmt.Errorf("%s: %q has no EXTINF", path, line)
		default:
			if want := SegmentName(len(segs)); line != want {
				return nil, fmt.Errorf("%s: ffmpeg wrote %q where %q belongs", path, line, want)
			}
			fi, err := os.Stat(filepath.Join(filepath.Dir(path), line))
			if err != nil {
				return nil, err
			}
			segs = append(segs, segment{file: line, duration: duration, size: sealedSize(fi.Size())})
			pending = false
		}
	}
	if len(segs) == 0 {
		return nil, fmt.Errorf("%s: no segments", path)
	}
	return segs, nil
}

// contentKey is the AES-128 key and IV of one run of KeyEvery segments.
type contentKey struct {
	key, iv []byte
}

// writePlaylist renders the media playlist that players get: ffmpeg's segments and
// durations, with an EXT-X-KEY before the first segment of every key.
func writePlaylist(segs []segment, keys []contentKey, keyEvery int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:%d\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n", targetDuration(segs))
	for i, s := range segs {
		if i%keyEvery == 0 {
			k := i / keyEvery
			fmt.Fprintf(&b, "#EXT-X-KEY:METHOD=AES-128,URI=%q,IV=0x%s\n", KeyURI(k), hex.EncodeToString(keys[k].iv))
		}
		fmt.Fprintf(&b, "#EXTINF:%.6f,\n%s\n", s.duration, s.file)
	}
	b.WriteString("#EXT-X-ENDLIST\n")
	return b.Bytes()
}

// targetDuration is a playlist's EXT-X-TARGETDURATION: no segment may be longer.
func targetDuration(segs []segment) int {
	var longest float64
	for _, s := range segs {
		longest = max(longest, s.duration)
	}
	return int(math.Ceil(longest))
}

// peakBitrate is the HLS peak segment bit rate (RFC 8216, 4.3.4.2): the highest bit rate
// of any run of consecutive segments lasting 0.5 to 1.5 target durations. Measuring
// segments one by one would let a short last segment (one keyframe in 40 ms) claim a peak
// that no viewer's connection ever sees.
func peakBitrate(segs []segment) int {
	target := float64(targetDuration(segs))
	var peak float64
	var allBytes int64
	var allSeconds float64
	for i := range segs {
		allBytes += segs[i].size
		allSeconds += segs[i].duration
		var bytes int64
		var seconds float64
		for _, s := range segs[i:] {
			bytes += s.size
			seconds += s.duration
			if seconds > 1.5*target {
				break
			}
			if seconds >= 0.5*target {
				peak = max(peak, float64(bytes*8)/seconds)
			}
		}
	}
	if peak == 0 { // a video shorter than half a target duration: the whole is the measure
		peak = float64(allBytes*8) / allSeconds
	}
	return int(math.Ceil(peak))
}

// sealedSize is the size of n bytes once encrypted: PKCS#7 always adds 1 to 16 bytes.
func sealedSize(n int64) int64 { return n + aes.BlockSize - n%aes.BlockSize }

// seal encrypts a segment as HLS METHOD=AES-128 says: AES-128-CBC with PKCS#7 padding.
func seal(k contentKey, plain []byte) []byte {
	block, err := aes.NewCipher(k.key)
	if err != nil {
		panic(err) // keys are made 16 bytes long
	}
	out := make([]byte, sealedSize(int64(len(plain))))
	copy(out, plain)
	pad := byte(len(out) - len(plain))
	for i := len(plain); i < len(out); i++ {
		out[i] = pad
	}
	cipher.NewCBCEncrypter(block, k.iv).CryptBlocks(out, out)
	return out
}

// tail keeps the last few KiB written to it: enough of ffmpeg's stderr to say why it
// failed, without holding all of it for a file that logs an error per frame.
type tail struct{ b []byte }

const tailSize = 2048

func (t *tail) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 2*tailSize {
		t.b = append(t.b[:0], t.b[len(t.b)-tailSize:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	b := t.b
	if len(b) > tailSize {
		b = b[len(b)-tailSize:]
	}
	return strings.TrimSpace(string(b))
}
