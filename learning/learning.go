package learning

import (
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/luffy-edu/luffy/jobs"
	"github.com/luffy-edu/luffy/storage"
)

// Config holds the homework and question policies. Zero values mean the documented
// defaults.
type Config struct {
	// MaxFileBytes bounds each submitted file (default 10 MiB).
	MaxFileBytes int64
	// AllowedTypes are the media types a submitted file may have (default PDF, PNG, JPEG,
	// zip, plain text and markdown). A file's type is sniffed from its content and must
	// agree with its extension, so a renamed executable is refused.
	AllowedTypes []string
	// PassScore is the lowest passing score out of 100 (default 60).
	PassScore int
	// WorkdayStart and WorkdayEnd are the hours, Monday to Friday in Location, that count
	// toward a question's 2 working hours with its tutor (default 9 and 18).
	WorkdayStart, WorkdayEnd int
	// Location is the tutors' time zone (default Asia/Shanghai).
	Location *time.Location
}

// DefaultAllowedTypes are the file types a submission may carry when Config names none.
var DefaultAllowedTypes = []string{"application/pdf", "image/png", "image/jpeg", "application/zip", "text/plain", "text/markdown"}

func (c Config) withDefaults() Config {
	if c.MaxFileBytes <= 0 {
		c.MaxFileBytes = 10 << 20
	}
	if len(c.AllowedTypes) == 0 {
		c.AllowedTypes = DefaultAllowedTypes
	}
	if c.PassScore <= 0 {
		c.PassScore = 60
	}
	if c.WorkdayStart == 0 && c.WorkdayEnd == 0 {
		c.WorkdayStart, c.WorkdayEnd = 9, 18
	}
	if c.Location == nil {
		loc, err := time.LoadLocation("Asia/Shanghai")
		if err != nil { // no tzdata on this machine; China has had no DST since 1991
			loc = time.FixedZone("CST", 8*60*60)
		}
		c.Location = loc
	}
	return c
}

// Service records submissions, grades and questions.
type Service struct {
	pool    *pgxpool.Pool
	objects *storage.Objects
	enq     jobs.Enqueuer
	cfg     Config
	allowed map[string]bool
	// now is the clock that timers are computed from; tests move it.
	now func() time.Time
}

// New returns a Service. enq inserts the question timers in the caller's transaction.
func New(pool *pgxpool.Pool, objects *storage.Objects, enq jobs.Enqueuer, cfg Config) *Service {
	cfg = cfg.withDefaults()
	allowed := make(map[string]bool, len(cfg.AllowedTypes))
	for _, t := range cfg.AllowedTypes {
		allowed[strings.ToLower(strings.TrimSpace(t))] = true
	}
	return &Service{pool: pool, objects: objects, enq: enq, cfg: cfg, allowed: allowed, now: time.Now}
}

// Errors a client can cause; the HTTP layer maps them to statuses.
var (
	ErrNotFound  = errors.New("not found")
	ErrForbidden = errors.New("forbidden")
	// ErrConflict means the record moved on: a question already taken or answered, a
	// submission already graded.
	ErrConflict = errors.New("already changed by someone else")
)

// InputError names a field a client got wrong.
type InputError struct{ Field, Reason string }

func (e *InputError) Error() string { return e.Field + ": " + e.Reason }

func checkText(field, s string, minRunes, maxRunes int) error {
	if !utf8.ValidString(s) {
		return &InputError{field, "must be valid UTF-8"}
	}
	n := utf8.RuneCountInString(s)
	if n < minRunes {
		if minRunes == 1 {
			return &InputError{field, "is required"}
		}
		return &InputError{field, "is too short"}
	}
	if n > maxRunes {
		return &InputError{field, "must be at most " + strconv.Itoa(maxRunes) + " characters"}
	}
	if strings.ContainsRune(s, 0) {
		return &InputError{field, "must not contain NUL"}
	}
	return nil
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, unicode.IsControl)
}

func clampLimit(limit int) int {
	if limit <= 0 {
		return 50
	}
	return min(limit, 200)
}
