// Command polyfork runs a child that speaks the polyfork protocol from the shell: make one
// call, exchange messages over stdin and stdout, or serve a pool of workers over HTTP.
//
//	polyfork call [-timeout 30s] METHOD PARAMS_JSON -- COMMAND [ARG...]
//	polyfork send [-timeout D] -- COMMAND [ARG...]
//	polyfork serve [-addr 127.0.0.1:3000] [-workers N] [limits...] -- COMMAND [ARG...]
//	polyfork attach DIR [WORKER]
//	polyfork cluster -listen ADDR [-listen ADDR2...] [-workers N] [-admin ADDR] -- COMMAND [ARG...]
//	polyfork agent (-nats URL | -embed-nats [ADDR]) -service NAME [flags] -- COMMAND [ARG...]
//	polyfork agents -nats URL [-service NAME]
//	polyfork call|serve -nats URL -service NAME ...   (the workers of agents, through NATS)
//	polyfork version
//
// Every command that starts children takes the flags of childflags.go: -channel stdio|fd,
// -console, the environment (-clean-env, -allow-env, -env) and resource limits
// (-rlimit-as, -rlimit-cpu, -rlimit-nofile, -rlimit-nproc).
//
// Exit status: 0 on success, 1 when the called method raised, 2 for usage errors and bad
// input, 3 when the child failed (could not start, exited, broke the protocol, or the
// timeout passed).
package main

import (
	"context"
	"fmt"
	pf "github.com/polyfork/polyfork"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is polyfork's version, the one the module and the clients share.
const version = pf.Version

// Exit statuses.
const (
	exitOK      = 0
	exitRaised  = 1
	exitUsage   = 2
	exitFailure = 3
)

// exitStatusText is what call's exit statuses mean; polyfork without a command prints it
// too, since call is the command that uses all four.
const exitStatusText = `Exit status: 0 success, 1 the method raised, 2 usage or bad input, 3 the child failed
(could not start, exited, broke the protocol, or the timeout passed).
`

// The exit statuses of the other commands, for their -h.
const (
	callRemoteExits = `Exit status: 0 success, 1 the method raised, 2 usage or bad input, 3 the call failed
(NATS unreachable, no agent serves NAME, the agent or its worker was lost, or the
timeout passed).
`
	sendExits = `Exit status: 0 every line was sent and the child exited cleanly at the end of stdin,
2 usage or bad input (a line that is not one JSON value, or too large), 3 the child
failed (could not start, exited early or with a non-zero status, broke the protocol, or
the timeout passed).
`
	serveExits = `Exit status: 0 after a drain (SIGTERM or SIGINT), 2 usage errors (a bad flag value or
-addr), 3 the address cannot be listened on, no worker could start, NATS is unreachable
(-nats) or its connection closed for good (credentials refused on reconnecting), or the
drain ran out of time.
`
	attachExits = `Exit status: 0 detached (Ctrl-] or the end of stdin), 2 usage errors (no socket for
DIR and WORKER), 3 the socket cannot be reached or the terminal cannot be set up.
`
	clusterExits = `Exit status: 0 after a drain, 2 usage errors (a bad or repeated -listen address
included), 3 a socket cannot be bound or adopted, no worker could start, or the drain ran
out of time (the workers were killed).
`
	agentExits = `Exit status: 0 after a drain (SIGTERM or SIGINT), 2 usage errors, 3 NATS is unreachable
(or -embed-nats cannot listen), no worker could start, the NATS connection closed for good
(the server refused the credentials when reconnecting), or the drain ran out of time.
`
	agentsExits = `Exit status: 0 the agents were listed, 2 usage errors, 3 NATS is unreachable or no
agent answered within -timeout.
`
)

// commandText explains COMMAND, for the commands that start a child.
const commandText = `COMMAND is the child to run, with its interpreter, exactly as you would start it
yourself: python3 worker.py, php worker.php, node worker.js, or any program that speaks
the protocol. It is run directly, not through a shell. To pick an interpreter, name it:
-- /usr/bin/python3.12 worker.py, -- .venv/bin/python worker.py, -- ~/php83/bin/php w.php.
`

const usage = `polyfork ` + version + `: run a child process that speaks the polyfork protocol.

usage:
  polyfork call [flags] METHOD PARAMS_JSON -- COMMAND [ARG...]
      Start COMMAND, call METHOD with PARAMS_JSON (a JSON array) as its params, and print
      the result as one line of JSON.
  polyfork send [flags] -- COMMAND [ARG...]
      Start COMMAND, send each JSON value read from stdin (one per line) as a message, and
      print each message the child sends as one line of JSON.
  polyfork serve [flags] -- COMMAND [ARG...]
      Run a supervised pool of COMMAND workers behind HTTP: POST /call/METHOD with a JSON
      array body; GET /healthz, /workers, /metrics.
  polyfork attach DIR [WORKER]
      Connect this terminal to the console of a worker of "polyfork serve -console DIR"
      (WORKER: its index or name). Ctrl-] detaches.
  polyfork cluster -listen ADDR [-listen ADDR2...] [flags] -- COMMAND [ARG...]
      Bind ADDR once and run N workers of COMMAND that all serve it (descriptor 3,
      LISTEN_FDS), restarted when they exit; SIGHUP reloads them one by one, SIGTERM
      drains.
  polyfork agent (-nats URL | -embed-nats [ADDR]) -service NAME [flags] -- COMMAND [ARG...]
      Run a pool of COMMAND workers and serve it on NATS as the service NAME; agents of one
      NAME on several machines share its calls.
  polyfork agents -nats URL [-service NAME]
      List the agents of NAME (or of every service): workers, calls in flight, errors.
  polyfork call -nats URL -service NAME [flags] METHOD PARAMS_JSON
  polyfork serve -nats URL -service NAME [flags]
      call and serve with the workers of the agents of NAME, through NATS.
  polyfork version
      Print the version.

Every command that starts children takes -channel fd (the frames on descriptors of their
own; the child's stdout is then a log), -console (a terminal for the child: with call,
yours), -clean-env, -allow-env, -env, and -rlimit-as, -rlimit-cpu, -rlimit-nofile,
-rlimit-nproc.

"polyfork COMMAND -h" (or "polyfork help COMMAND") describes a command and its flags.
Flags go anywhere before "--"; everything after "--" is the child's command line.

` + commandText + `
` + exitStatusText

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	if len(os.Args) > 1 && servingCommands[os.Args[1]] {
		// A write to a stdout or stderr whose reader is gone (a log pipe that ended) kills a
		// Go program with SIGPIPE, unless the program catches it: then it fails with EPIPE.
		// A server must not die with its log reader; its stderr drops what it cannot write
		// (logSink). A handled signal is back to its default in the children.
		signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	}
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// servingCommands are the commands that run until they are stopped.
var servingCommands = map[string]bool{"serve": true, "cluster": true, "agent": true}

// run is the whole command, with its streams as parameters so tests can drive it.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "call":
		return runCall(ctx, args[1:], stdin, stdout, stderr)
	case "send":
		return runSend(ctx, args[1:], stdin, stdout, stderr)
	case "serve":
		return runServe(ctx, args[1:], stdout, stderr)
	case "attach":
		return runAttach(ctx, args[1:], stdin, stdout, stderr)
	case "cluster":
		return runCluster(ctx, args[1:], stdout, stderr)
	case "agent":
		return runAgent(ctx, args[1:], stdout, stderr)
	case "agents":
		return runAgents(ctx, args[1:], stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintf(stdout, "polyfork %s\n", version)
		return exitOK
	case "help", "-h", "-help", "--help":
		if len(args) > 1 && args[0] == "help" {
			switch args[1] {
			case "call", "send", "serve", "attach", "cluster", "agent", "agents":
				return run(ctx, []string{args[1], "-h"}, stdin, stdout, stderr)
			case "version":
				fmt.Fprint(stdout, "usage: polyfork version\n\nPrint polyfork's version, such as \"polyfork "+version+"\".\n")
				return exitOK
			case "help":
			default:
				fmt.Fprintf(stderr, "polyfork help: no command %q\n\n%s", args[1], usage)
				return exitUsage
			}
		}
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "polyfork: unknown command %q\n\n%s", args[0], usage)
	return exitUsage
}
