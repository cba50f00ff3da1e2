// Package bench will hold the load generator and its scenarios (`luffy bench`). For now
// it holds peers/: the side-by-side comparison of the edge with nginx and Varnish in
// front of one origin, and a bare fasthttp handler as the ceiling.
package bench
