//go:build !linux

package bridge

import (
	"os"
	"syscall"
)

// reusePortSupported: outside Linux, SO_REUSEPORT gives every connection to one socket of
// the group, so ListenReusePort is refused.
const reusePortSupported = false

func setReusePort(network, address string, c syscall.RawConn) error {
	return syscall.EOPNOTSUPP
}

// acceptQueue is known on Linux only.
func acceptQueue(*os.File) (queued, backlog int, ok bool) { return 0, 0, false }

// unixShutDown is known on Linux only (sock_diag).
func unixShutDown(*os.File) (down, known bool) { return false, false }
