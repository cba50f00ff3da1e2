// Package web is the students' web front: a small single-page app (plain HTML, CSS and
// ES modules, no framework, hash routes) embedded in the binary and served by the origin,
// so that the edge caches it like any other response. New reads the embedded files once,
// rewrites every "/static/NAME" reference in them (import specifiers, dynamic imports,
// script and stylesheet URLs) to a content-fingerprinted URL, hashes and gzips each asset,
// and keeps the results in memory. Files are processed in dependency order, so an asset's
// URL changes whenever its bytes or the URL of anything it refers to change: assets are
// immutable and cached for a year, and only index.html, cached for a minute, has to be
// fetched again after a deploy. A reference to a file the app does not have, or a cycle
// of references, fails New rather than a page in a browser. hls.js is vendored at build
// time from the npm registry (see package.json) into app/vendor/; a build without it
// still compiles and the player then relies on the browser's native HLS. Site.Serve
// answers the index page for every app route (any GET or HEAD outside the API, video,
// edge and ops paths) and the assets under /static/; the origin calls it before its own
// 404.
package web
