package main

import (
	"context"
	"errors"
	"fmt"
	"io"
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

example:
  polyfork call add '[40, 2]' -- python3 worker.py      # prints 42
`

func runCall(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if usesNATS(args) {
		return runCallRemote(ctx, args, stdout, stderr)
	}
	cmd := newCommand("call", "polyfork call [-timeout 30s] METHOD PARAMS_JSON -- COMMAND [ARG...]", callAbout)
	timeout := cmd.flags.Duration("timeout", 30*time.Second, "give up after this long, start-up included")
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
	case *timeout <= 0:
		return cmd.usageError(stderr, "-timeout must be positive, got %v", *timeout)
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

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	p, err := bridge.Start(ctx, argv, bridge.WithStderr(stderr))
	if err != nil {
		fmt.Fprintf(stderr, "polyfork call: %s\n", describe(err, *timeout))
		return exitFailure
	}
	var raw msgpack.RawMessage
	callErr := p.Call(ctx, method, params, &raw)
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
		fmt.Fprintf(stderr, "polyfork call: %s\n", describe(callErr, *timeout))
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

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}
