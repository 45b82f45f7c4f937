// Package installtest proves that polyfork can be used from outside its repository the way
// README.md's Install section says: it runs that section's commands in a fresh module in a
// temporary directory, builds and runs a program there that calls a Python worker, and
// installs the polyfork command with make install into a temporary GOBIN.
//
// It has no code of its own; its tests need go, make and python3 with msgpack, and the
// module cache that the repository's own build fills (so they run offline).
package installtest
