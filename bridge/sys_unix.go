//go:build unix && !linux

package bridge

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

// sysProcAttr puts the child in a process group of its own. Outside Linux there is no
// parent-death signal: a child learns of its host's death from end of file on stdin, which
// every polyfork client library watches.
func sysProcAttr(user *syscall.SysProcAttr) *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{}
	if user != nil {
		cp := *user
		attr = &cp
	}
	groupOfItsOwn(attr)
	return attr
}

func startSpawner() {}

// startCmd starts the child. Descriptors that this process opened without close-on-exec
// outside Go may leak into it here: only Linux sweeps them.
func startCmd(ctx context.Context, cmd *exec.Cmd) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("not started: %w", err)
	}
	return cmd.Start()
}

// waitAndKillGroup reaps the child, then kills whatever is left in its process group (the
// group id could in principle be reused in between; Linux closes that gap with waitid).
func waitAndKillGroup(cmd *exec.Cmd) error {
	err := cmd.Wait()
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	return err
}

func signalGroup(cmd *exec.Cmd, sig syscall.Signal) { _ = syscall.Kill(-cmd.Process.Pid, sig) }

// growPipe does nothing: the pipe buffer size is fixed outside Linux.
func growPipe(*os.File) {}

func residentMemory(int) (int64, error) {
	return 0, errors.New("resident memory is read from /proc, which only Linux has")
}

func currentPid() int { return os.Getpid() }
