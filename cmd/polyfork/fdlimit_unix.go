//go:build unix

package main

import "syscall"

// descriptorRoom returns how many connections fit in the descriptor limit (ulimit -n)
// beside the workers' pipes and serve's own files, and whether the limit could be read.
func descriptorRoom(workers int) (int, bool) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, false
	}
	limit := min(rl.Cur, 1<<30)
	return int(limit) - 64 - 8*workers, true
}
