package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/polyfork/polyfork/bridge"
	"github.com/polyfork/polyfork/protocol"
	"github.com/polyfork/polyfork/remote"
	"github.com/vmihailenco/msgpack/v5"
)

// runCallRemote is polyfork call -nats: one call to the workers of a service's agents.
func runCallRemote(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("polyfork call", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var nf natsFlags
	nf.add(fs)
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long (the agent applies it too)")
	idem := fs.Bool("idempotent", false, "the call may run twice: send it to another agent if its agent dies")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	var problems []string
	if fs.NArg() != 2 {
		problems = append(problems, "want -nats URL -service NAME METHOD PARAMS_JSON")
	}
	if err := nf.check(true); err != nil {
		problems = append(problems, err.Error())
	}
	if *timeout <= 0 {
		problems = append(problems, fmt.Sprintf("-timeout must be positive, got %v", *timeout))
	}
	if len(problems) > 0 {
		fmt.Fprintf(stderr, "polyfork call: %s\n\n%s", strings.Join(problems, "; "), usage)
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
	nc, err := nf.connect("polyfork call", io.Discard)
	if err != nil {
		fmt.Fprintf(stderr, "polyfork call: %v\n", err)
		return exitFailure
	}
	defer nc.Close()
	pool, err := remote.Dial(ctx, nc, nf.service)
	if err != nil {
		fmt.Fprintf(stderr, "polyfork call: %v\n", err)
		return exitUsage
	}
	defer pool.Close()
	var opts []bridge.CallOption
	if *idem {
		opts = append(opts, bridge.Idempotent())
	}
	var raw msgpack.RawMessage
	err = pool.Call(ctx, method, list, &raw, opts...)
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
		fmt.Fprintf(stderr, "polyfork call: %v\n", describeTimeout(err, *timeout))
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
		fmt.Fprintf(stderr, "polyfork call: the result of %s cannot be printed: %v\n", method, err)
		return exitFailure
	}
	return exitOK
}
