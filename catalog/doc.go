// Package catalog is the course catalog: the two-level category tree (direction →
// category), courses of four types, their teachers, chapters, lessons, documents, homework
// titles and price policies. It owns the queries that read the catalog (keyset-paginated
// lists, one-round-trip course details), the admin writes, and the demo and benchmark
// seeds. Every write fires a Postgres NOTIFY on channel catalog_changed (see the schema's
// triggers) that origins use to drop cached responses; this package knows nothing of HTTP
// or of caches.
package catalog
