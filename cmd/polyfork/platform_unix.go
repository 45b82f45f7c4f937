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

// lockDir takes an exclusive lock on directory dir for as long as the returned file stays
// open (the lock goes with the process, even when it is killed), or errLocked.
func lockDir(dir string) (*os.File, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		if err == syscall.EWOULDBLOCK {
			return nil, errLocked
		}
		return nil, err
	}
	return f, nil
}
