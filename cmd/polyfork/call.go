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

func runCall(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if usesNATS(args) {
		return runCallRemote(ctx, args, stdout, stderr)
	}
	fs := flag.NewFlagSet("polyfork call", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long, start-up included")
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

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	p, err := bridge.Start(ctx, command, bridge.WithStderr(stderr))
	if err != nil {
		fmt.Fprintf(stderr, "polyfork call: %v\n", describeTimeout(err, *timeout))
		return exitFailure
	}
	var raw msgpack.RawMessage
	callErr := p.Call(ctx, method, list, &raw)
	if callErr != nil {
		// The call failed: a stuck child is not worth waiting for.
		p.Kill()
	}
	_ = p.Close()

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
		fmt.Fprintf(stderr, "polyfork call: %v\n", describeTimeout(callErr, *timeout))
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

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}
