package worker

import (
	"testing"

	"github.com/luffy-edu/luffy/judge"
)

// Subtasks may share tests (OI style: subtask 2 includes subtask 1's tests). A subtask
// scores only when every test it names passed, and a test is skipped only when every
// subtask it counts for has already failed.
func TestSharedSubtaskTests(t *testing.T) {
	p := judge.Problem{Subtasks: []judge.Subtask{
		{Name: "small", Points: 30, Tests: []string{"1"}},
		{Name: "all", Points: 70, Tests: []string{"1", "2"}},
	}}
	f := func(v1, v2 judge.Verdict, wantScore int, wantVerdict judge.Verdict) {
		t.Helper()
		res := Result{Tests: planTests(p, []judge.TestCase{{Name: "1"}, {Name: "2"}})}
		res.Tests[0].Verdict, res.Tests[1].Verdict = v1, v2
		score(p, &res)
		if res.Score != wantScore || res.Verdict != wantVerdict {
			t.Errorf("%s %s: score %d %s, want %d %s", v1, v2, res.Score, res.Verdict, wantScore, wantVerdict)
		}
	}
	f(judge.WrongAnswer, Skipped, 0, judge.WrongAnswer)
	f(judge.Accepted, judge.WrongAnswer, 30, judge.WrongAnswer)
	f(judge.Accepted, judge.Accepted, 100, judge.Accepted)

	in := subtasksOf(p)
	if allFailed(map[int]bool{1: true}, in["1"], false) || !allFailed(map[int]bool{1: true, 2: true}, in["1"], false) {
		t.Error("a test shared by two subtasks runs until both failed")
	}
	if allFailed(map[int]bool{1: true, 2: true}, nil, false) {
		t.Error("a test in no subtask is skipped")
	}
}
