package loadgen

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"
)

// Options are what scenarios need to know of the site.
type Options struct {
	Courses int    // course ids 1..Courses for the catalog scenario
	Lesson  int64  // a free-preview lesson with video for the video scenario
	Mix     string // weights for mixed: "catalog=70,video=30"
	Run     string // names this run's judge students apart from earlier runs'ones
}

// ScenarioByName makes a scenario as `luffy bench` names it.
func ScenarioByName(name string, o Options) (Scenario, error) {
	switch name {
	case "catalog":
		return Catalog{Courses: o.Courses}, nil
	case "static":
		return Static{Path: "/healthz"}, nil
	case "judge":
		return Judge{Run: o.Run}, nil
	case "checkout":
		return Checkout{Run: o.Run, Courses: o.Courses}, nil
	case "video":
		if o.Lesson <= 0 {
			return nil, fmt.Errorf("the video scenario needs --lesson: a free-preview lesson with video (luffy up prints one)")
		}
		return Video{Lesson: o.Lesson}, nil
	case "mixed":
		var m Mixed
		for _, part := range strings.Split(o.Mix, ",") {
			name, weight, ok := strings.Cut(strings.TrimSpace(part), "=")
			w, err := strconv.Atoi(weight)
			if !ok || err != nil || w <= 0 || name == "mixed" {
				return nil, fmt.Errorf("--mix %q: want name=weight,... with positive weights", o.Mix)
			}
			sc, err := ScenarioByName(name, o)
			if err != nil {
				return nil, err
			}
			m.Parts, m.Weights = append(m.Parts, sc), append(m.Weights, w)
		}
		return m, nil
	}
	return nil, fmt.Errorf("unknown scenario %q (catalog, video, judge, checkout, mixed, static)", name)
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
