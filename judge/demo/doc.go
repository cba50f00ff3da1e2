// Package demo holds the programming problems that `luffy seed` loads: a-plus-b (the one
// the stack's checks submit to) and a handful of classics that between them use every
// checker kind, subtasks, a float tolerance and a custom checker.
//
// Every problem's tests are generated here from a fixed seed, and every answer is computed
// by a reference solver in Go that reads the generated input text, so a test's answer is
// right by construction and a reseed always produces the same bytes. Each problem carries
// accepted solutions keyed by judge language ("c", "cpp17", "python3", "java17", "go",
// "javascript"); the package tests compile and run the C++ and Python ones on the host
// against every test, so a broken generator or solution is caught before it is seeded.
package demo
