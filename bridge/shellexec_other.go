//go:build !linux

package bridge

import "os/exec"

// refuseWhatExecWouldRefuse does nothing outside Linux: which files the kernel runs (Mach-O
// binaries, say) is not checked there, and the shell reports what it cannot run.
func refuseWhatExecWouldRefuse(*exec.Cmd) {}
