package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/polyfork/polyfork/remote"
)

const agentsAbout = `List the polyfork agents of the service NAME, or of every service: where they run, their
workers (pid, state, calls in flight, jobs, restarts, memory, last exit), the calls they
have in flight, served and failed, the calls they handed on, and their last error. It asks
NATS micro's $SRV.STATS, so "nats micro stats NAME" shows the same numbers.
`

func runAgents(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := newCommand("agents", "polyfork agents -nats URL [-service NAME] [-json] [-timeout 5s]", agentsAbout, agentsExits)
	var nf natsFlags
	nf.add(cmd.flags)
	timeout := cmd.flags.Duration("timeout", 5*time.Second, "how long to wait for the first answer")
	asJSON := cmd.flags.Bool("json", false, "print the agents' stats as JSON")
	var code int
	positional, argv, ok := cmd.parse(args, stdout, stderr, &code)
	if !ok {
		return code
	}
	var problems []string
	if len(positional) != 0 || len(argv) != 0 {
		problems = append(problems, "agents takes no arguments, only flags")
	}
	if nf.url == "" {
		problems = append(problems, "-nats URL is required")
	}
	if err := nf.check(false); err != nil {
		problems = append(problems, err.Error())
	}
	if *timeout <= 0 {
		problems = append(problems, "-timeout must be positive")
	}
	if len(problems) > 0 {
		return cmd.usageError(stderr, "%s", strings.Join(problems, "\n  "))
	}
	nc, err := nf.connect("polyfork agents", io.Discard)
	if err != nil {
		fmt.Fprintf(stderr, "polyfork agents: %v\n", err)
		return exitFailure
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	agents, err := remote.Agents(ctx, nc, nf.service)
	if err != nil {
		which := "no polyfork agent answered"
		if nf.service != "" {
			which = fmt.Sprintf("no agent of %q answered", nf.service)
		}
		fmt.Fprintf(stderr, "polyfork agents: %s within %v: %v\n", which, *timeout, err)
		return exitFailure
	}
	if *asJSON {
		writeJSONTo(stdout, agents)
		return exitOK
	}
	writeAgents(stdout, agents)
	return exitOK
}

// writeAgents prints one line per agent, then one per worker.
func writeAgents(w io.Writer, agents []remote.AgentInfo) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tAGENT\tHOST\tWORKERS\tIN FLIGHT\tSERVED\tFAILED\tHANDED ON\tLAST ERROR")
	for _, a := range agents {
		st := a.Stats
		fmt.Fprintf(tw, "%s\t%s\t%s[%s]\t%d/%d ready\t%d/%d\t%d\t%d\t%d\t%s\n", a.Service, a.ID, a.Metadata["host"],
			a.Metadata["pid"], st.Pool.Ready, len(st.Pool.Workers), st.InFlight, st.MaxInFlight, st.Served, st.Failed,
			st.Saturated, clipLine(st.LastError, 80))
	}
	tw.Flush()
	for _, a := range agents {
		fmt.Fprintf(w, "\n%s %s: %s\n", a.Service, a.ID, a.Metadata["command"])
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  WORKER\tPID\tSTATE\tIN FLIGHT\tJOBS\tRESTARTS\tRSS\tLAST EXIT")
		for _, ws := range a.Stats.Pool.Workers {
			fmt.Fprintf(tw, "  %d\t%d\t%s\t%d\t%d\t%d\t%s\t%s\n", ws.Index, ws.Pid, ws.State, ws.InFlight, ws.JobsDone,
				ws.Restarts, mib(ws.RSS), clipLine(ws.LastExit, 60))
		}
		tw.Flush()
		if d := a.Stats.Durable; d != nil {
			fmt.Fprintf(w, "  durable: %d done, %d redelivered, %d terminated\n", d.Done, d.Redelivered, d.Terminated)
		}
	}
}

// writeJSONTo writes v as indented JSON, without escaping <, > and &.
func writeJSONTo(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func mib(n int64) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fMiB", float64(n)/(1<<20))
}

// clipLine keeps the first line of s, at most n bytes of it.
func clipLine(s string, n int) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > n {
		s = s[:n] + "..."
	}
	if s == "" {
		return "-"
	}
	return s
}
