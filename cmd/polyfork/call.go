package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/polyfork/polyfork/bridge"
	"github.com/polyfork/polyfork/protocol"
	"github.com/vmihailenco/msgpack/v5"
)

func runCall(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("polyfork call", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long, start-up included (with -console on a terminal: no limit unless given)")
	console := fs.Bool("console", false, "give the child a terminal; when stdin is one, connect it to the child's for the call (Ctrl-] abandons the call)")
	var cf childFlags
	cf.register(fs)
	before, command, ok := splitCommand(args)
	if err := fs.Parse(before); err != nil {
		return exitUsage
	}
	if !ok || fs.NArg() != 2 {
		fmt.Fprintf(stderr, "polyfork call: want METHOD PARAMS_JSON -- COMMAND [ARG...]\n\n%s", usage)
		return exitUsage
	}
	if *timeout <= 0 {
		fmt.Fprintf(stderr, "polyfork call: -timeout must be positive, got %v\n", *timeout)
		return exitUsage
	}
	opts, err := cf.options(fs, *console)
	if err != nil {
		fmt.Fprintf(stderr, "polyfork call: %v\n", err)
		return exitUsage
	}
	method, paramsJSON := fs.Arg(0), fs.Arg(1)
	params, err := parseJSON([]byte(paramsJSON))
	if err != nil {
		fmt.Fprintf(stderr, "polyfork call: PARAMS_JSON %q: %v\n", clip(paramsJSON), err)
		return exitUsage
	}
	list, isList := params.([]any)
	if !isList {
		fmt.Fprintf(stderr, "polyfork call: PARAMS_JSON must be a JSON array such as [1, 2], got %q\n", clip(paramsJSON))
		return exitUsage
	}

	opts = append(opts, bridge.WithStderr(stderr))
	ctx, cancelCause := context.WithCancelCause(ctx)
	defer cancelCause(nil)
	var term *terminalSession
	if *console {
		term = newTerminalSession(stdin, cancelCause)
		defer term.end()
		opts = append(opts, term.options(cf.consoleOptions())...)
	}
	if !term.interactive() || isSet(fs, "timeout") {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	} else {
		// A debugger may stop the child before its $ready for as long as the user wants.
		opts = append(opts, bridge.WithStartTimeout(interactiveStartTimeout))
	}
	if err := term.begin(); err != nil {
		fmt.Fprintf(stderr, "polyfork call: cannot put the terminal in raw mode: %v\n", err)
		return exitFailure
	}
	p, err := bridge.Start(ctx, command, opts...)
	if err != nil {
		term.end()
		fmt.Fprintf(stderr, "polyfork call: %v\n", describeEnd(ctx, err, *timeout))
		return exitFailure
	}
	var raw msgpack.RawMessage
	callErr := p.Call(ctx, method, list, &raw)
	if callErr != nil {
		// The call failed: a stuck child is not worth waiting for.
		p.Kill()
	}
	_ = p.Close()
	term.end() // the terminal's modes are back before anything is printed

	var re *bridge.RemoteError
	switch {
	case callErr == nil:
	case errors.As(callErr, &re):
		fmt.Fprintf(stderr, "polyfork call: %s raised %s: %s\n", method, re.Type, re.Message)
		if re.Traceback != "" {
			fmt.Fprintf(stderr, "%s\n", re.Traceback)
		}
		return exitRaised
	default:
		fmt.Fprintf(stderr, "polyfork call: %v\n", describeEnd(ctx, callErr, *timeout))
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
		fmt.Fprintf(stderr, "polyfork call: the result of %s cannot be printed: %v\n", method, err)
		return exitFailure
	}
	return exitOK
}

// describeTimeout says which limit passed when err is a timeout.
func describeTimeout(err error, timeout time.Duration) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("timed out after %v (-timeout): %w", timeout, err)
	}
	return err
}

// interactiveStartTimeout is the start timeout of a call whose child's console is the
// user's terminal: no limit, in effect, since a debugger may be stopped in start-up code.
const interactiveStartTimeout = 1000 * time.Hour

// describeEnd says why the call's context ended, when it did: the timeout, or the detach
// key.
func describeEnd(ctx context.Context, err error, timeout time.Duration) error {
	if errors.Is(context.Cause(ctx), errDetached) {
		return fmt.Errorf("%w: the call was abandoned and the child stopped", errDetached)
	}
	return describeTimeout(err, timeout)
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
