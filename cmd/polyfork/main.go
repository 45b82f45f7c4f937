// Command polyfork runs a child that speaks the polyfork protocol from the shell: make one
// call, or exchange messages over stdin and stdout.
//
//	polyfork call [-timeout 30s] METHOD PARAMS_JSON -- COMMAND [ARG...]
//	polyfork send [-timeout D] -- COMMAND [ARG...]
//	polyfork serve [-addr 127.0.0.1:3000] [-workers N] [limits...] -- COMMAND [ARG...]
//	polyfork cluster -listen ADDR [-listen ADDR2...] [-workers N] [-admin ADDR] -- COMMAND [ARG...]
//
// Exit status: 0 on success, 1 when the called method raised, 2 for usage errors and bad
// input, 3 when the child failed (could not start, exited, broke the protocol, or the
// timeout passed).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit statuses.
const (
	exitOK      = 0
	exitRaised  = 1
	exitUsage   = 2
	exitFailure = 3
)

const usage = `usage:
  polyfork call [-timeout 30s] METHOD PARAMS_JSON -- COMMAND [ARG...]
      Start COMMAND, call METHOD with PARAMS_JSON (a JSON array) as its params, and print
      the result as one line of JSON.
  polyfork send [-timeout D] -- COMMAND [ARG...]
      Start COMMAND, send each JSON value read from stdin (one per line) as a message, and
      print each message the child sends as one line of JSON.
  polyfork serve [-addr 127.0.0.1:3000] [-workers N] [limits...] -- COMMAND [ARG...]
      Run a supervised pool of COMMAND workers behind HTTP: POST /call/METHOD with a JSON
      array body; GET /healthz, /workers, /metrics. "polyfork serve -h" lists the limits.
  polyfork cluster -listen ADDR [-listen ADDR2...] [-workers N] [-admin ADDR] -- COMMAND [ARG...]
      Bind ADDR once and run N workers of COMMAND that all serve it (descriptor 3,
      LISTEN_FDS), restarted when they exit; SIGHUP reloads them one by one, SIGTERM
      drains. "polyfork cluster -h" tells more.

Exit status: 0 success, 1 the method raised, 2 usage or bad input, 3 the child failed
(could not start, exited, broke the protocol, or the timeout passed).
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole command, with its streams as parameters so tests can drive it.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "call":
		return runCall(ctx, args[1:], stdout, stderr)
	case "send":
		return runSend(ctx, args[1:], stdin, stdout, stderr)
	case "serve":
		return runServe(ctx, args[1:], stderr)
	case "cluster":
		return runCluster(ctx, args[1:], stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "polyfork: unknown command %q\n\n%s", args[0], usage)
	return exitUsage
}

// splitCommand splits "ARGS... -- COMMAND [ARG...]" at the first "--".
func splitCommand(args []string) (before, command []string, ok bool) {
	for i, a := range args {
		if a == "--" {
			return args[:i], args[i+1:], len(args) > i+1
		}
	}
	return args, nil, false
}
