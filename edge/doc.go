// Package edge is the CDN node that viewers and mobile clients talk to, in front of one or
// more origins. It keeps whole responses (status, the headers that matter, body) in a
// ristretto cache with a byte budget and honors the origin's Cache-Control: s-maxage over
// max-age, stale-while-revalidate (serve stale, refresh once in the background),
// stale-if-error (origin down or 5xx: serve stale inside the window), ETag revalidation,
// short negative caching of 404s. Concurrent misses for one key make one origin request.
// It checks playback tokens and the Referer of /v/ requests itself, with the origin's
// public key, and caches video files once per video, not once per viewer: the cache key
// drops the token. Purges by URL or surrogate key arrive on POST /edge/purge and are final:
// purged content is never served again, not even stale. Every response carries an RFC 9211
// Cache-Status header.
package edge
