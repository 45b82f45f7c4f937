// Package polyfork holds the version shared by everything in this repository: the Go
// module, the polyfork command, and the Python, PHP and Node client libraries (their
// manifests and the "lib" string of their $ready handshake). The file VERSION at the
// repository's root says the same; a test keeps them all equal.
//
// The API is in the packages below this one: bridge (the host: Conn, Process, Pool),
// bridge/child (a Go program as a child), protocol (frames, messages, values) and the
// command cmd/polyfork.
package polyfork

// Version is polyfork's version, in semantic versioning without a leading "v".
const Version = "0.2.0"
