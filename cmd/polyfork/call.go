package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/polyfork/polyfork/bridge"
	"github.com/polyfork/polyfork/protocol"
	"github.com/vmihailenco/msgpack/v5"
)

const callAbout = `Start COMMAND, call METHOD with PARAMS_JSON as its params, print the result as one line
of JSON, and stop the child. The child's stderr is relayed to stderr as it comes.

  METHOD       the handler to call: UTF-8, not empty, not starting with '$'
  PARAMS_JSON  a JSON array of the handler's arguments, such as '[40, 2]' or '[]'

JSON integers stay integers up to the int64 and uint64 limits (beyond them: a usage
error, never a silent float); other numbers are floats, printed with a decimal point.
Bytes print as base64, NaN and the infinities as "NaN", "Infinity", "-Infinity".
PARAMS_JSON may nest 127 levels deep (the wire's 128, less the message around it).

With -console the child's stdin, stdout and stderr are a terminal, and when polyfork's
stdin is a terminal it is connected to the child's for the call (raw mode, window size
followed, modes restored however the call ends; Ctrl-] abandons the call): a
breakpoint() or a readline prompt in the handler is yours to answer. The timeouts are
then lifted unless -timeout is given.

example:
  polyfork call add '[40, 2]' -- python3 worker.py      # prints 42
  polyfork call -console debug '[21]' -- python3 worker.py
`

func runCall(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if usesNATS(args) {
		return runCallRemote(ctx, args, stdout, stderr)
	}
	cmd := newCommand("call", "polyfork call [-timeout 30s] METHOD PARAMS_JSON -- COMMAND [ARG...]", callAbout, exitStatusText)
	timeout := cmd.flags.Duration("timeout", 30*time.Second, "give up after this long, start-up included (0: no limit; with -console on a terminal: no limit unless given)")
	console := cmd.flags.Bool("console", false, "give the child a terminal; when stdin is one, connect it to the child's for the call (Ctrl-] abandons the call)")
	var cf childFlags
	cf.register(cmd.flags)
	var code int
	positional, argv, ok := cmd.parse(args, stdout, stderr, &code)
	if !ok {
		return code
	}
	switch {
	case len(positional) != 2:
		return cmd.usageError(stderr, "want METHOD and PARAMS_JSON before \"--\", got %d arguments", len(positional))
	case len(argv) == 0:
		return cmd.usageError(stderr, "want \"-- COMMAND [ARG...]\" after PARAMS_JSON")
	case *timeout < 0:
		return cmd.usageError(stderr, "-timeout must not be negative, got %v", *timeout)
	}
	opts, err := cf.options(cmd.flags, *console)
	if err != nil {
		return cmd.usageError(stderr, "%v", err)
	}
	method, paramsJSON := positional[0], positional[1]
	if err := checkMethod(method); err != nil {
		return cmd.usageError(stderr, "METHOD: %v", err)
	}
	if strings.TrimSpace(paramsJSON) == "" {
		return cmd.usageError(stderr, "PARAMS_JSON is empty; give [] for no params")
	}
	params, err := paramsFromJSON(strings.NewReader(paramsJSON), cliParamsLimits)
	if err != nil {
		fmt.Fprintf(stderr, "polyfork call: PARAMS_JSON %q: %v\n", clip(paramsJSON), err)
		return exitUsage
	}

	opts = append(opts, bridge.WithStderr(stderr))
	ctx, cancelCause := context.WithCancelCause(ctx)
	defer cancelCause(nil)
	var term *terminalSession
	// What polyfork has to say during a -console call waits until the terminal's modes
	// are back: a line printed while the terminal is raw would not return to its start.
	var heldLines bytes.Buffer
	held := &syncWriter{w: &heldLines}
	printHeld := func() {
		held.mu.Lock()
		defer held.mu.Unlock()
		_, _ = heldLines.WriteTo(stderr)
	}
	if *console {
		term = newTerminalSession(stdin, cancelCause)
		defer term.end()
		opts = append(opts, term.options(cf.consoleOptions())...)
		// (Typed input dropped for a full terminal, say.)
		opts = append(opts, bridge.WithLogger(slog.New(slog.NewTextHandler(held, &slog.HandlerOptions{
			Level:       slog.LevelWarn,
			ReplaceAttr: dropTime,
		}))))
	}
	switch {
	case *timeout > 0 && (!term.interactive() || isSet(cmd.flags, "timeout")):
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	case term.interactive():
		// A debugger may hold the child before its $ready for as long as the user likes.
		opts = append(opts, bridge.WithStartTimeout(interactiveStartTimeout))
	}
	if err := term.begin(); err != nil {
		fmt.Fprintf(stderr, "polyfork call: cannot put the terminal in raw mode: %v\n", err)
		return exitFailure
	}
	p, err := bridge.Start(ctx, argv, opts...)
	if err != nil {
		term.end()
		printHeld()
		fmt.Fprintf(stderr, "polyfork call: %s\n", describeEnd(ctx, err, *timeout))
		return exitFailure
	}
	var raw msgpack.RawMessage
	callErr := p.Call(ctx, method, params, &raw)
	if callErr != nil {
		// The call failed: a stuck child is not worth waiting for.
		p.Kill()
	}
	_ = p.Close()
	term.end() // the terminal's modes are back before anything is printed
	printHeld()

	var re *bridge.RemoteError
	switch {
	case callErr == nil:
	case errors.As(callErr, &re):
		fmt.Fprintf(stderr, "polyfork call: %s raised %s: %s\n", protocol.QuoteName(method), re.Type, re.Message)
		if re.Traceback != "" {
			fmt.Fprintf(stderr, "%s\n", re.Traceback)
		}
		return exitRaised
	default:
		fmt.Fprintf(stderr, "polyfork call: %s\n", describeEnd(ctx, callErr, *timeout))
		return exitFailure
	}
	v, err := protocol.DecodeValue(raw)
	if err == nil {
		var line []byte
		if line, err = toJSON(v); err == nil {
			line = append(line, '\n')
			_, err = stdout.Write(line)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "polyfork call: the result of %s cannot be printed: %v\n", protocol.QuoteName(method), err)
		return exitFailure
	}
	return exitOK
}

// interactiveStartTimeout is the start timeout of a call whose child's console is the
// user's terminal: no limit, in effect, since a debugger may be stopped in start-up code.
const interactiveStartTimeout = 1000 * time.Hour

// describeEnd is describe, or what the detach key did when it ended the call.
func describeEnd(ctx context.Context, err error, timeout time.Duration) string {
	if errors.Is(context.Cause(ctx), errDetached) {
		return errDetached.Error() + ": the call was abandoned and the child stopped"
	}
	return describe(err, timeout)
}

// isSet reports whether the flag name was given on the command line.
func isSet(fs *flag.FlagSet, name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// dropTime leaves the time out of a log record, for lines a person reads at once.
func dropTime(groups []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey && len(groups) == 0 {
		return slog.Attr{}
	}
	return a
}
