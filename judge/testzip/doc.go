// Package testzip reads the tests of a problem from the zip file an admin uploads, and
// writes such a zip for seeds and tests. A test is a pair NAME.in and NAME.ans (NAME.out
// is accepted for the answer, since many problem archives use it); names starting with
// "sample" are the samples shown in the statement. The files sit at the root of the zip
// or all in one top-level folder, which is what zipping a folder produces.
//
// The zip comes from outside, so Read treats it as hostile: it checks the whole layout
// before decompressing anything, counts the bytes that actually come out of the
// decompressor rather than the sizes the headers claim, and stops a zip bomb after one
// byte over the limit. Whatever is wrong with the upload is an *Error the HTTP layer
// answers with 400; any other error is the storage failing to read the upload.
package testzip
