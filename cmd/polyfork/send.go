package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/polyfork/polyfork/bridge"
)

// maxLine is the longest line of JSON accepted on stdin.
const maxLine = 64 << 20

const sendAbout = `Start COMMAND, send each JSON value read from stdin (one per line; blank lines are
skipped) as a message to the child's on('message') handler, and print each message the
child sends as one line of JSON. At the end of stdin, stop the child and exit 0 if it
exited cleanly. The child's stderr is relayed to stderr as it comes.

A value may nest 126 levels deep (the wire's 128, less the message around it); lines may
be up to 64 MiB long.

example:
  printf '"start"\n{"n": 1}\n' | polyfork send -- node worker.js
`

func runSend(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := newCommand("send", "polyfork send [-timeout D] -- COMMAND [ARG...]", sendAbout, sendExits)
	timeout := cmd.flags.Duration("timeout", 0, "give up after this long, start-up included (0: no limit)")
	console := cmd.flags.Bool("console", false, "give the child a terminal (its lines are relayed to stderr)")
	var cf childFlags
	cf.register(cmd.flags)
	var code int
	positional, command, ok := cmd.parse(args, stdout, stderr, &code)
	switch {
	case !ok:
		return code
	case len(positional) != 0:
		return cmd.usageError(stderr, "unexpected argument %q before \"--\"", positional[0])
	case len(command) == 0:
		return cmd.usageError(stderr, "want \"-- COMMAND [ARG...]\"")
	case *timeout < 0:
		return cmd.usageError(stderr, "-timeout must not be negative, got %v", *timeout)
	}
	opts, err := cf.options(cmd.flags, *console)
	if err != nil {
		return cmd.usageError(stderr, "%v", err)
	}
	if *console {
		opts = append(opts, bridge.WithConsole(cf.consoleOptions()))
	}
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}

	out := bufio.NewWriter(stdout)
	var outMu sync.Mutex
	var printErr error
	onMessage := func(v any) {
		line, err := toJSON(v)
		outMu.Lock()
		defer outMu.Unlock()
		if err != nil {
			fmt.Fprintf(stderr, "polyfork send: a message from the child cannot be printed: %v\n", err)
			return
		}
		out.Write(line)
		out.WriteByte('\n')
		if err := out.Flush(); err != nil && printErr == nil {
			printErr = err
		}
	}
	p, err := bridge.Start(ctx, command, append(opts, bridge.WithStderr(stderr), bridge.OnMessage(onMessage))...)
	if err != nil {
		fmt.Fprintf(stderr, "polyfork send: %s\n", describe(err, *timeout))
		return exitFailure
	}

	// Read stdin on its own goroutine, so that the child dying, the timeout or a signal
	// end the command even while stdin is idle.
	type line struct {
		n    int
		text []byte
		err  error
	}
	lines := make(chan line)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdin)
		sc.Buffer(make([]byte, 64<<10), maxLine)
		n := 0
		for sc.Scan() {
			n++
			select {
			case lines <- line{n: n, text: append([]byte(nil), sc.Bytes()...)}:
			case <-p.Done():
				return
			}
		}
		if err := sc.Err(); err != nil {
			select {
			case lines <- line{n: n + 1, err: err}:
			case <-p.Done():
			}
		}
	}()

	code = exitOK
loop:
	for {
		select {
		case l, more := <-lines:
			if !more {
				break loop
			}
			if errors.Is(l.err, bufio.ErrTooLong) {
				fmt.Fprintf(stderr, "polyfork send: stdin line %d is longer than a line may be (%d MiB)\n", l.n, maxLine>>20)
				code = exitUsage
				break loop
			}
			if l.err != nil {
				fmt.Fprintf(stderr, "polyfork send: stdin line %d: %v\n", l.n, l.err)
				code = exitUsage
				break loop
			}
			if len(bytes.TrimSpace(l.text)) == 0 {
				continue
			}
			v, err := valueFromJSON(bytes.NewReader(l.text), sendLimits)
			if err != nil {
				fmt.Fprintf(stderr, "polyfork send: stdin line %d: %v\n", l.n, err)
				code = exitUsage
				break loop
			}
			if err := p.Send(ctx, v); errors.Is(err, bridge.ErrUnsendable) {
				// The line's fault, not the child's: nothing was sent (a frame above the
				// maximum size, say, which a line just under 64 MiB makes with its envelope).
				fmt.Fprintf(stderr, "polyfork send: stdin line %d: %v\n", l.n, err)
				code = exitUsage
				break loop
			} else if err != nil {
				fmt.Fprintf(stderr, "polyfork send: sending stdin line %d: %s\n", l.n, describe(err, *timeout))
				code = exitFailure
				break loop
			}
		case <-p.Done():
			fmt.Fprintf(stderr, "polyfork send: the child ended before the input did: %s\n", describe(p.Wait(), *timeout))
			return exitFailure
		case <-ctx.Done():
			p.Kill()
			p.Wait()
			fmt.Fprintf(stderr, "polyfork send: %s\n", describe(ctx.Err(), *timeout))
			return exitFailure
		}
	}
	if code != exitOK {
		p.Kill()
		p.Wait()
		return code
	}
	// End of input: stop the child gracefully, printing what it still sends, however long
	// stdout takes to take it (Close would drop what is not printed after the grace
	// periods); ctx (a signal, -timeout) bounds that.
	closed := make(chan error, 1)
	go func() { closed <- p.Shutdown(ctx) }()
	select {
	case err = <-closed:
	case <-ctx.Done():
		p.Kill()
		<-closed
		fmt.Fprintf(stderr, "polyfork send: %s\n", describe(ctx.Err(), *timeout))
		return exitFailure
	}
	if err != nil {
		fmt.Fprintf(stderr, "polyfork send: %s\n", describe(err, *timeout))
		return exitFailure
	}
	outMu.Lock()
	defer outMu.Unlock()
	if printErr != nil && !errors.Is(printErr, io.ErrClosedPipe) {
		fmt.Fprintf(stderr, "polyfork send: writing to stdout: %v\n", printErr)
		return exitFailure
	}
	return exitOK
}
