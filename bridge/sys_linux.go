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
	groupOfItsOwn(attr)
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
	var adopted []int
	if adoptsOrphans() {
		// Listed while the child is unreaped, so that its pid, the group's id, cannot
		// have been taken by a new process.
		adopted = adoptedIn(pid, false)
	}
	err := cmd.Wait()
	if len(adopted) > 0 {
		go reapGroup(pid, adopted)
	}
	return err
}

// adoptsOrphans reports whether processes orphaned below this one are reparented to it:
// it is PID 1 (polyfork serve as a container's entrypoint) or a child subreaper.
func adoptsOrphans() bool {
	if os.Getpid() == 1 {
		return true
	}
	var v int32 // PR_GET_CHILD_SUBREAPER writes it through the pointer
	err := unix.Prctl(unix.PR_GET_CHILD_SUBREAPER, uintptr(unsafe.Pointer(&v)), 0, 0, 0)
	return err == nil && v != 0
}

// adoptedIn lists the processes of the process group pgid (a child's, just killed with it)
// that were reparented to this process, but not the child itself, the group's leader,
// whose pid is pgid (cmd.Wait reaps it). Nobody else can reap them: as PID 1 each killed
// grandchild stayed a zombie for good, one more per worker death, until pids ran out. A
// grandchild that left the group (setpgid, setsid) is not known here. With zombies, only
// processes that have already exited are listed.
func adoptedIn(pgid int, zombies bool) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	me := os.Getpid()
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == pgid {
			continue
		}
		if state, ppid, pgrp, ok := procStat(pid); ok && ppid == me && pgrp == pgid && (!zombies || state == 'Z') {
			out = append(out, pid)
		}
	}
	return out
}

// reapGroup waits for the adopted processes of group pgid, which were sent SIGKILL with
// it, then for those their deaths handed over in turn (a grandchild's own children, killed
// with the group too), for as long as such zombies keep appearing. Only zombies are taken
// after the first listing: once the child is reaped, a new child may have its pid and lead
// a group of the same id, whose live members are not this group's. A process whose pid is
// pgid is never taken.
func reapGroup(pgid int, pids []int) {
	for len(pids) > 0 {
		reaped := false
		for _, pid := range pids {
			var ws unix.WaitStatus
			for {
				_, err := unix.Wait4(pid, &ws, 0, nil)
				if err != unix.EINTR {
					reaped = reaped || err == nil
					break
				}
			}
		}
		if !reaped { // someone else's to wait for after all
			return
		}
		pids = adoptedIn(pgid, true)
	}
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
