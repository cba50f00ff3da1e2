package catalog

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
)

// Limits of a list page.
const (
	DefaultLimit = 20
	MaxLimit     = 100
)

// ErrNotFound is returned for ids that do not name a listable row.
var ErrNotFound = errors.New("not found")

// InputError says which client input is wrong and why; HTTP answers it with a 400.
type InputError struct{ Field, Reason string }

func (e *InputError) Error() string { return e.Field + ": " + e.Reason }

// Cursor is a position in the (sort_code, id) order of courses. Keyset pagination over
// that order stays stable while courses are inserted: a page never repeats or skips a
// course that existed when the first page was read.
type Cursor struct {
	SortCode int32
	ID       int64
}

const cursorPrefix = "v1."

// Encode renders c as an opaque URL-safe token.
func (c Cursor) Encode() string {
	raw := cursorPrefix + strconv.FormatInt(int64(c.SortCode), 10) + "." + strconv.FormatInt(c.ID, 10)
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// DecodeCursor parses a token made by Encode.
func DecodeCursor(s string) (Cursor, error) {
	bad := &InputError{"cursor", "not a cursor this server issued"}
	if len(s) == 0 || len(s) > 64 {
		return Cursor{}, bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Cursor{}, bad
	}
	rest, ok := strings.CutPrefix(string(raw), cursorPrefix)
	if !ok {
		return Cursor{}, bad
	}
	sc, id, ok := strings.Cut(rest, ".")
	if !ok {
		return Cursor{}, bad
	}
	sortCode, err := strconv.ParseInt(sc, 10, 32)
	if err != nil {
		return Cursor{}, bad
	}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n < 0 {
		return Cursor{}, bad
	}
	return Cursor{SortCode: int32(sortCode), ID: n}, nil
}

// ListQuery selects a page of published courses.
type ListQuery struct {
	// CategoryID filters by a category, or by every category of a direction; 0: all.
	CategoryID int64
	// Type filters by course type; empty: all.
	Type CourseType
	// After starts the page after this position; nil: the first page.
	After *Cursor
	// Limit is the page size, 1..MaxLimit.
	Limit int
}

// ParseID parses a positive decimal row id.
func ParseID(field, s string) (int64, error) {
	if len(s) == 0 || len(s) > 19 {
		return 0, &InputError{field, "must be a positive integer id"}
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, &InputError{field, "must be a positive integer id"}
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, &InputError{field, "must be a positive integer id"}
	}
	return n, nil
}

// ParseListQuery validates the raw query parameters of a list request. Empty strings mean
// "not given". A limit above MaxLimit is capped rather than refused.
func ParseListQuery(category, typ, cursor, limit string) (ListQuery, error) {
	q := ListQuery{Limit: DefaultLimit}
	if category != "" {
		id, err := ParseID("category", category)
		if err != nil {
			return q, err
		}
		q.CategoryID = id
	}
	if typ != "" {
		q.Type = CourseType(typ)
		if !q.Type.Valid() {
			return q, &InputError{"type", "must be one of employment, light, practical, free"}
		}
	}
	if cursor != "" {
		c, err := DecodeCursor(cursor)
		if err != nil {
			return q, err
		}
		q.After = &c
	}
	if limit != "" {
		bad := &InputError{"limit", "must be an integer from 1 to " + strconv.Itoa(MaxLimit)}
		for i := 0; i < len(limit); i++ {
			if limit[i] < '0' || limit[i] > '9' {
				return q, bad
			}
		}
		if len(limit) > 9 { // digits only, so simply huge: capped like any large limit
			q.Limit = MaxLimit
			return q, nil
		}
		n, _ := strconv.Atoi(limit)
		if n < 1 {
			return q, bad
		}
		q.Limit = min(n, MaxLimit)
	}
	return q, nil
}
