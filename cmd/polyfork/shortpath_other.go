//go:build !linux

package main

import "errors"

// shortSocketName has no shorter name to offer outside Linux (no /proc/self/fd).
func shortSocketName(string) (string, func(), error) {
	return "", nil, errors.New("no shorter name for a directory here")
}
