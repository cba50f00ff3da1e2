// Package check decides whether a program's output answers a test: the built-in exact,
// token and float checkers, and the reading of a custom testlib checker's exit code.
//
// Outputs can be as large as the output limit (64 MiB), so [Compare] walks output and
// answer side by side without splitting them into lines or tokens first, and allocates
// nothing when the output is right. Only a wrong output pays for a second, line-based pass
// that finds the [Diff] shown on sample tests; that pass uses the same notion of "equal"
// as the verdict, so it never points at a line the checker itself would accept.
//
// Messages and diffs quote the answer. The caller decides where they may be shown: a
// hidden test's answer must not reach a student through them.
package check
