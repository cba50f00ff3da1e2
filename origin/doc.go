// Package origin is the HTTP layer of the application server: a fasthttp server that
// routes the public API (catalog, accounts, admin writes) and the ops endpoints, maps
// domain errors to JSON errors in one place, and keeps rendered catalog responses in an
// in-process ristretto cache. Cached responses are dropped by generation counters that a
// Postgres LISTEN on channel catalog_changed advances, so every origin process forgets the
// same things within milliseconds of a commit. Edges sit in front of origins and cache
// again; an origin only sees their misses.
package origin
