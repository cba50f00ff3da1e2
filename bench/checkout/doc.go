// Package checkout benchmarks the checkout flow (order, payment callback, enrollment,
// points) against the Postgres it runs on, beside pgbench's TPC-B on the same server in
// the same run: `go test -run '^$' -bench Checkout ./bench/checkout/`.
package checkout
