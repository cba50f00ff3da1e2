package loadgen

import (
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/valyala/fasthttp"
)

// Scenarios by name, as `luffy bench` takes them.
func ScenarioByName(name string, courses int) (Scenario, error) {
	switch name {
	case "catalog":
		return Catalog{Courses: courses}, nil
	case "static":
		return Static{Path: "/healthz"}, nil
	}
	return nil, fmt.Errorf("unknown scenario %q (catalog, static)", name)
}

// Static asks for one path over and over (for testing the generator itself).
type Static struct{ Path string }

func (s Static) Name() string                  { return "static" }
func (s Static) New(int, *rand.Rand) Requester { return staticReq{s.Path} }

type staticReq struct{ path string }

func (r staticReq) Next(req *fasthttp.Request)               { req.SetRequestURI(r.path) }
func (staticReq) Done(*fasthttp.Request, *fasthttp.Response) {}

// Catalog is mobile clients reading the catalog: the category tree, list pages, course
// details, and revisits that send If-None-Match with the ETag they were given.
type Catalog struct {
	// Courses is how many course ids to spread detail requests over (ids 1..Courses).
	Courses int
}

func (c Catalog) Name() string { return "catalog" }

func (c Catalog) New(_ int, rng *rand.Rand) Requester {
	n := c.Courses
	if n <= 0 {
		n = 240
	}
	return &catalogReq{courses: n, rng: rng, etags: map[string]string{}}
}

type catalogReq struct {
	courses int
	rng     *rand.Rand
	etags   map[string]string // path -> ETag seen
	path    string
}

func (r *catalogReq) Next(req *fasthttp.Request) {
	switch x := r.rng.IntN(100); {
	case x < 15:
		r.path = "/api/v1/categories"
	case x < 40:
		r.path = "/api/v1/courses?limit=20"
		if p := r.rng.IntN(4); p > 0 {
			r.path += "&type=" + []string{"", "employment", "light", "practical"}[p]
		}
	default:
		r.path = "/api/v1/courses/" + strconv.Itoa(1+r.rng.IntN(r.courses))
	}
	req.SetRequestURI(r.path)
	req.Header.Set("Accept-Encoding", "gzip")
	// a revisit: the app kept the ETag and asks whether it changed
	if tag, ok := r.etags[r.path]; ok && r.rng.IntN(2) == 0 {
		req.Header.Set("If-None-Match", tag)
	}
}

func (r *catalogReq) Done(_ *fasthttp.Request, resp *fasthttp.Response) {
	if tag := resp.Header.Peek("ETag"); len(tag) > 0 && len(r.etags) < 1000 {
		r.etags[r.path] = string(tag)
	}
}
