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
	"github.com/polyfork/polyfork/remote"
	"github.com/vmihailenco/msgpack/v5"
)

const callRemoteAbout = `Call METHOD with PARAMS_JSON on a worker of the agents of the service NAME, through
NATS, and print the result as one line of JSON (as "polyfork call" does with a child of its
own). The timeout travels with the call: the agent ends it too.

example:
  polyfork call -nats nats://127.0.0.1:4222 -service sum add '[40, 2]'      # prints 42
`

// runCallRemote is polyfork call -nats: one call to the workers of a service's agents.
func runCallRemote(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := newCommand("call", "polyfork call -nats URL -service NAME [-timeout 30s] [-idempotent] METHOD PARAMS_JSON", callRemoteAbout, callRemoteExits)
	var nf natsFlags
	nf.add(cmd.flags)
	timeout := cmd.flags.Duration("timeout", 30*time.Second, "give up after this long (the agent applies it too)")
	idem := cmd.flags.Bool("idempotent", false, "the call may run twice: send it to another agent if its agent dies")
	var code int
	positional, argv, ok := cmd.parse(args, stdout, stderr, &code)
	if !ok {
		return code
	}
	var problems []string
	switch {
	case len(argv) != 0:
		problems = append(problems, "with -nats, call takes no command: the agents of -service run the workers")
	case len(positional) != 2:
		problems = append(problems, fmt.Sprintf("want METHOD and PARAMS_JSON, got %d arguments", len(positional)))
	}
	if err := nf.check(true); err != nil {
		problems = append(problems, err.Error())
	}
	if *timeout <= 0 {
		problems = append(problems, fmt.Sprintf("-timeout must be positive with -nats (the agent needs a deadline to give its worker), got %v", *timeout))
	}
	if len(problems) > 0 {
		return cmd.usageError(stderr, "%s", strings.Join(problems, "\n  "))
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
	nc, err := nf.connect("polyfork call", io.Discard)
	if err != nil {
		fmt.Fprintf(stderr, "polyfork call: %v\n", err)
		return exitFailure
	}
	defer nc.Close()
	pool, err := remote.Dial(ctx, nc, nf.service)
	if err != nil {
		return cmd.usageError(stderr, "%v", err)
	}
	defer pool.Close()
	var opts []bridge.CallOption
	if *idem {
		opts = append(opts, bridge.Idempotent())
	}
	var raw msgpack.RawMessage
	err = pool.Call(ctx, method, params, &raw, opts...)
	var re *bridge.RemoteError
	switch {
	case err == nil:
	case errors.As(err, &re):
		fmt.Fprintf(stderr, "polyfork call: %v\n", err)
		if re.Traceback != "" {
			fmt.Fprintf(stderr, "%s\n", re.Traceback)
		}
		return exitRaised
	default:
		fmt.Fprintf(stderr, "polyfork call: %s\n", describe(err, *timeout))
		return exitFailure
	}
	v, err := protocol.DecodeValue(raw)
	if err == nil {
		var line []byte
		if line, err = toJSON(v); err == nil {
			_, err = stdout.Write(append(line, '\n'))
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "polyfork call: the result of %s cannot be printed: %v\n", protocol.QuoteName(method), err)
		return exitFailure
	}
	return exitOK
}
