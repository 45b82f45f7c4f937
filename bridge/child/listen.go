package child

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// Listener is a listening socket the host passed (SPEC section 1.2), with its name.
type Listener struct {
	net.Listener
	Name string // from LISTEN_FDNAMES, or "" when the host gave none
}

// Listeners returns the listening sockets the host passed in LISTEN_FDS (descriptors 3 and
// up, the systemd socket-activation convention), as net.Listeners, in order. It returns
// none when LISTEN_FDS is not set, or when LISTEN_PID is not this process's pid (the
// variables were inherited from elsewhere). Once taken, the LISTEN_* variables are removed
// from the environment, so that processes this child starts do not take them too. It may
// be called again and returns the same listeners.
func Listeners() ([]Listener, error) {
	listenOnce.Do(func() { listeners, listenErr = takeListeners() })
	return listeners, listenErr
}

func takeListeners() ([]Listener, error) {
	n, err := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if err != nil || n <= 0 {
		return nil, nil
	}
	if pid, _ := strconv.Atoi(os.Getenv("LISTEN_PID")); pid != os.Getpid() {
		return nil, nil
	}
	names := strings.Split(os.Getenv("LISTEN_FDNAMES"), ":")
	for _, v := range []string{"LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"} {
		os.Unsetenv(v)
	}
	var out []Listener
	for i := 0; i < n; i++ {
		fd := 3 + i
		if err := prepareFD(fd); err != nil {
			return nil, fmt.Errorf("child: LISTEN_FDS=%d: descriptor %d is not open: %w", n, fd, err)
		}
		f := os.NewFile(uintptr(fd), "listener")
		l, err := net.FileListener(f)
		f.Close() // FileListener holds its own duplicate
		if err != nil {
			return nil, fmt.Errorf("child: LISTEN_FDS=%d: descriptor %d is not a listening socket: %w", n, fd, err)
		}
		name := ""
		if i < len(names) {
			name = names[i]
		}
		out = append(out, Listener{Listener: l, Name: name})
	}
	return out, nil
}
