package bridge

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"unsafe"
)

// sysProcAttr puts the child in a process group of its own, so that signals reach its own
// children too, and asks Linux to SIGKILL it if the thread that forked it exits.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// The parent-death signal fires when the OS thread that forked the child exits, not when
// the process does (golang/go#27505). Go may end a thread that a goroutine locked and left,
// so every child is forked from one goroutine that locks its thread and never returns.
var (
	spawnOnce sync.Once
	spawnReqs chan spawnReq
)

type spawnReq struct {
	cmd  *exec.Cmd
	done chan error
}

// startSpawner starts the forking goroutine once.
func startSpawner() {
	spawnOnce.Do(func() {
		spawnReqs = make(chan spawnReq)
		go func() {
			runtime.LockOSThread() // never unlocked: this thread lives as long as the process
			for r := range spawnReqs {
				r.done <- r.cmd.Start()
			}
		}()
	})
}

func spawn(cmd *exec.Cmd) error {
	startSpawner()
	r := spawnReq{cmd: cmd, done: make(chan error, 1)}
	spawnReqs <- r
	return <-r.done
}

// waitAndKillGroup waits for the child to exit, kills whatever is left in its process group
// (grandchildren), then reaps the child. It waits with waitid(WNOWAIT) first: while the
// child is an unreaped zombie its pid, and so its process group id, cannot be reused, so the
// group kill cannot hit an unrelated process.
func waitAndKillGroup(cmd *exec.Cmd) error {
	pid := cmd.Process.Pid
	const pPID = 1
	const wNOWAIT = 0x1000000
	var info [128]byte // siginfo_t
	for {
		_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid),
			uintptr(unsafe.Pointer(&info[0])), syscall.WEXITED|wNOWAIT, 0, 0)
		if errno != syscall.EINTR {
			break
		}
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	return cmd.Wait()
}
