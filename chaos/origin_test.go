package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestOriginKilled kills the only origin with SIGKILL for 30 seconds while catalog readers
// and viewers go through the edge: every cached catalog page and segment is still served
// (the catalog's freshness runs out during the outage, so the edge serves it under
// stale-if-error), and once the origin is back the edge serves fresh content within 2
// seconds: a change made in Postgres while the origin was down, and an admin's change made
// after it came back.
func TestOriginKilled(t *testing.T) {
	var (
		pre, outage, post = 5 * time.Second, pick(30*time.Second, 120*time.Second), pick(5*time.Second, 15*time.Second)
		rate              = pick(40.0, 150.0)  // the test's own requests, each one recorded
		benchRate         = pick(100.0, 500.0) // luffy bench catalog, besides
		freshWithin       = 2 * time.Second
	)
	s := newStack(t)
	lessons := s.ingestVideos(1)
	// Catalog freshness is cut to 5 s (+5 s stale-while-revalidate) so that the outage
	// outlasts it and every catalog page is served under stale-if-error (24 h, the
	// default) before the origin comes back; by default (60 s + 30 s) a 30-second outage
	// would mostly hit fresh entries.
	site := s.startSite(siteOptions{edge: true, originArgs: []string{"--max-age=2s", "--s-maxage=5s", "--stale-while-revalidate=5s"}})

	db := s.db()
	rows, err := db.Query(context.Background(), `SELECT id FROM courses WHERE status = 'published' AND deleted_at IS NULL ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	courses, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	catalog := []string{site.edgeURL + "/api/v1/categories"}
	for _, typ := range []string{"", "&type=employment", "&type=light", "&type=practical"} {
		catalog = append(catalog, site.edgeURL+"/api/v1/courses?limit=20"+typ)
	}
	for _, id := range courses {
		catalog = append(catalog, site.edgeURL+"/api/v1/courses/"+strconv.FormatInt(id, 10))
	}
	v := play(t, site.edgeURL, lessons[0])
	files := v.files()
	warm(t, catalog)
	warm(t, files)

	// What the origin allows the edge: the windows this test relies on.
	resp, err := client.Get(site.originURL + "/api/v1/categories")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cc := resp.Header.Get("Cache-Control")
	if !strings.Contains(cc, "s-maxage=5,") || !strings.Contains(cc, "stale-if-error=86400") {
		t.Fatalf("catalog Cache-Control %q: want s-maxage=5 and stale-if-error=86400", cc)
	}
	resp, err = client.Get(at(site.originURL, v.segments[v.media[0]][0]))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if sc := resp.Header.Get("Cache-Control"); !strings.Contains(sc, "immutable") {
		t.Fatalf("segment Cache-Control %q: want immutable", sc)
	}

	waitBench := s.bench("catalog", site.edgeURL, pick(16, 64), benchRate, pre+outage+post+5*time.Second, "--courses", strconv.Itoa(int(courses[len(courses)-1])))
	ctx, stopLoad := context.WithCancel(context.Background())
	defer stopLoad()
	var l load
	rng := rand.New(rand.NewPCG(1, 2))
	l.run(ctx, rate, func(i int) target {
		if i%5 < 3 {
			return target{"catalog", catalog[rng.IntN(len(catalog))]}
		}
		return target{"video", files[rng.IntN(len(files))]}
	})

	time.Sleep(pre)
	if err := syscall.Kill(site.origin.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-site.origin.done
	killed := time.Now()

	// A change the origin cannot announce: made in Postgres while it is down, so no
	// purge reaches the edge; only a fetch from the origin once it is back shows it.
	time.Sleep(outage / 2)
	changedX, titleX := courses[3], ""
	if err := db.QueryRow(context.Background(), `UPDATE courses SET title = title || ' (changed while the origin was down)'
		WHERE id = $1 RETURNING title`, changedX).Scan(&titleX); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(killed.Add(outage)))

	// The origin comes back the way it was started; it is back when it answers.
	if err := site.origin.start(); err != nil {
		t.Fatal(err)
	}
	for httpOK(site.originURL+"/healthz") != nil {
		if !site.origin.running() {
			t.Fatalf("the origin exited on restart: %v\n%s", site.origin.err, site.origin.tail(20))
		}
		time.Sleep(5 * time.Millisecond)
	}
	back := time.Now()

	// An admin's change after the return, through the edge (which passes it on and is
	// purged by the origin).
	changedY, titleY := courses[4], fmt.Sprintf("changed after the origin came back %d", back.UnixNano())
	if st := doJSON(t, "PATCH", site.edgeURL+"/api/v1/admin/courses/"+strconv.FormatInt(changedY, 10), site.adminToken,
		map[string]string{"title": titleY}, nil); st != http.StatusOK {
		t.Fatalf("admin PATCH through the edge after the origin's return: status %d", st)
	}
	patched := time.Now()
	seenX := waitForTitle(t, site.edgeURL, changedX, titleX, back.Add(10*time.Second))
	seenY := waitForTitle(t, site.edgeURL, changedY, titleY, back.Add(10*time.Second))

	time.Sleep(time.Until(back.Add(post)))
	stopLoad()
	all := l.wait()
	bench := waitBench()

	during := between(all, "", killed, back)
	after := between(all, "", back, time.Now())
	if f := failures(during); len(f) > 0 {
		t.Errorf("%d of %d requests failed while the origin was down:\n%s", len(f), len(during), describe(f, 20))
	}
	if f := failures(after); len(f) > 0 {
		t.Errorf("%d of %d requests failed after the origin came back:\n%s", len(f), len(after), describe(f, 20))
	}
	if want := int(rate * outage.Seconds() * 0.8); len(during) < want {
		t.Errorf("only %d requests were sent during the outage; want at least %d", len(during), want)
	}
	kinds := countBy(during, func(s sample) string { return s.class + " " + cacheKind(s.cacheStatus) })
	if kinds["catalog stale-if-error"] == 0 {
		t.Errorf("no catalog page was served under stale-if-error during the outage (%v): the test did not outlast freshness", kinds)
	}
	// Fresh again: no answer to a request sent after the return is stale-if-error
	// (a stale-while-revalidate hit is the normal life of an entry, not an outage).
	var staleFor time.Duration
	for _, s := range after {
		if cacheKind(s.cacheStatus) == "stale-if-error" {
			staleFor = max(staleFor, s.sent.Add(s.took).Sub(back))
		}
	}
	if staleFor > freshWithin {
		t.Errorf("the edge still served stale-if-error %v after the origin was back; want within %v", staleFor, freshWithin)
	}
	if d := seenX.Sub(back); d > freshWithin {
		t.Errorf("a change made while the origin was down showed at the edge %v after its return; want within %v", d, freshWithin)
	}
	if d := seenY.Sub(back); d > freshWithin {
		t.Errorf("an admin change made after the origin's return showed at the edge %v after it; want within %v", d, freshWithin)
	}
	// The bench's catalog readers ask for course ids 1..N, all seeded and all cached at
	// the edge before the outage: none of their requests may fail.
	if len(bench.Errors) > 0 {
		t.Errorf("luffy bench saw errors: %v (statuses %v)", bench.Errors, bench.StatusCodes)
	}
	outReq, outErr := benchErrorsBetween(bench, killed, back)

	t.Logf("origin killed for %v (SIGKILL), back (answering /healthz) %v after its restart began", outage, back.Sub(killed.Add(outage)).Round(time.Millisecond))
	t.Logf("during the outage: %d requests through the edge, %d failed; by class and cache status: %v", len(during), len(failures(during)), kinds)
	t.Logf("latency during the outage: catalog %v; video %v", latencyOf(between(all, "catalog", killed, back)), latencyOf(between(all, "video", killed, back)))
	t.Logf("after the return: stale-if-error answers ended %v after it; change made during the outage visible %v after it; admin PATCH (answered %v after it) visible %v after it",
		staleFor.Round(time.Millisecond), seenX.Sub(back).Round(time.Millisecond), patched.Sub(back).Round(time.Millisecond), seenY.Sub(back).Round(time.Millisecond))
	t.Logf("after the return: %d requests, %d failed, by class and cache status: %v", len(after), len(failures(after)),
		countBy(after, func(s sample) string { return s.class + " " + cacheKind(s.cacheStatus) }))
	t.Logf("luffy bench %s; during the outage %d requests, %d errors",
		benchSummary(bench), outReq, outErr)
}

// cacheKind names what an edge's Cache-Status says about an answer.
func cacheKind(cs string) string {
	switch {
	case strings.Contains(cs, "stale-if-error"):
		return "stale-if-error"
	case strings.Contains(cs, "fwd=stale"):
		return "stale-while-revalidate"
	case strings.Contains(cs, "fwd=miss"):
		return "miss"
	case strings.Contains(cs, "hit"):
		return "hit"
	case cs == "":
		return "none"
	}
	return cs
}

// waitForTitle polls a course through the edge until it shows title, and returns when.
func waitForTitle(t *testing.T, edge string, course int64, title string, deadline time.Time) time.Time {
	t.Helper()
	url := edge + "/api/v1/courses/" + strconv.FormatInt(course, 10)
	for {
		st, _, body, err := get(url)
		if err == nil && st == http.StatusOK && strings.Contains(string(body), title) {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("course %d never showed %q at the edge: last %d %v %.200s", course, title, st, err, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
