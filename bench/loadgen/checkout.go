package loadgen

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strconv"

	"github.com/valyala/fasthttp"
)

// Checkout is buyers: each connection registers a buyer, signs in, and then buys course
// after course: it reads the course, orders it (with an Idempotency-Key), pays the order's
// pay_url at the payment simulator (a request to the gateway's host, on a connection of
// its own), and reads the order until the gateway's callback has made it paid.
type Checkout struct {
	Run     string
	Courses int
}

func (c Checkout) Name() string { return "checkout" }

func (c Checkout) New(conn int, rng *rand.Rand) Requester {
	n := max(c.Courses, 1)
	return &buyer{name: fmt.Sprintf("c%s%d", c.Run, conn), rng: rng, courses: n, course: 1 + rng.IntN(n)}
}

type buyer struct {
	name    string
	rng     *rand.Rand
	courses int
	token   string
	step    int // 0 register, 1 login, 2 course, 3 order, 4 pay, 5 status
	course  int
	policy  int64
	order   int64
	payURL  string
	polls   int
}

func (b *buyer) nextCourse() {
	b.course = 1 + b.rng.IntN(b.courses)
	b.step, b.order, b.payURL, b.polls = 2, 0, "", 0
}

func (b *buyer) Next(req *fasthttp.Request) {
	req.Header.SetContentType("application/json")
	auth := func() { req.Header.Set("Authorization", "Bearer "+b.token) }
	switch {
	case b.step == 0:
		req.Header.SetMethod("POST")
		req.SetRequestURI("/api/v1/auth/register")
		req.SetBodyString(`{"username":"` + b.name + `","password":"bench-password"}`)
	case b.step == 1 || b.token == "":
		b.step = 1
		req.Header.SetMethod("POST")
		req.SetRequestURI("/api/v1/auth/login")
		req.SetBodyString(`{"username":"` + b.name + `","password":"bench-password"}`)
	case b.step == 3 && b.policy > 0:
		req.Header.SetMethod("POST")
		req.SetRequestURI("/api/v1/orders")
		auth()
		req.Header.Set("Idempotency-Key", fmt.Sprintf("%s-%d", b.name, b.course))
		req.SetBodyString(fmt.Sprintf(`{"items":[{"course_id":%d,"price_policy_id":%d}]}`, b.course, b.policy))
	case b.step == 4 && b.payURL != "":
		req.Header.SetMethod("POST")
		req.SetRequestURI(b.payURL) // absolute: the gateway's host
	case b.step == 5 && b.order > 0:
		req.SetRequestURI("/api/v1/orders/" + strconv.FormatInt(b.order, 10))
		auth()
	default:
		b.step = 2
		req.SetRequestURI("/api/v1/courses/" + strconv.Itoa(b.course))
	}
}

func (b *buyer) Done(_ *fasthttp.Request, resp *fasthttp.Response) {
	ok := resp.StatusCode() < 300
	body := resp.Body()
	if string(resp.Header.ContentEncoding()) == "gzip" {
		body, _ = resp.BodyGunzip()
	}
	switch b.step {
	case 0:
		// Registered, or the name is taken (a rerun against the same database): sign in.
		// A refusal that may pass (429, 503) registers again on the next request, or the
		// connection would fail to sign in for the rest of the run.
		if st := resp.StatusCode(); ok || st == fasthttp.StatusConflict {
			b.step = 1
		}
	case 1:
		var out struct{ Token string }
		if ok && json.Unmarshal(body, &out) == nil && out.Token != "" {
			b.token, b.step = out.Token, 2
		}
	case 2:
		var course struct {
			PricePolicies []struct {
				ID       int64 `json:"id"`
				PriceFen int64 `json:"price_fen"`
			} `json:"price_policies"`
		}
		b.policy = 0
		if ok && json.Unmarshal(body, &course) == nil {
			for _, p := range course.PricePolicies {
				if p.PriceFen > 0 {
					b.policy = p.ID
					break
				}
			}
		}
		if b.policy == 0 {
			b.nextCourse() // free, missing or unreadable: another one
			return
		}
		b.step = 3
	case 3:
		var o struct {
			ID     int64  `json:"id"`
			Status string `json:"status"`
			PayURL string `json:"pay_url"`
		}
		if ok && json.Unmarshal(body, &o) == nil && o.ID > 0 && o.Status == "pending" {
			if _, err := url.Parse(o.PayURL); err == nil {
				b.order, b.payURL, b.step = o.ID, o.PayURL, 4
				return
			}
		}
		b.nextCourse() // already bought or pending elsewhere: another course
	case 4:
		b.step = 5
	case 5:
		var o struct{ Status string }
		json.Unmarshal(body, &o)
		b.polls++
		if o.Status != "pending" || b.polls > 20 {
			b.nextCourse()
		}
	}
}
