package loadgen

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/valyala/fasthttp"
)

// Judge is students submitting a-plus-b in mixed languages: each connection registers a
// student of its own (the site allows each a few submissions a minute), signs in, and
// then submits, reading its last submission's status between submissions.
type Judge struct {
	// Run names this run's students apart from an earlier run's.
	Run string
}

func (j Judge) Name() string { return "judge" }

func (j Judge) New(conn int, rng *rand.Rand) Requester {
	return &student{name: fmt.Sprintf("b%s%d", j.Run, conn), rng: rng}
}

var aPlusB = map[string]string{
	"python3": "a, b = map(int, input().split())\nprint(a + b)\n",
	"cpp17":   "#include <cstdio>\nint main(){long long a,b;scanf(\"%lld %lld\",&a,&b);printf(\"%lld\\n\",a+b);}\n",
	"c":       "#include <stdio.h>\nint main(void){long long a,b;scanf(\"%lld %lld\",&a,&b);printf(\"%lld\\n\",a+b);return 0;}\n",
}

var judgeLanguages = []string{"python3", "cpp17", "c"}

type student struct {
	name  string
	rng   *rand.Rand
	token string
	step  int // 0 register, 1 login, 2 submit, 3 read status
	last  int64
}

func (s *student) Next(req *fasthttp.Request) {
	req.Header.SetContentType("application/json")
	switch {
	case s.step == 0:
		req.Header.SetMethod("POST")
		req.SetRequestURI("/api/v1/auth/register")
		req.SetBodyString(`{"username":"` + s.name + `","password":"bench-password"}`)
	case s.step == 1 || s.token == "":
		s.step = 1
		req.Header.SetMethod("POST")
		req.SetRequestURI("/api/v1/auth/login")
		req.SetBodyString(`{"username":"` + s.name + `","password":"bench-password"}`)
	case s.step == 3 && s.last > 0:
		req.SetRequestURI("/api/v1/submissions/" + strconv.FormatInt(s.last, 10))
		req.Header.Set("Authorization", "Bearer "+s.token)
	default:
		s.step = 2
		lang := judgeLanguages[s.rng.IntN(len(judgeLanguages))]
		body, _ := json.Marshal(map[string]string{"problem": "a-plus-b", "language": lang, "source": aPlusB[lang]})
		req.Header.SetMethod("POST")
		req.SetRequestURI("/api/v1/submissions")
		req.Header.Set("Authorization", "Bearer "+s.token)
		req.SetBody(body)
	}
}

func (s *student) Done(_ *fasthttp.Request, resp *fasthttp.Response) {
	switch s.step {
	case 0:
		s.step = 1 // registered, or already there from an earlier run: sign in either way
	case 1:
		var out struct{ Token string }
		if resp.StatusCode() == 200 && json.Unmarshal(resp.Body(), &out) == nil && out.Token != "" {
			s.token, s.step = out.Token, 2
		}
	case 2:
		var out struct{ ID int64 }
		if resp.StatusCode() == 201 && json.Unmarshal(resp.Body(), &out) == nil {
			s.last = out.ID
		}
		s.step = 3
	case 3:
		s.step = 2
	}
}
