package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

const attachAbout = `Connect this terminal to the console of one worker of "polyfork serve -console DIR",
while it serves: see what the worker's terminal shows (its last 4 KiB first) and type
into it, to answer a breakpoint() or a prompt in a handler. Ctrl-] detaches; the worker
carries on. One terminal per worker at a time.

  DIR     the directory given to serve -console
  WORKER  the worker's index (0 for NAME#0) or full name; may be left out when DIR holds
          one worker's socket
  SOCKET  a worker's socket itself

Without a terminal on stdin, attach copies stdin to the worker's console and its output
to stdout, and detaches at the end of stdin.

example:
  polyfork serve -timeout 0 -console /tmp/consoles -- python3 worker.py &
  polyfork attach /tmp/consoles 0
`

// maxHeaderLine bounds the header line attach reads from a console socket.
const maxHeaderLine = 4096

// runAttach connects the user's terminal to the console of one worker of polyfork serve
// -console DIR: polyfork attach DIR [WORKER], or polyfork attach SOCKET.
func runAttach(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := newCommand("attach", "polyfork attach DIR [WORKER] | SOCKET", attachAbout, attachExits)
	var code int
	positional, _, ok := cmd.parse(args, stdout, stderr, &code)
	if !ok {
		return code
	}
	if len(positional) < 1 || len(positional) > 2 {
		return cmd.usageError(stderr, "want DIR [WORKER] or SOCKET")
	}
	worker := ""
	if len(positional) == 2 {
		worker = positional[1]
	}
	path, err := consoleSocketPath(positional[0], worker)
	if err != nil {
		return cmd.usageError(stderr, "%v", err)
	}
	conn, err := dialConsole(path)
	if err != nil {
		fmt.Fprintf(stderr, "polyfork attach: %v\n", err)
		return exitFailure
	}
	defer conn.Close()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	// The header line is short (a name that fits in a socket path, a pid): it is read
	// within maxHeaderLine bytes. Read unbounded, a socket that is not a console and sends
	// without a newline grew attach by its whole stream for 10 s (10 GB from a local
	// sender), then was said to have said nothing.
	r := bufio.NewReaderSize(conn, maxHeaderLine)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	head, err := r.ReadSlice('\n')
	_ = conn.SetReadDeadline(time.Time{})
	switch {
	case err != nil && len(head) == 0:
		fmt.Fprintf(stderr, "polyfork attach: %s said nothing: %v\n", path, err)
		return exitFailure
	case errors.Is(err, bufio.ErrBufferFull):
		fmt.Fprintf(stderr, "polyfork attach: %s: not a polyfork console: it sent %d bytes with no header line: %q\n", path, len(head), clip(string(head)))
		return exitFailure
	case err != nil:
		fmt.Fprintf(stderr, "polyfork attach: %s: not a polyfork console: it said %q, then %v\n", path, clip(string(head)), err)
		return exitFailure
	}
	name, pid, err := parseHeader(string(head))
	if err != nil {
		fmt.Fprintf(stderr, "polyfork attach: %s: %v\n", path, err)
		return exitFailure
	}

	var sendMu sync.Mutex // keys and window sizes never interleave on the connection
	send := func(b []byte) error {
		sendMu.Lock()
		defer sendMu.Unlock()
		_, err := conn.Write(b)
		return err
	}
	ut := openTerminal(stdin)
	var keys io.Reader = stdin
	var screen io.Writer = stdout
	if ut != nil {
		defer ut.Close()
		keys, screen = ut, ut
		fmt.Fprintf(stderr, "polyfork attach: attached to %s (pid %d); Ctrl-] detaches\n", name, pid)
		// SIGHUP and SIGQUIT end the session like SIGINT, the terminal's modes back first.
		if err := ut.makeRaw(func(sig os.Signal) { cancel(fmt.Errorf("stopped by %v", sig)) }); err != nil {
			fmt.Fprintf(stderr, "polyfork attach: cannot put the terminal in raw mode: %v\n", err)
			return exitFailure
		}
		if cols, rows := ut.size(); cols > 0 {
			_ = send(windowMessage(cols, rows))
		}
		stopResize := ut.onResize(func(cols, rows int) { _ = send(windowMessage(cols, rows)) })
		defer stopResize()
	}

	// Keys go to serve on a goroutine of their own; output comes back on another until
	// serve closes the connection (the worker exited, or serve stopped).
	keysDone := make(chan error, 1)
	go func() { keysDone <- sendKeys(keys, send) }()
	outputDone := make(chan error, 1)
	go func() {
		_, err := io.Copy(screen, r)
		outputDone <- err
	}()

	var why string
	keysEnded := false
	select {
	case err := <-keysDone:
		keysEnded = true
		switch {
		case errors.Is(err, errDetached):
			why = "detached"
		case err == nil: // end of input: serve detaches, finishes the output and closes
			_ = conn.CloseWrite()
			<-outputDone
			why = "end of input: detached"
		default:
			why = "detached: " + err.Error()
		}
	case <-outputDone:
		why = fmt.Sprintf("the console of %s closed (the worker exited, or serve stopped)", name)
	case <-ctx.Done():
		why = "interrupted"
		if cause := context.Cause(ctx); cause != ctx.Err() {
			why = cause.Error()
		}
	}
	conn.Close()
	if ut != nil {
		ut.Close() // modes back before printing; a pending read of the terminal ends
		if !keysEnded && ut.reopened {
			<-keysDone
		}
	}
	fmt.Fprintf(stderr, "\npolyfork attach: %s\n", why)
	return exitOK
}

// sendKeys sends what keys gives as 'k' messages until it ends: nil at end of file.
func sendKeys(keys io.Reader, send func([]byte) error) error {
	buf := make([]byte, 4<<10)
	var msg []byte
	for {
		n, err := keys.Read(buf)
		if n > 0 {
			msg = appendMessage(msg[:0], msgKeys, buf[:n])
			if werr := send(msg); werr != nil {
				return werr
			}
		}
		switch {
		case err == io.EOF:
			return nil
		case err != nil:
			return err
		}
	}
}

// dialConsole connects to the console socket at path. A path longer than a Unix socket's
// address holds (a DIR deep in a CI workspace, which serve could bind as a short relative
// path) is reached through a shorter name of its directory where the system has one
// (shortSocketName); otherwise the error says the path is too long. connect(2) said only
// "invalid argument".
func dialConsole(path string) (*net.UnixConn, error) {
	name := path
	if len(path) > socketPathMax {
		short, release, err := shortSocketName(path)
		if err != nil {
			return nil, fmt.Errorf("the socket path %s is %d bytes, and a Unix socket's path holds at most %d here: cd to %s and run polyfork attach . %s",
				path, len(path), socketPathMax, filepath.Dir(path), filepath.Base(path))
		}
		defer release()
		name = short
	}
	return net.DialUnix("unix", nil, &net.UnixAddr{Name: name, Net: "unix"})
}

// consoleSocketPath finds the socket polyfork attach means: arg itself if it is a socket,
// else the socket of worker in directory arg (a full name, or an index: "0" is
// "NAME#0"), or the only socket there.
func consoleSocketPath(arg, worker string) (string, error) {
	fi, err := os.Stat(arg)
	if err != nil {
		return "", err
	}
	if fi.Mode()&os.ModeSocket != 0 {
		if worker != "" {
			return "", fmt.Errorf("%s is a socket: a WORKER goes with a directory", arg)
		}
		return arg, nil
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("%s is neither a directory of consoles nor a socket", arg)
	}
	entries, err := os.ReadDir(arg)
	if err != nil {
		return "", err
	}
	var names []string
	for _, e := range entries {
		if e.Type()&os.ModeSocket != 0 {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for _, n := range names {
		if worker != "" && (n == worker || strings.HasSuffix(n, "#"+worker)) {
			return filepath.Join(arg, n), nil
		}
	}
	switch {
	case len(names) == 0:
		return "", fmt.Errorf("no worker console in %s (is polyfork serve -console %s running?)", arg, arg)
	case worker == "" && len(names) == 1:
		return filepath.Join(arg, names[0]), nil
	case worker == "":
		return "", fmt.Errorf("%s holds %d worker consoles, say which: %s", arg, len(names), strings.Join(names, ", "))
	}
	return "", fmt.Errorf("no worker %q in %s; there are: %s", worker, arg, strings.Join(names, ", "))
}
