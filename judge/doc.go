// Package judge holds the online judge's model (problems, tests, verdicts), its Postgres
// store (problems, submissions and the queue workers claim from) and the worker that
// judges a submission.
//
// A submission is a row; a worker claims it with FOR UPDATE SKIP LOCKED under a lease
// (woken by NOTIFY, or by its poll when a notification is missed), judges it in one
// sandbox container (judge/sandbox) — compile once, then every test through the
// container's resident runner — and writes the verdict in the same transaction that ends
// the lease. A worker that dies mid-run leaves a lease that expires, and another worker
// claims the submission again. Checkers live in judge/check, test archives in
// judge/testzip, the demo problems in judge/demo.
package judge
