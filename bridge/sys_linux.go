package bridge

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sysProcAttr puts the child in a process group of its own, so that signals reach its own
// children too, and asks Linux to SIGKILL it if the thread that forked it exits. Attributes
// the user gave (WithSysProcAttr) are kept.
func sysProcAttr(user *syscall.SysProcAttr) *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{}
	if user != nil {
		cp := *user
		attr = &cp
	}
	attr.Setpgid, attr.Pgid = true, 0
	attr.Pdeathsig = syscall.SIGKILL
	return attr
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
		go spawnLoop()
	})
}

// spawnLoop forks every child, from a thread it never unlocks: that thread lives as long
// as the process.
func spawnLoop() {
	runtime.LockOSThread()
	for r := range spawnReqs {
		if spawnHook != nil {
			spawnHook()
		}
		closeOnExecAll(r.cmd)
		r.done <- r.cmd.Start()
	}
}

// startCmd starts cmd on the forking thread. A start still waiting for that thread when
// ctx ends is abandoned: a pool of thousands of workers whose start is given up on stops
// forking at once instead of forking, then killing, each one still in line.
// spawnHook, when a test sets it, runs on the forking thread before each fork: a test holds
// the thread busy with it. Always nil outside tests.
var spawnHook func()

func startCmd(ctx context.Context, cmd *exec.Cmd) error {
	startSpawner()
	r := spawnReq{cmd: cmd, done: make(chan error, 1)}
	if err := ctx.Err(); err != nil { // (a select would pick at random when both are ready)
		return fmt.Errorf("not started: %w", err)
	}
	select {
	case spawnReqs <- r:
	case <-ctx.Done():
		return fmt.Errorf("not started: %w", ctx.Err())
	}
	return <-r.done
}

// closeOnExecAll marks every descriptor of this process above 2 close-on-exec, so that a
// child inherits only what polyfork passes it (its own pipes and ExtraFiles, which exec
// duplicates onto fresh descriptors). Go opens its own descriptors close-on-exec already;
// this catches those opened by C code, inherited from this process's parent, or opened
// with syscall.Open without O_CLOEXEC.
//
// One close_range(2) call does it (Linux 5.11); older kernels walk /proc/self/fd, one
// fcntl per descriptor, which costs a pool of thousands of workers a quadratic start.
func closeOnExecAll(cmd *exec.Cmd) {
	if unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC) == nil {
		return
	}
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd <= 2 {
			continue
		}
		syscall.CloseOnExec(fd)
	}
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

// signalGroup sends sig to the child's process group.
func signalGroup(cmd *exec.Cmd, sig syscall.Signal) {
	_ = syscall.Kill(-cmd.Process.Pid, sig)
}

// growPipe enlarges a pipe's kernel buffer to 1 MiB where the system allows it, so that
// large messages cross in fewer wake-ups. Failure is harmless.
func growPipe(f *os.File) {
	const fSETPIPESZ = 1031
	if sc, err := f.SyscallConn(); err == nil {
		_ = sc.Control(func(fd uintptr) {
			_, _, _ = syscall.Syscall(syscall.SYS_FCNTL, fd, fSETPIPESZ, 1<<20)
		})
	}
}

// residentMemory returns a process's resident memory in bytes, read from /proc.
func residentMemory(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
	if err != nil {
		return 0, err
	}
	var size, resident int64
	if _, err := fmt.Sscan(string(b), &size, &resident); err != nil {
		return 0, fmt.Errorf("parsing /proc/%d/statm: %w", pid, err)
	}
	return resident * int64(os.Getpagesize()), nil
}

func currentPid() int { return os.Getpid() }
