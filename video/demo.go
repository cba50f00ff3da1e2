package video

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// DemoSource makes a video to ingest when there is no real one: seconds of ffmpeg's
// testsrc2 pattern at 1280x720 and 25 fps with a sine tone, as H.264/AAC in
// dir/<label>.mp4. It draws no text, because drawtext needs fonts that a minimal ffmpeg
// install lacks; label names the file and goes into its title metadata.
func DemoSource(ctx context.Context, ffmpeg, dir string, seconds int, label string) (path string, err error) {
	if seconds <= 0 {
		return "", fmt.Errorf("demo source of %d seconds", seconds)
	}
	if ffmpeg == "" {
		ffmpeg = "ffmpeg"
	}
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '-'
	}, label)
	if name == "" {
		name = "demo"
	}
	path = filepath.Join(dir, name+".mp4")
	d := strconv.Itoa(seconds)
	args := []string{"-hide_banner", "-nostdin", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25:duration=" + d,
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=" + d,
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", "96k",
		"-metadata", "title=" + label,
		// The index first, as a file prepared for the web has it.
		"-movflags", "+faststart",
		path}
	if err := runFFmpeg(ctx, ffmpeg, args, nil); err != nil {
		return "", fmt.Errorf("make demo source %s: %w", path, err)
	}
	return path, nil
}
