//go:build windows

package bridge

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

// sysProcAttr starts the child in a new process group. Windows has no process-group kill
// from Go and no parent-death signal: a child's own children are not ended with it, and a
// child learns of its host's death from end of file on stdin.
func sysProcAttr(user *syscall.SysProcAttr) *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{}
	if user != nil {
		cp := *user
		attr = &cp
	}
	attr.CreationFlags |= syscall.CREATE_NEW_PROCESS_GROUP
	return attr
}

func startSpawner() {}

func startCmd(ctx context.Context, cmd *exec.Cmd) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("not started: %w", err)
	}
	return cmd.Start()
}

func waitAndKillGroup(cmd *exec.Cmd) error { return cmd.Wait() }

// signalGroup ends the child: Windows has no SIGTERM, so every signal kills at once, and
// only the child itself.
func signalGroup(cmd *exec.Cmd, sig syscall.Signal) { _ = cmd.Process.Kill() }

func growPipe(*os.File) {}

func residentMemory(int) (int64, error) {
	return 0, errors.New("resident memory is read from /proc, which only Linux has")
}

func currentPid() int { return os.Getpid() }
