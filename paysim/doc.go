// Package paysim is a payment-gateway simulator for tests and demos. A POST to an order's
// pay_url "pays" it: the simulator checks the URL's signature (so a client cannot change
// the amount), records the trade in memory and sends the origin an HMAC-signed callback,
// retrying with backoff as a real gateway does. Query parameters make it misbehave on
// purpose (duplicate, dropped or delayed callbacks) so that the origin's idempotency and
// reconciliation can be tested; GET /api/trades/{number} is the query API that
// reconciliation asks when a callback never came.
package paysim
