//go:build !linux

package bridge

import (
	"os/exec"
	"syscall"
)

// sysProcAttr puts the child in a process group of its own. Outside Linux there is no
// parent-death signal: a child learns of its host's death from end of file on stdin.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

func startSpawner() {}

func spawn(cmd *exec.Cmd) error { return cmd.Start() }

// waitAndKillGroup reaps the child, then kills whatever is left in its process group.
func waitAndKillGroup(cmd *exec.Cmd) error {
	err := cmd.Wait()
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	return err
}
