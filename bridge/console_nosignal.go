//go:build !linux

package bridge

import (
	"os"
	"syscall"
)

// terminalSignal and sendTerminalSignal deliver the signal characters typed into a full
// terminal (see console_linux.go); elsewhere such a character waits in the queue.
func terminalSignal(*os.File, []byte) (syscall.Signal, int) { return 0, -1 }

func sendTerminalSignal(*os.File, syscall.Signal) error { return nil }

func flushTerminalInput(*os.File) {}
