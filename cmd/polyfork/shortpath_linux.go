package main

import (
	"fmt"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// shortSocketName returns a name for the socket at path that fits a socket address when
// path does not: /proc/self/fd/N/BASE, N a descriptor of path's directory, which release
// closes once the connection is made.
func shortSocketName(path string) (string, func(), error) {
	fd, err := unix.Open(filepath.Dir(path), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", nil, err
	}
	name := "/proc/self/fd/" + strconv.Itoa(fd) + "/" + filepath.Base(path)
	if len(name) > socketPathMax {
		unix.Close(fd)
		return "", nil, fmt.Errorf("%s is too long too", name)
	}
	return name, func() { unix.Close(fd) }, nil
}
