package origin

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/luffy-edu/luffy/paysim"
	"github.com/luffy-edu/luffy/video"
)

// sweepInput is one bad request of the sweep.
type sweepInput struct {
	what    string
	path    string // with the query, if any
	body    []byte
	headers []string
	// overLimit marks a request over the header cap: the origin answers it after reading
	// 8 KiB and closes, so it is written whole before the answer is read.
	overLimit bool
}

// sweepRoute is a route that takes input, and what a good request to it looks like; the
// sweep sends it bad ones made from that.
type sweepRoute struct {
	method, path string // a path with {id} gets bad ids in place of id
	id           any    // the id the bad bodies are sent to
	as           identity
	headers      []string
	body         map[string]any // a good JSON body; nil: the route takes none
	query        []string       // query parameters, each swept on its own
	extra        []sweepInput   // bad requests only this route takes (multipart, archives, signed callbacks)
}

// fieldKind says which wrong values a JSON field gets.
type fieldKind int

const (
	kindID      fieldKind = iota // a positive id
	kindCount                    // a whole number that cannot be negative: money, points, a score
	kindInteger                  // any whole number (a sort code)
	kindReal                     // a number with a fraction (a tolerance)
	kindText                     // a string kept as text
	kindSecret                   // a string never kept (a password): any valid UTF-8 will do
	kindBool
	kindTime
	kindList
	kindProblem // a problem's id (a number) or slug (a string)
)

func kindOf(key string, v any) fieldKind {
	switch v.(type) {
	case float64:
		return kindReal
	case int, int32, int64:
		switch {
		case key == "id" || strings.HasSuffix(key, "_id"):
			return kindID
		case key == "sort_code":
			return kindInteger
		}
		return kindCount
	case bool:
		return kindBool
	case time.Time:
		return kindTime
	case []any, []string, []map[string]any:
		return kindList
	}
	switch key {
	case "problem":
		return kindProblem
	case "password":
		return kindSecret
	}
	return kindText
}

var (
	megaString  = `"` + strings.Repeat("a", 1_000_000) + `"`
	badUTF8     = "\"\xff\xfe\xfd\""
	wrongTypes  = []string{`true`, `[]`, `{}`}
	deepArray   = strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000)
	deepInField = strings.Repeat("[", 5_000) + strings.Repeat("]", 5_000)
)

// wrongValues are the bad values of a field of kind k, by what they are.
func wrongValues(k fieldKind) map[string]string {
	out := map[string]string{}
	add := func(what string, raws ...string) {
		for i, r := range raws {
			out[fmt.Sprintf("%s %d", what, i+1)] = r
		}
	}
	switch k {
	case kindID:
		add("wrong type", append(wrongTypes, `"1"`)...)
		add("zero or negative", `0`, `-1`, `-9223372036854775808`)
		add("huge", `1e400`, `99999999999999999999`, `9223372036854775807`)
		add("fraction", `1.5`)
	case kindCount, kindInteger:
		add("wrong type", append(wrongTypes, `"1"`)...)
		add("huge", `1e400`, `-1e400`, `99999999999999999999`, `-99999999999999999999`)
		add("fraction", `1.5`)
		if k == kindCount {
			add("negative", `-1`)
		}
	case kindReal:
		add("wrong type", append(wrongTypes, `"1"`)...)
		add("huge", `1e400`, `-1e400`)
		add("negative", `-1`)
	case kindText, kindSecret:
		add("wrong type", append(wrongTypes, `1`)...)
		add("10^6 characters", megaString)
		add("invalid UTF-8", badUTF8)
		if k == kindText {
			add("NUL", `"a\u0000b"`)
		}
	case kindBool:
		add("wrong type", `"true"`, `1`, `[]`, `{}`)
	case kindTime:
		add("wrong type", append(wrongTypes, `1`)...)
		add("not a time", `"yesterday"`, `"99999-01-01T00:00:00Z"`)
	case kindList:
		add("wrong type", `{}`, `"x"`, `1`, `true`)
		add("deeply nested", deepInField)
	case kindProblem:
		add("wrong type", wrongTypes...)
		add("zero or negative", `0`, `-1`)
		add("huge", `99999999999999999999`, `1e400`)
		add("fraction", `1.5`)
		add("10^6 characters", megaString)
		add("invalid UTF-8", badUTF8)
		add("NUL", `"a\u0000b"`)
		add("empty", `""`)
	}
	return out
}

// jsonField is a field of a body with its value as raw JSON, so that a bad value can be
// any bytes at all.
type jsonField struct {
	key string
	raw string
}

func jsonFields(t *testing.T, m map[string]any) []jsonField {
	t.Helper()
	var fs []jsonField
	for k, v := range m {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		fs = append(fs, jsonField{k, string(b)})
	}
	slices.SortFunc(fs, func(a, b jsonField) int { return strings.Compare(a.key, b.key) })
	return fs
}

func jsonObject(fs []jsonField) string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = fmt.Sprintf("%q:%s", f.key, f.raw)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func withField(fs []jsonField, i int, raw string) []jsonField {
	out := slices.Clone(fs)
	out[i].raw = raw
	return out
}

type jsonVariant struct{ what, body string }

// objectVariants are good object m with one thing wrong: a field of a wrong type or
// value, or a field it does not have; objects in lists are swept the same way.
func objectVariants(t *testing.T, m map[string]any) []jsonVariant {
	t.Helper()
	fs := jsonFields(t, m)
	vs := []jsonVariant{
		{"an unknown field", jsonObject(append(slices.Clone(fs), jsonField{"unknown_field", `1`}))},
		{"an empty key", jsonObject(append(slices.Clone(fs), jsonField{"", `1`}))},
		{"a key in invalid UTF-8", strings.Replace(jsonObject(append(slices.Clone(fs), jsonField{"k", `1`})), `"k"`, "\"\xff\"", 1)},
	}
	for i, f := range fs {
		v := m[f.key]
		vals := wrongValues(kindOf(f.key, v))
		for _, what := range slices.Sorted(maps.Keys(vals)) {
			vs = append(vs, jsonVariant{f.key + ": " + what, jsonObject(withField(fs, i, vals[what]))})
		}
		switch elems := v.(type) {
		case []map[string]any:
			for _, ev := range objectVariants(t, elems[0]) {
				vs = append(vs, jsonVariant{f.key + "[0]: " + ev.what, jsonObject(withField(fs, i, "["+ev.body+"]"))})
			}
		case []string:
			vs = append(vs, jsonVariant{f.key + "[0]: wrong type", jsonObject(withField(fs, i, `[1]`))},
				jsonVariant{f.key + "[0]: 10^6 characters", jsonObject(withField(fs, i, "["+megaString+"]"))},
				jsonVariant{f.key + "[0]: invalid UTF-8", jsonObject(withField(fs, i, "["+badUTF8+"]"))})
		}
	}
	return vs
}

// bodyVariants are the bodies no route takes, whatever its good body is.
var bodyVariants = []jsonVariant{
	{"empty", ``}, {"blank", "  \n"}, {"truncated", `{`}, {"a stray brace", `}`}, {"an unterminated key", `{"`},
	{"a key without value", `{"a"}`}, {"a colon without value", `{"a":}`}, {"a lone comma", `{,}`}, {"an open array", `[`},
	{"a trailing comma", `{"a":1,}`}, {"single quotes", `{'a':1}`}, {"a truncated literal", `nul`}, {"a bad literal", `{"a":tru}`},
	{"two values", `{}{}`}, {"trailing garbage", `{} x`}, {"a control character in a string", "{\"a\":\"\x01\"}"},
	{"a bad exponent", `{"a":1e}`}, {"a byte-order mark", "\xef\xbb\xbf{}"}, {"invalid UTF-8 outside strings", "{\xff}"},
	{"an array", `[]`}, {"an array of objects", `[{}]`}, {"a string", `"x"`}, {"a number", `1`}, {"true", `true`}, {"null", `null`},
	{"a 10^6-character value", `{"a":` + megaString + `}`}, {"10^5 nested arrays", deepArray},
	{"10^4+1 nested objects", strings.Repeat(`{"a":`, 10_001) + `1` + strings.Repeat(`}`, 10_001)},
}

// badIDs go where a path has an id (or a name).
// ("%2e%2e" is not among them: a dot segment, encoded or not, makes it a request for
// another path.)
var badIDs = []string{"0", "-1", "00", "01", "+1", "1.5", "1e3", "0x1f", "abc", "%ff", "%00", "%d9%a1", "%201",
	"99999999999999999999", "9223372036854775808", strings.Repeat("9", 4000)}

// badQueryValues go in each query parameter.
var badQueryValues = []string{"-1", "0", "abc", "1.5", "1e3", "%ff", "%00", hugeNumber, "[]", strings.Repeat("x", 4000)}

const hugeNumber = "99999999999999999999"

func (r sweepRoute) inputs(t *testing.T) []sweepInput {
	t.Helper()
	at := strings.ReplaceAll(r.path, "{id}", fmt.Sprint(r.id))
	var good []byte
	if r.body != nil {
		good = []byte(jsonObject(jsonFields(t, r.body)))
	}
	var in []sweepInput
	if r.body != nil {
		for _, v := range append(slices.Clone(bodyVariants), objectVariants(t, r.body)...) {
			in = append(in, sweepInput{what: "body: " + v.what, path: at, body: []byte(v.body)})
		}
	}
	if strings.Contains(r.path, "{id}") {
		for _, id := range badIDs {
			in = append(in, sweepInput{what: "id " + shorten(id), path: strings.ReplaceAll(r.path, "{id}", id), body: good})
		}
	}
	for _, q := range r.query {
		for _, v := range badQueryValues {
			if q == "limit" && v == hugeNumber {
				continue // a larger limit than the largest page is capped, as documented
			}
			in = append(in, sweepInput{what: q + "=" + shorten(v), path: at + "?" + q + "=" + v})
		}
	}
	if r.body != nil || r.query != nil {
		// Over the header cap, not 10^6: the origin answers 431 after reading 8 KiB, and
		// closing on a client still sending would lose the answer in a reset.
		in = append(in, sweepInput{what: "a 16 KiB query", path: at + "?q=" + strings.Repeat("x", 16<<10), body: good, overLimit: true})
	}
	for _, x := range r.extra {
		if x.path == "" {
			x.path = at
		}
		in = append(in, x)
	}
	return in
}

func shorten(s string) string {
	if len(s) > 24 {
		return fmt.Sprintf("%.12s…(%d bytes)", s, len(s))
	}
	return s
}

// TestBadInputSweep sends every route that takes input malformed JSON, wrong types, huge
// values, invalid UTF-8, unknown fields and bad ids, query parameters, uploads and
// callbacks: each answers a 4xx JSON error in time, never a 5xx.
func TestBadInputSweep(t *testing.T) {
	f := newWalkFixture(t, false)
	ctx := context.Background()
	var lesson int64
	if err := f.db.Pool.QueryRow(ctx, `SELECT id FROM lessons ORDER BY id LIMIT 1`).Scan(&lesson); err != nil {
		t.Fatal(err)
	}
	// a token the origin signed, for a video it does not have
	tok, err := f.srv.signer.Sign(video.Claims{VideoID: "sweep00video", Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	v := "/v/" + tok + "/sweep00video/"
	var videoPaths []sweepInput
	for _, p := range []string{
		v + "master.m3u8?x=%ff", "/v/", "/v//sweep00video/master.m3u8", "/v/" + tok + "/sweep00video", "/v/x/sweep00video/master.m3u8",
		"/v/" + strings.Repeat("A", 4000) + "/sweep00video/master.m3u8", "/v/" + tok + "/SWEEP/master.m3u8", "/v/" + tok + "/%ff%fe%fd/master.m3u8",
		v + "%2e%2e/master.m3u8", v + "../../api/v1/auth/me", v + "v1-720p/seg-99999.ts", v + "v1-720p/seg-abcde.ts", v + "v1-720p/seg-1.ts",
		v + "v0-720p/index.m3u8", v + "v99999999999999999999-720p/index.m3u8", v + "vx-720p/index.m3u8", v + "v1-%00/index.m3u8",
		v + "v1-720p/key", v + "v1-720p/key?n=-1", v + "v1-720p/key?n=abc", v + "v1-720p/key?n=1e3", v + "v1-720p/key?n=9999999",
		v + "v1-720p/key?n=%ff", v + "v1-720p/key?n=00", v + "v1-720p/key?n=0", v + "v1-720p/key?n=" + strings.Repeat("9", 4000),
	} {
		videoPaths = append(videoPaths, sweepInput{what: shorten(strings.TrimPrefix(p, v)), path: p})
	}

	// The gateway's callbacks are checked for its signature before anything else; signed
	// ones are then checked like any body, except that fields the gateway may add one day
	// are not refused, nor statuses this origin does not act on (they are recorded).
	signed := func(what, body string) sweepInput {
		return sweepInput{what: "signed " + what, body: []byte(body), headers: []string{"X-Luffy-Signature", paysim.Sign(f.gatewaySecret, []byte(body))}}
	}
	events := 0
	event := func(field, raw string) string {
		events++ // each its own event: a repeated one would be a duplicate, answered 200
		m := map[string]string{"event_id": fmt.Sprintf(`"sweep-%d"`, events), "order_number": `"` + f.orderNumber + `"`, "trade_no": `"t1"`,
			"amount_fen": `1`, "status": `"paid"`}
		m[field] = raw
		return fmt.Sprintf(`{"event_id":%s,"order_number":%s,"trade_no":%s,"amount_fen":%s,"status":%s}`, m["event_id"], m["order_number"], m["trade_no"], m["amount_fen"], m["status"])
	}
	callbacks := []sweepInput{
		{what: "no signature", body: []byte(event("status", `"paid"`))},
		{what: "a signature not in hex", body: []byte(event("status", `"paid"`)), headers: []string{"X-Luffy-Signature", "zz"}},
		{what: "a wrong signature", body: []byte(event("status", `"paid"`)), headers: []string{"X-Luffy-Signature", strings.Repeat("00", 32)}},
		{what: "a 16 KiB signature", body: []byte(event("status", `"paid"`)), headers: []string{"X-Luffy-Signature", strings.Repeat("0", 16<<10)}, overLimit: true},
	}
	for _, bv := range bodyVariants {
		callbacks = append(callbacks, signed(bv.what, bv.body))
	}
	for _, field := range []string{"event_id", "order_number", "trade_no"} {
		for what, raw := range map[string]string{"wrong type": `[]`, "10^6 characters": megaString, "invalid UTF-8": badUTF8, "NUL": `"a\u0000b"`} {
			callbacks = append(callbacks, signed(field+": "+what, event(field, raw)))
		}
	}
	callbacks = append(callbacks, signed("status: wrong type", event("status", `[]`)), signed("status: invalid UTF-8", event("status", badUTF8)))
	for what, raw := range map[string]string{"wrong type": `"1"`, "huge": `1e400`, "beyond int64": `99999999999999999999`, "fraction": `1.5`} {
		callbacks = append(callbacks, signed("amount_fen: "+what, event("amount_fen", raw)))
	}
	callbacks = append(callbacks, signed("event_id: empty", event("event_id", `""`)))

	multipartForm := func(what string, build func(w *multipart.Writer)) sweepInput {
		var b bytes.Buffer
		w := multipart.NewWriter(&b)
		build(w)
		w.Close()
		return sweepInput{what: "multipart: " + what, body: b.Bytes(), headers: []string{"Content-Type", w.FormDataContentType()}}
	}
	file := func(w *multipart.Writer, name string, data []byte) {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="files"; filename="%s"`, name))
		h.Set("Content-Type", "application/octet-stream")
		p, _ := w.CreatePart(h)
		p.Write(data)
	}
	uploads := []sweepInput{
		{what: "multipart: no boundary", body: []byte("--x\r\n\r\n"), headers: []string{"Content-Type", "multipart/form-data"}},
		{what: "multipart: garbage", body: bytes.Repeat([]byte("garbage\r\n"), 1000), headers: []string{"Content-Type", "multipart/form-data; boundary=x"}},
		{what: "multipart: unterminated", body: []byte("--x\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\nhello"), headers: []string{"Content-Type", "multipart/form-data; boundary=x"}},
		multipartForm("empty", func(w *multipart.Writer) {}),
		multipartForm("11 files", func(w *multipart.Writer) {
			for i := range 11 {
				file(w, fmt.Sprintf("f%d.txt", i), []byte("notes\n"))
			}
		}),
		// (a name with slashes reaches the handler as its last element: mime/multipart drops the rest)
		multipartForm("a Windows path as file name", func(w *multipart.Writer) { file(w, `..\\..\\notes.txt`, []byte("notes\n")) }),
		multipartForm("a file name in invalid UTF-8", func(w *multipart.Writer) { file(w, "\xff\xfe.txt", []byte("notes\n")) }),
		multipartForm("a 10^6-character file name", func(w *multipart.Writer) { file(w, strings.Repeat("a", 1_000_000)+".txt", []byte("notes\n")) }),
		multipartForm("an empty file", func(w *multipart.Writer) { file(w, "empty.txt", nil) }),
		multipartForm("an executable", func(w *multipart.Writer) { file(w, "run.exe", []byte("MZ\x90\x00")) }),
		multipartForm("a .png that is text", func(w *multipart.Writer) { file(w, "image.png", []byte("not an image\n")) }),
		multipartForm("a file twice", func(w *multipart.Writer) {
			file(w, "a.txt", []byte("x\n"))
			file(w, "a.txt", []byte("y\n"))
		}),
		multipartForm("10^6-character text", func(w *multipart.Writer) { w.WriteField("text", strings.Repeat("a", 1_000_000)) }),
		multipartForm("text in invalid UTF-8", func(w *multipart.Writer) { w.WriteField("text", "\xff\xfe") }),
		multipartForm("text with NUL", func(w *multipart.Writer) { w.WriteField("text", "a\x00b") }),
		multipartForm("an unknown field", func(w *multipart.Writer) {
			w.WriteField("text", "my answer")
			w.WriteField("unknown_field", "1")
		}),
		multipartForm("files under another name", func(w *multipart.Writer) {
			w.WriteField("text", "my answer")
			p, _ := w.CreateFormFile("file", "notes.txt")
			p.Write([]byte("notes\n"))
		}),
	}

	zipWith := func(names ...string) []byte {
		var b bytes.Buffer
		zw := zip.NewWriter(&b)
		for _, n := range names {
			w, err := zw.Create(n)
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(w, "1\n")
		}
		zw.Close()
		return b.Bytes()
	}
	archive := func(what string, body []byte) sweepInput {
		return sweepInput{what: "archive: " + what, body: body, headers: []string{"Content-Type", "application/zip"}}
	}
	archives := []sweepInput{
		archive("empty", nil), archive("not a zip", []byte("this is not a zip")), archive("10^6 bytes of garbage", bytes.Repeat([]byte{0xff}, 1_000_000)),
		archive("truncated", zipWith("t1.in", "t1.ans")[:40]), archive("no tests", zipWith()), archive("an unpaired input", zipWith("t1.in")),
		archive("a path", zipWith("../t1.in", "../t1.ans")),
		archive("names in invalid UTF-8", zipWith("\xff.in", "\xff.ans")), archive("an unknown file", zipWith("t1.in", "t1.ans", "readme.md")),
	}

	var bearers []sweepInput
	for _, h := range []string{"Bearer", "Bearer ", "Bearer x", "Basic dXNlcjpwYXNz", "Bearer " + f.token[asOwner] + "x", "Bearer \xff\xfe",
		"Bearer " + strings.Repeat("A", 6000), "Bearer " + f.token[asOwner][:len(f.token[asOwner])/2], "Bearer a b"} {
		bearers = append(bearers, sweepInput{what: "Authorization: " + shorten(h), headers: []string{"Authorization", h}})
	}

	o := f.order
	routes := []sweepRoute{
		// catalog and accounts
		{method: "GET", path: "/api/v1/courses", query: []string{"category", "type", "cursor", "limit"}},
		{method: "GET", path: "/api/v1/courses/{id}", id: f.course},
		{method: "POST", path: "/api/v1/auth/register", body: map[string]any{"username": "sweeper", "password": testPassword, "invite_code": ""}},
		{method: "POST", path: "/api/v1/auth/login", body: map[string]any{"username": "student1", "password": testPassword}},
		{method: "GET", path: "/api/v1/auth/me", extra: bearers},
		{as: asAdmin, method: "POST", path: "/api/v1/admin/courses", body: map[string]any{"slug": "sweep-course", "title": "Sweep", "type": "practical",
			"category_id": f.category, "sort_code": 1, "price_policies": []map[string]any{{"title": "forever", "price_fen": 9900, "original_price_fen": 19900}}}},
		{as: asAdmin, method: "PATCH", path: "/api/v1/admin/courses/{id}", id: f.patchCourse,
			body: map[string]any{"title": "Sweep", "brief": "b", "sort_code": 3, "category_id": f.category}},
		{as: asAdmin, method: "DELETE", path: "/api/v1/admin/courses/{id}", id: f.deleteCourse},
		{as: asAdmin, method: "POST", path: "/api/v1/admin/courses/reorder", body: map[string]any{"items": []map[string]any{{"id": f.patchCourse, "sort_code": 3}}}},

		// video
		{as: asOwner, method: "POST", path: "/api/v1/lessons/{id}/play", id: lesson},
		{method: "GET", path: "/v/{token}/{video}/{file}", extra: videoPaths},

		// judge
		{method: "GET", path: "/api/v1/problems", query: []string{"cursor", "limit"}},
		{method: "GET", path: "/api/v1/problems/{id}", id: f.problemSlug},
		{as: asOwner, method: "POST", path: "/api/v1/submissions", body: map[string]any{"problem": f.problemSlug, "language": "python3", "source": "print(input())"}},
		{as: asOwner, method: "GET", path: "/api/v1/submissions", query: []string{"cursor", "limit"}},
		{as: asOwner, method: "GET", path: "/api/v1/submissions/{id}", id: f.submission},
		{as: asOwner, method: "GET", path: "/api/v1/submissions/{id}/events", id: f.submission},
		{as: asAdmin, method: "POST", path: "/api/v1/admin/problems", body: map[string]any{"slug": "sweep", "title": "Sweep", "statement": "s",
			"time_limit_ms": 1000, "memory_limit_mb": 64, "checker": "float", "float_abs": 0.001, "tags": []string{"x"},
			"subtasks": []map[string]any{{"name": "all", "points": 100, "tests": []string{"sample1"}}}}},
		{as: asAdmin, method: "PUT", path: "/api/v1/admin/problems/{id}/tests", id: f.problemID, extra: archives},

		// cart, orders, payments
		{as: asOwner, method: "POST", path: "/api/v1/cart/items", body: map[string]any{"course_id": f.addCourse, "price_policy_id": f.addPolicy}},
		{as: asOwner, method: "DELETE", path: "/api/v1/cart/items/{id}", id: f.cartCourse},
		{as: asOwner, method: "GET", path: "/api/v1/orders", query: []string{"cursor", "limit"}},
		{as: asOwner, method: "POST", path: "/api/v1/orders", headers: []string{"Idempotency-Key", "sweep"},
			body: map[string]any{"items": []map[string]any{{"course_id": f.buyCourse, "price_policy_id": f.buyPolicy}}, "coupon_code": "", "points": 0},
			extra: []sweepInput{
				{what: "no Idempotency-Key", body: []byte(`{}`), headers: []string{"Idempotency-Key", ""}},
				{what: "an Idempotency-Key of 129 characters", body: []byte(`{}`), headers: []string{"Idempotency-Key", strings.Repeat("k", 129)}},
				{what: "an Idempotency-Key in invalid UTF-8", body: []byte(`{}`), headers: []string{"Idempotency-Key", "\xff\xfe"}},
			}},
		{as: asOwner, method: "GET", path: "/api/v1/orders/{id}", id: o},
		{as: asOwner, method: "POST", path: "/api/v1/orders/{id}/cancel", id: o},
		{method: "POST", path: "/api/v1/payments/callback", extra: callbacks},

		// points and coupons
		{as: asOwner, method: "GET", path: "/api/v1/points/ledger", query: []string{"cursor", "limit"}},
		{as: asOwner, method: "POST", path: "/api/v1/points/redeem", body: map[string]any{"coupon_id": f.plainCoupon, "client_id": "sweep"}},
		{as: asAdmin, method: "GET", path: "/api/v1/admin/coupons", query: []string{"cursor", "limit"}},
		{as: asAdmin, method: "POST", path: "/api/v1/admin/coupons", body: map[string]any{"code": "SWEEP", "title": "t", "kind": "fixed",
			"amount_fen": 100, "threshold_fen": 1000, "valid_until": time.Now().Add(time.Hour), "per_user_limit": 1, "remark": "r"}},
		{as: asAdmin, method: "PATCH", path: "/api/v1/admin/coupons/{id}", id: f.plainCoupon, body: map[string]any{"status": "enabled"}},
		{as: asAdmin, method: "POST", path: "/api/v1/admin/orders/{id}/refund", id: o, body: map[string]any{"reason": "sweep"}},

		// notifications
		{as: asOwner, method: "GET", path: "/api/v1/notifications", query: []string{"cursor", "limit"}},
		{as: asOwner, method: "POST", path: "/api/v1/notifications/{id}/read", id: f.notice},

		// homework and questions
		{as: asOwner, method: "POST", path: "/api/v1/homework/{id}/submissions", id: f.homework, body: map[string]any{"text": "sweep"}, extra: uploads},
		{as: asOwner, method: "GET", path: "/api/v1/homework/{id}/submissions", id: f.homework},
		{as: asOwner, method: "GET", path: "/api/v1/homework/files/{id}", id: f.hwFile},
		{as: asTutor, method: "GET", path: "/api/v1/tutor/homework-queue", query: []string{"limit"}},
		{as: asTutor, method: "POST", path: "/api/v1/tutor/submissions/{id}/grade", id: f.hwSubmission,
			body: map[string]any{"score": 80, "comment": "c", "rubric": []map[string]any{{"criterion": "style", "points": 5, "max": 10}}}},
		{as: asAdmin, method: "PUT", path: "/api/v1/admin/course-tutors/{id}", id: f.course, body: map[string]any{"tutor_id": f.userID[asTutor]}},
		{as: asOwner, method: "POST", path: "/api/v1/questions", body: map[string]any{"lesson_id": f.freeLesson, "title": "t", "body": "b"}},
		{as: asOwner, method: "GET", path: "/api/v1/questions/{id}", id: f.question},
		{as: asTutor, method: "GET", path: "/api/v1/tutor/questions", query: []string{"limit"}},
		{as: asTutor, method: "GET", path: "/api/v1/tutor/questions/pool", query: []string{"limit"}},
		{as: asTutor, method: "POST", path: "/api/v1/tutor/questions/{id}/take", id: f.pooledQuestion},
		{as: asTutor, method: "POST", path: "/api/v1/tutor/questions/{id}/answer", id: f.question, body: map[string]any{"answer": "a"}},

		// feature switches
		{as: asAdmin, method: "PUT", path: "/api/v1/admin/features/{id}", id: "judge", body: map[string]any{"enabled": true, "reason": "r"}},
	}

	total := 0
	var summary []string
	for _, r := range routes {
		name := r.method + " " + r.path
		inputs := r.inputs(t)
		for _, in := range inputs {
			headers := append(slices.Clone(r.headers), in.headers...)
			send := send
			if in.overLimit {
				send = sendWhole
			}
			resp, took, err := send(r.method, f.base+in.path, f.token[r.as], in.body, headers...)
			switch {
			case err != nil:
				t.Errorf("%s, %s: no answer after %v: %.100s…%v", name, in.what, took.Round(time.Millisecond), err, errors.Unwrap(err))
			case resp.status < 400 || resp.status > 499:
				t.Errorf("%s, %s: %d %.300s, want a 4xx", name, in.what, resp.status, resp.body)
			case resp.errorCode() == "" || !strings.HasPrefix(resp.header.Get("Content-Type"), "application/json"):
				t.Errorf("%s, %s: %d is not a JSON error: %.300s", name, in.what, resp.status, resp.body)
			}
		}
		total += len(inputs)
		summary = append(summary, fmt.Sprintf("%5d  %s", len(inputs), name))
	}
	if r := do(t, "GET", f.base+"/healthz", "", nil); r.status != 200 {
		t.Errorf("after the sweep /healthz answers %d", r.status)
	}
	report := fmt.Sprintf("bad-input sweep: %d inputs over %d routes\n%s", total, len(routes), strings.Join(summary, "\n"))
	t.Log(report)
	if testing.Verbose() {
		fmt.Println(report)
	}
}

// send is do for requests that may fail: it reports a transport error (a hang past the
// client's timeout, a dropped connection) instead of ending the test.
func send(method, url, token string, body []byte, headers ...string) (response, time.Duration, error) {
	start := time.Now()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return response{}, 0, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return response{}, time.Since(start), err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}, time.Since(start), err
}

// sendWhole is send for a request the server answers before reading all of it: the
// request is written whole on a connection of its own, and then the answer read. (The
// http.Client reads while it writes, and may lose the answer to the reset that closing
// with unread bytes causes.)
func sendWhole(method, url, token string, body []byte, headers ...string) (response, time.Duration, error) {
	start := time.Now()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return response{}, 0, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	var raw bytes.Buffer
	if err := req.Write(&raw); err != nil {
		return response{}, 0, err
	}
	c, err := net.DialTimeout("tcp4", req.URL.Host, time.Second)
	if err != nil {
		return response{}, 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(raw.Bytes()); err != nil {
		return response{}, time.Since(start), err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), req)
	if err != nil {
		return response{}, time.Since(start), err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}, time.Since(start), err
}
