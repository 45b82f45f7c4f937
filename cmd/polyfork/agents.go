package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/polyfork/polyfork/remote"
)

func runAgents(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("polyfork agents", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var nf natsFlags
	nf.add(fs)
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the first answer")
	asJSON := fs.Bool("json", false, "print the agents' stats as JSON")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	var problems []string
	if fs.NArg() != 0 {
		problems = append(problems, fmt.Sprintf("unexpected arguments %q", fs.Args()))
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
		fmt.Fprintf(stderr, "polyfork agents: %s\n\nusage: polyfork agents -nats URL [-service NAME] [-json] [-timeout 5s]\n", strings.Join(problems, "; "))
		return exitUsage
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
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(agents); err != nil {
			fmt.Fprintf(stderr, "polyfork agents: %v\n", err)
			return exitFailure
		}
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
