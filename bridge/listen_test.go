package bridge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestParseListen(t *testing.T) {
	cases := []struct {
		in, name, network, address, text string
	}{
		{"127.0.0.1:3000", "", "tcp", "127.0.0.1:3000", "tcp:127.0.0.1:3000"},
		{":0", "", "tcp", ":0", "tcp::0"},
		{"tcp:[::1]:3000", "", "tcp", "[::1]:3000", "tcp:[::1]:3000"},
		{"tcp6:[::1]:0", "", "tcp6", "[::1]:0", "tcp6:[::1]:0"},
		{"web=tcp4:0.0.0.0:80", "web", "tcp4", "0.0.0.0:80", "tcp4:0.0.0.0:80"},
		{"unix:/run/app.sock", "", "unix", "/run/app.sock", "unix:/run/app.sock"},
		{"unix:/tmp/a=b.sock", "", "unix", "/tmp/a=b.sock", "unix:/tmp/a=b.sock"},
		{"api=unix:@abstract", "api", "unix", "@abstract", "unix:@abstract"},
		{"fd:3", "", "fd", "3", "fd:3"},
		{"systemd", "", "systemd", "", "systemd"},
		{"systemd:http", "", "systemd", "http", "systemd:http"},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			s, err := parseListen(c.in)
			require.NoError(t, err)
			assert.Equal(t, c.name, s.name)
			assert.Equal(t, c.network, s.network)
			assert.Equal(t, c.address, s.address)
			assert.Equal(t, c.text, s.text)
		})
	}
	bad := map[string]string{
		"3000":                    "not an address",
		"tcp:3000":                "not HOST:PORT after tcp:",
		"unix:":                   "no path after unix:",
		"fd:2":                    "descriptor number of 3 or more",
		"fd:x":                    "descriptor number of 3 or more",
		"=:3000":                  "1 to 255 characters",
		"we b=:3000":              "printable ASCII",
		"systemd:a b":             "printable ASCII",
		"http://x:80/":            "not an address",
		"udp:127.0.0.1:1":         "not an address",
		"127.0.0.1:99999":         "port 99999 is out of range (0 to 65535)",
		"tcp:[::1]:65536":         "port 65536 is out of range",
		"127.0.0.1:nosuchservice": `port "nosuchservice" is not a number and not a service name`,
		"unix:/" + strings.Repeat("x", maxUnixPath): fmt.Sprintf("the socket path is too long: %d bytes, and a Unix socket address holds at most %d", maxUnixPath+1, maxUnixPath),
	}
	for in, want := range bad {
		t.Run("bad "+in, func(t *testing.T) {
			_, err := parseListen(in)
			requireContains(t, err, strconv.Quote(in), want)
		})
	}
}

func TestSocketNames(t *testing.T) {
	assert.Equal(t, "127.0.0.1_3000", socketName(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 3000}))
	assert.Equal(t, "[__1]_3000", socketName(&net.TCPAddr{IP: net.IPv6loopback, Port: 3000}))
	assert.Equal(t, "/run/a_b.sock", socketName(&net.UnixAddr{Name: "/run/a:b.sock", Net: "unix"}))
	assert.Equal(t, []string{"LISTEN_FDS=2", "LISTEN_FDNAMES=web:api"}, listenEnv([]string{"web", "api"}))
}

func TestListenOptionErrors(t *testing.T) {
	ctx := context.Background()
	_, err := NewPool(ctx, child("serve"), WithListeners("nonsense"), WithListeners())
	require.ErrorIs(t, err, ErrInvalidOption)
	requireContains(t, err, `WithListeners: "nonsense": not an address`, "WithListeners: no address was given")

	_, err = NewPool(ctx, child("serve"), WithListeners("unix:/tmp/x.sock", "fd:5"), WithListenMode(ListenReusePort))
	require.ErrorIs(t, err, ErrInvalidOption)
	requireContains(t, err, "ListenReusePort binds one socket per worker, so it needs TCP addresses; unix:/tmp/x.sock is not one")

	// The same address twice is a mistake in the options, not another process in the way.
	for _, addrs := range [][]string{
		{"127.0.0.1:3921", "127.0.0.1:3921"},
		{"web=tcp4:127.0.0.1:3921", "api=127.0.0.1:3921"},
		{"unix:./a.sock", "unix:a.sock"},
		{"fd:5", "fd:5"},
	} {
		_, err = NewPool(ctx, child("serve"), WithListeners(addrs...))
		require.ErrorIs(t, err, ErrInvalidOption, "%v", addrs)
		requireContains(t, err, "WithListeners: ", "given twice")
	}
	p := newPool(t, child("http"), WithChannel(ChannelNone), WithWorkers(1), WithListeners("127.0.0.1:0", "127.0.0.1:0"))
	require.Len(t, p.ListenSockets(), 2, "port 0 twice is two ports")

	_, err = NewPool(ctx, child("serve"), WithListener("a:b", &net.TCPListener{}))
	requireContains(t, err, `socket name "a:b"`)

	_, err = Start(ctx, child("serve"), WithListeners(":0"))
	requireContains(t, err, "WithListeners: applies to a Pool, not to a Process")
}

func TestListenPortInUse(t *testing.T) {
	checkNoLeaks(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	_, err = NewPool(context.Background(), child("http"), WithChannel(ChannelNone), WithStderr(nil),
		WithListeners("127.0.0.1:0", taken.Addr().String()))
	var le *ListenError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, "tcp:"+taken.Addr().String(), le.Addr)
	assert.ErrorIs(t, err, syscall.EADDRINUSE)
	assert.Equal(t, "bridge: cannot listen on tcp:"+taken.Addr().String()+": bind: address already in use (another process listens there)", err.Error())
	assert.Empty(t, children(), "no worker was started")

	// With SO_REUSEPORT, a port another process holds without it is refused just the same.
	_, err = NewPool(context.Background(), child("http"), WithChannel(ChannelNone), WithStderr(nil),
		WithListeners(taken.Addr().String()), WithListenMode(ListenReusePort), WithWorkers(2))
	assert.ErrorIs(t, err, syscall.EADDRINUSE)
}

func TestListenUnixSocketFile(t *testing.T) {
	checkNoLeaks(t)
	path := filepath.Join(t.TempDir(), "app.sock")
	// A stale socket file, as a host killed with SIGKILL leaves: nothing listens on it.
	stale, err := net.Listen("unix", path)
	require.NoError(t, err)
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()
	_, err = os.Lstat(path)
	require.NoError(t, err)

	p := newPool(t, child("http"), WithChannel(ChannelNone), WithWorkers(1), WithListeners("unix:"+path))
	socks := p.ListenSockets()
	require.Len(t, socks, 1)
	assert.Equal(t, path, socks[0].Name)
	assert.Equal(t, "unix:"+path, socks[0].Address)
	assert.Equal(t, -1, socks[0].Queued, "unknown for Unix sockets")
	body := getUnix(t, path, "/")
	assert.Equal(t, strconv.Itoa(p.Stats().Workers[0].Pid)+"\n", body)

	// A second pool on the same live socket is refused, and leaves the file alone.
	_, err = NewPool(context.Background(), child("http"), WithChannel(ChannelNone), WithListeners("unix:"+path))
	assert.ErrorIs(t, err, syscall.EADDRINUSE)

	require.NoError(t, p.Close())
	_, err = os.Lstat(path)
	assert.True(t, errors.Is(err, os.ErrNotExist), "the pool removes the socket file it made: %v", err)

	// A regular file in the way is never removed.
	require.NoError(t, os.WriteFile(path, []byte("data"), 0o600))
	_, err = NewPool(context.Background(), child("http"), WithChannel(ChannelNone), WithListeners("unix:"+path))
	assert.ErrorIs(t, err, syscall.EADDRINUSE)
	assert.EqualError(t, err, "bridge: cannot listen on unix:"+path+": bind: "+path+
		" is a regular file, not a socket: it is in the way of the socket, and is left alone (remove it, or choose another path)")
	assert.NotContains(t, err.Error(), "another process")
	data, _ := os.ReadFile(path)
	assert.Equal(t, "data", string(data))
}

func TestListenAdoptDescriptor(t *testing.T) {
	checkNoLeaks(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	fd, err := dupListener(ln)
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()

	p := newPool(t, child("http"), WithChannel(ChannelNone), WithWorkers(1), WithListeners("web=fd:"+strconv.Itoa(fd)))
	socks := p.ListenSockets()
	require.Len(t, socks, 1)
	assert.Equal(t, "web", socks[0].Name)
	assert.Equal(t, "tcp:"+addr, socks[0].Address)
	assert.Equal(t, strconv.Itoa(p.Stats().Workers[0].Pid)+"\n", get(t, "http://"+addr+"/"))
	require.NoError(t, p.Close())
	_, err = unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	assert.ErrorIs(t, err, unix.EBADF, "the pool took the descriptor over and closed it")

	// Descriptors that are not listening sockets.
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	defer w.Close()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	defer conn.Close()
	udp, err := conn.(*net.UDPConn).File()
	require.NoError(t, err)
	defer udp.Close()
	for fd, want := range map[int]string{
		int(r.Fd()):   "is not a socket",
		int(udp.Fd()): "is not a stream socket",
		999:           "descriptor 999 is not open",
	} {
		_, err := NewPool(context.Background(), child("http"), WithChannel(ChannelNone), WithListeners("fd:"+strconv.Itoa(fd)))
		var le *ListenError
		require.ErrorAs(t, err, &le)
		requireContains(t, err, "bridge: cannot listen on fd:"+strconv.Itoa(fd), want)
	}
}

func TestListenSystemdVariables(t *testing.T) {
	checkNoLeaks(t)
	start := func() error {
		_, err := NewPool(context.Background(), child("http"), WithChannel(ChannelNone), WithListeners("systemd"))
		return err
	}
	t.Setenv("LISTEN_FDS", "")
	os.Unsetenv("LISTEN_FDS")
	requireContains(t, start(), "bridge: cannot listen on systemd: LISTEN_FDS is not set: no sockets were passed to this process")

	// Inherited from a parent that was socket-activated itself: not ours.
	t.Setenv("LISTEN_FDS", "1")
	t.Setenv("LISTEN_PID", "1")
	requireContains(t, start(), "LISTEN_PID=1 is not this process ("+strconv.Itoa(os.Getpid())+"): LISTEN_FDS=1 was inherited from another process")
	assert.Equal(t, "1", os.Getenv("LISTEN_FDS"), "variables that are not ours are left alone")

	t.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()))
	t.Setenv("LISTEN_FDS", "two")
	requireContains(t, start(), `LISTEN_FDS="two" is not a number of descriptors`)

	// A count far beyond the descriptors passed is refused before anything is sized by
	// it: two billion made the host allocate 32 GB and die of it.
	t.Setenv("LISTEN_FDS", "2000000000")
	requireContains(t, start(), "LISTEN_FDS=2000000000, but descriptor 2000000002, the last it passes, is not open")
	t.Setenv("LISTEN_FDS", "9223372036854775807")
	requireContains(t, start(), "LISTEN_FDS=9223372036854775807, but descriptor")
}
