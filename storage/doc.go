// Package storage holds what every part of Luffy shares underneath its domain packages:
// the Postgres connection pool and the embedded schema migrations that every service
// applies at start. Domain packages (catalog, accounts, ...) take a *pgxpool.Pool from
// here and own their queries; this package knows no business rules.
package storage
