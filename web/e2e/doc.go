// Package e2e holds the end-to-end tests of the web front in a real browser: headless
// Chromium (Debian's package, at /usr/bin/chromium) driven by playwright-core from
// web/node_modules, with no browser download. The Go test (part of plain `go test ./...`,
// so of `make test`) builds the luffy binary, runs `luffy up` and a judge worker on free
// ports against a database and a bucket of their own, and runs the scripts beside this
// file against the edge: flow.mjs, a new student on a phone who registers, buys a course
// through the payment simulator, watches a paid lesson, solves a-plus-b and finds the
// payment among the notifications; and errors.mjs, the mistakes a user can make (a wrong
// password, a session that expired or was ended on another device, a lesson not paid
// for, a compile error, an address that leads nowhere), each of which must leave a clear
// message on the page. Every page visited is saved as a PNG under web/e2e/screenshots/
// (git-ignored; $LUFFY_E2E_SCREENSHOTS elsewhere) for review. A script also runs by hand
// against `make run`: LUFFY_E2E_BASE=http://127.0.0.1:8081 node web/e2e/flow.mjs. There
// is no Go API here.
package e2e
