package origin

import (
	"bytes"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

// courseStripes spreads per-course generations over a fixed array: a change to one course
// invalidates the details of the courses sharing its stripe too, which costs a re-render
// and nothing else, and keeps the hit path free of maps and allocations.
const courseStripes = 1 << 12

// entry is one rendered response. Its generation fields are the counters as they were
// before the render read Postgres: if a change committed during the render, the counters
// moved past them and the entry is stale on its first lookup.
type entry struct {
	key       []byte // the full key, to rule out a 64-bit hash collision serving the wrong page
	body      []byte
	gzBody    []byte // body gzipped once at render time; nil when it does not pay
	etag      []byte // quoted strong ETag of body
	gzETag    []byte // the gzip representation has its own ETag
	surrogate []byte
	allGen    uint64
	listGen   uint64 // lists and the category tree: any catalog change
	course    int64  // course details: the course whose stripe guards the entry
	courseGen uint64
}

// respCache holds rendered catalog responses.
type respCache struct {
	c       *ristretto.Cache[[]byte, *entry]
	ttl     time.Duration
	allGen  atomic.Uint64
	listGen atomic.Uint64
	stripes [courseStripes]atomic.Uint64
	// live is false while the invalidation listener is not connected: without it a
	// change would go unnoticed, so the cache is bypassed until it is back.
	live atomic.Bool
}

func newRespCache(budget int64, ttl time.Duration) (*respCache, error) {
	c, err := ristretto.NewCache(&ristretto.Config[[]byte, *entry]{
		NumCounters:        max(budget/1024*10, 10_000),
		MaxCost:            budget,
		BufferItems:        64,
		Metrics:            true,
		IgnoreInternalCost: true,
	})
	if err != nil {
		return nil, err
	}
	return &respCache{c: c, ttl: ttl}, nil
}

// snapshot is the generation state a render starts from.
type snapshot struct{ all, list, course uint64 }

func (rc *respCache) snapshot(course int64) snapshot {
	s := snapshot{all: rc.allGen.Load(), list: rc.listGen.Load()}
	if course > 0 {
		s.course = rc.stripes[course%courseStripes].Load()
	}
	return s
}

// get returns the entry for key if it is present and still current.
func (rc *respCache) get(key []byte) *entry {
	if !rc.live.Load() {
		return nil
	}
	e, ok := rc.c.Get(key)
	if !ok || !bytes.Equal(e.key, key) {
		return nil
	}
	if e.allGen != rc.allGen.Load() {
		return nil
	}
	if e.course > 0 {
		if e.courseGen != rc.stripes[e.course%courseStripes].Load() {
			return nil
		}
	} else if e.listGen != rc.listGen.Load() {
		return nil
	}
	return e
}

// put stores e made from snapshot s. A render that started while the listener was down
// is not stored, since nothing guarantees it saw every change.
func (rc *respCache) put(e *entry, s snapshot, wasLive bool) {
	if !wasLive {
		return
	}
	e.allGen, e.listGen = s.all, s.list
	if e.course > 0 {
		e.courseGen = s.course
	}
	cost := int64(len(e.key) + len(e.body) + len(e.gzBody) + len(e.etag) + len(e.gzETag) + len(e.surrogate) + 160)
	rc.c.SetWithTTL(e.key, e, cost, rc.ttl)
}

// courseChanged drops the details of a course and every list.
func (rc *respCache) courseChanged(id int64) {
	if id > 0 {
		rc.stripes[id%courseStripes].Add(1)
	}
	rc.listGen.Add(1)
}

// flush drops everything.
func (rc *respCache) flush() { rc.allGen.Add(1) }
