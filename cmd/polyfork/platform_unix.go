//go:build unix

package main

import (
	"os"
	"syscall"
)

// resizeSignal is the signal a terminal's window change sends (nil: none).
var resizeSignal os.Signal = syscall.SIGWINCH

// noCtty keeps a terminal opened anew from becoming the controlling terminal.
const noCtty = syscall.O_NOCTTY

// ownerOf returns the uid that owns fi.
func ownerOf(fi os.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}
