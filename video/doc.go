// Package video is the path from a lesson's source file to a student's player. Ingest
// transcodes a file with ffmpeg into an HLS ladder, encrypts every segment with AES-128
// under keys that rotate every few segments, stores playlists and segments in MinIO and
// the keys in Postgres only, and publishes the new version in one transaction. Playback
// tokens, signed with Ed25519 by the origin and checked by origin and edge with the public
// key alone, name the video, the viewer, the expiry and optionally the viewer's network.
//
// URLs and objects of one video (see Layout):
//
//	/v/{token}/{videoID}/master.m3u8            rendered from Postgres: the published version
//	/v/{token}/{videoID}/v{N}-{name}/index.m3u8 object videos/{videoID}/v{N}/{name}/index.m3u8
//	/v/{token}/{videoID}/v{N}-{name}/seg-00007.ts  object videos/{videoID}/v{N}/{name}/seg-00007.ts
//	/v/{token}/{videoID}/v{N}-{name}/key?n=K    key K of version N, from Postgres, never cached
//
// Playlists use relative URIs, so one cached copy serves every viewer, and the version
// in the rendition path keeps a viewer on the version they started.
package video
