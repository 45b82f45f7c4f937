package bridge

import (
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Rlimits are resource limits (setrlimit(2)) for a child, soft and hard alike, so that the
// child cannot raise them again. A zero field sets nothing: the child inherits the host's
// limit.
type Rlimits struct {
	// AddressSpace bounds the child's virtual memory in bytes (RLIMIT_AS), rounded down to
	// a KiB: past it, allocations fail (MemoryError, a PHP fatal error, a V8 crash).
	// Runtimes that reserve address space up front need room for it: Node wants about
	// 1 GiB, a Go program built with -race far more.
	AddressSpace int64
	// CPUTime bounds the CPU time the child uses (RLIMIT_CPU), rounded up to whole
	// seconds: past it the kernel sends SIGXCPU, then SIGKILL. It counts CPU, not time
	// since the start; for the latter, use a Pool's WithExecTimeout or a context.
	CPUTime time.Duration
	// OpenFiles bounds the child's descriptor numbers (RLIMIT_NOFILE): it can open
	// descriptors up to OpenFiles-1. Descriptors polyfork passes are open whatever it says.
	OpenFiles int
	// Processes bounds the processes and threads of the child's real user id
	// (RLIMIT_NPROC): all of that user's, not only the child's, so it stops a fork bomb
	// only for a child run as a user of its own (WithSysProcAttr's Credential). Root and
	// processes with CAP_SYS_RESOURCE are exempt.
	Processes int
}

// WithRlimits sets resource limits for the child; see Rlimits. They are set before the
// child's program runs: the child is started through /bin/sh, which sets them with ulimit
// and then execs the program in the same process (Go cannot run code between fork and
// exec, and setting them afterwards with prlimit(2) would leave the program running
// without them for a moment). Unix only: on Windows the option is invalid.
func WithRlimits(l Rlimits) Option {
	return func(c *config) {
		c.use("WithRlimits", scopeProcess)
		switch {
		case runtime.GOOS == "windows":
			c.fail("WithRlimits", "resource limits need a Unix system")
		case l.AddressSpace < 0 || l.CPUTime < 0 || l.OpenFiles < 0 || l.Processes < 0:
			c.fail("WithRlimits", "negative limits in %+v", l)
		case l.AddressSpace > 0 && l.AddressSpace < 1<<20:
			c.fail("WithRlimits", "an address space of %d bytes is less than 1 MiB: nothing can run in it", l.AddressSpace)
		}
		c.proc.rlimits = l
	}
}

// ulimitScript returns the shell commands that set l, or "" when l sets nothing. Each
// ulimit sets one resource (dash takes no more), soft and hard limits at once (no -S or
// -H). The process count is -u in bash, zsh and busybox, -p in dash (where bash's -p is
// the pipe size, which cannot be set), hence the fallback.
func ulimitScript(l Rlimits) string {
	var cmds []string
	if l.AddressSpace > 0 {
		cmds = append(cmds, "ulimit -v "+strconv.FormatInt(l.AddressSpace>>10, 10))
	}
	if l.CPUTime > 0 {
		secs := int64(l.CPUTime / time.Second) // rounded up below: adding a second first overflowed
		if l.CPUTime%time.Second != 0 {
			secs++
		}
		cmds = append(cmds, "ulimit -t "+strconv.FormatInt(secs, 10))
	}
	if l.OpenFiles > 0 {
		cmds = append(cmds, "ulimit -n "+strconv.Itoa(l.OpenFiles))
	}
	if l.Processes > 0 {
		n := strconv.Itoa(l.Processes)
		cmds = append(cmds, "{ ulimit -u "+n+" 2>/dev/null || ulimit -p "+n+"; }")
	}
	if len(cmds) == 0 {
		return ""
	}
	return strings.Join(cmds, " && ")
}

// wrapRlimits runs cmd through /bin/sh, which sets l and execs the command: the limits
// hold from the program's first instruction, and the pid stays the child's. A limit the
// shell cannot set (above the host's own hard limit, for one) ends the child with status
// 126 before $ready, and the shell's message is in the error's stderr lines. cmd.Path must
// already be resolved; a lookup error stays in cmd.Err.
func wrapRlimits(cmd *exec.Cmd, l Rlimits) {
	script := ulimitScript(l)
	if script == "" || cmd.Err != nil {
		return
	}
	// $0 names the shell in its own messages ("polyfork-rlimits: 1: ulimit: error setting
	// limit"); the command and its arguments follow.
	script += ` || { echo "polyfork: the resource limits cannot be set" >&2; exit 126; }; exec "$@"`
	args := append([]string{"sh", "-c", script, "polyfork-rlimits", cmd.Path}, cmd.Args[1:]...)
	cmd.Path, cmd.Args = "/bin/sh", args
}
