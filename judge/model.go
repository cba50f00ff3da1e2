package judge

import "time"

// Verdict is the outcome of one test or of a whole submission. The codes are the ones
// contest sites use; clients match on them.
type Verdict string

const (
	Accepted            Verdict = "AC"
	WrongAnswer         Verdict = "WA"
	PresentationError   Verdict = "PE"
	TimeLimitExceeded   Verdict = "TLE"
	MemoryLimitExceeded Verdict = "MLE"
	OutputLimitExceeded Verdict = "OLE"
	RuntimeError        Verdict = "RE"
	CompileError        Verdict = "CE"
	InternalError       Verdict = "IE"
)

// CheckerKind says how a program's output is compared with the answer.
type CheckerKind string

const (
	CheckExact  CheckerKind = "exact"  // byte for byte, up to trailing blanks at line ends and at the end
	CheckToken  CheckerKind = "token"  // whitespace-separated tokens must be equal
	CheckFloat  CheckerKind = "float"  // tokens equal, numbers within an absolute or relative tolerance
	CheckCustom CheckerKind = "custom" // a C++ checker, run in the sandbox, answers with testlib exit codes
)

// Problem is a programming question as a student sees it, plus what the judge needs.
type Problem struct {
	ID            int64       `json:"id"`
	Slug          string      `json:"slug"`
	Title         string      `json:"title"`
	Statement     string      `json:"statement"` // Markdown
	TimeLimitMS   int         `json:"time_limit_ms"`
	MemoryLimitMB int         `json:"memory_limit_mb"`
	Checker       CheckerKind `json:"checker"`
	// FloatAbs and FloatRel are the float checker's tolerances: a number is right when
	// it is within FloatAbs of the answer or within FloatRel of it relatively.
	FloatAbs float64 `json:"float_abs,omitempty"`
	FloatRel float64 `json:"float_rel,omitempty"`
	// CheckerSource is the custom checker's C++ source, called as
	// `checker input output answer`; it is never shown to students.
	CheckerSource string `json:"-"`
	// Subtasks split the tests into groups that score all or nothing. Empty means one
	// group of 100 points holding every test.
	Subtasks  []Subtask   `json:"subtasks"`
	Samples   []Sample    `json:"samples"`
	TestCount int         `json:"test_count"`
	Tags      []string    `json:"tags"`
	CreatedAt time.Time   `json:"created_at"`
	UpdatedAt time.Time   `json:"updated_at"`
	Extra     ProblemMeta `json:"-"`
}

// ProblemMeta is what only the judge reads.
type ProblemMeta struct {
	TestsVersion int    `json:"tests_version"` // bumped on every test upload
	TestsKey     string `json:"-"`             // the archive's object key
}

// Subtask is a group of tests scored together.
type Subtask struct {
	Name   string   `json:"name"`
	Points int      `json:"points"`
	Tests  []string `json:"tests"` // test names
}

// Sample is a test shown in the statement.
type Sample struct {
	Name   string `json:"name"`
	Input  string `json:"input"`
	Answer string `json:"answer"`
}

// TestCase is one input and its answer. Sample tests are shown to students, and a wrong
// answer on them shows the first differing line.
type TestCase struct {
	Name   string
	Input  []byte
	Answer []byte
	Sample bool
}
