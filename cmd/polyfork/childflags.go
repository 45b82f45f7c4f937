package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/polyfork/polyfork/bridge"
)

// childFlags are the flags of every command that starts children: where the channel
// travels, the console's window and text, the environment, and resource limits. A
// command registers them with register and turns them into bridge options with options;
// the -console flag itself is the command's own (a switch for call and send, a directory
// for serve).
type childFlags struct {
	channel         string
	consoleSize     string
	consoleControls bool
	cleanEnv        bool
	allowEnv        listFlag
	env             listFlag
	rlimitAS        byteSize
	rlimitCPU       time.Duration
	rlimitNofile    int
	rlimitNproc     int
}

// listFlag collects a flag given several times, each value possibly comma-separated.
type listFlag struct {
	values []string
	commas bool // split each value at commas
}

func (l *listFlag) String() string { return strings.Join(l.values, ",") }

func (l *listFlag) Set(s string) error {
	if !l.commas {
		l.values = append(l.values, s)
		return nil
	}
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			l.values = append(l.values, v)
		}
	}
	return nil
}

func (f *childFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.channel, "channel", "stdio", "where frames travel: stdio (the child's stdin and stdout) or fd (descriptors of their own; the child's stdout is then a log, like stderr)")
	fs.StringVar(&f.consoleSize, "console-size", "", "the console's window as COLSxROWS, e.g. 120x40 (default: the terminal's, else 80x24)")
	fs.BoolVar(&f.consoleControls, "console-controls", false, "relay the console's lines with their escape sequences (colours...) instead of removing them")
	f.registerIsolation(fs)
}

// registerIsolation registers only the environment and resource-limit flags, for a
// command with a -channel of its own (cluster).
func (f *childFlags) registerIsolation(fs *flag.FlagSet) {
	f.allowEnv.commas = true
	fs.BoolVar(&f.cleanEnv, "clean-env", false, "start the child from an empty environment (plus -allow-env, -env and the POLYFORK_* variables)")
	fs.Var(&f.allowEnv, "allow-env", "host variables passed on to a child with a clean environment, comma-separated, e.g. PATH,HOME (implies -clean-env)")
	fs.Var(&f.env, "env", "set KEY=VALUE in the child's environment (repeatable)")
	fs.Var(&f.rlimitAS, "rlimit-as", "limit the child's address space (virtual memory), e.g. 2GiB (0: no limit)")
	fs.DurationVar(&f.rlimitCPU, "rlimit-cpu", 0, "limit the CPU time the child uses, e.g. 30s; past it SIGXCPU, then SIGKILL (0: no limit)")
	fs.IntVar(&f.rlimitNofile, "rlimit-nofile", 0, "limit the descriptors the child can open (0: no limit)")
	fs.IntVar(&f.rlimitNproc, "rlimit-nproc", 0, "limit the processes of the child's user (0: no limit; root is exempt)")
}

// childFlagNames lists the flags register defines, for commands that refuse them in some
// mode (serve -nats runs no child).
func childFlagNames(fs *flag.FlagSet) []string {
	var probe childFlags
	own := flag.NewFlagSet("", flag.ContinueOnError)
	probe.register(own)
	var names []string
	own.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	return names
}

// options checks the flags fs parsed and returns the bridge options they ask for.
// console says whether the command gives the child a console; the caller adds
// bridge.WithConsole with consoleOptions (and its OnStart).
func (f *childFlags) options(fs *flag.FlagSet, console bool) ([]bridge.Option, error) {
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	ch, ok := bridge.ParseChannel(f.channel)
	if !ok {
		return nil, fmt.Errorf("-channel %q: want stdio or fd", f.channel)
	}
	if console && set["channel"] && ch == bridge.ChannelStdio {
		return nil, fmt.Errorf("-console puts the channel on descriptors of its own: it cannot go with -channel stdio")
	}
	if !console {
		for _, name := range []string{"console-size", "console-controls"} {
			if set[name] {
				return nil, fmt.Errorf("-%s needs -console", name)
			}
		}
	}
	if _, _, err := f.windowSize(); err != nil {
		return nil, err
	}
	iso, err := f.isolationOptions()
	if err != nil {
		return nil, err
	}
	return append([]bridge.Option{bridge.WithChannel(ch)}, iso...), nil
}

// isolationOptions checks the environment and resource-limit flags and returns the
// bridge options they ask for.
func (f *childFlags) isolationOptions() ([]bridge.Option, error) {
	for _, kv := range f.env.values {
		if i := strings.IndexByte(kv, '='); i <= 0 {
			return nil, fmt.Errorf("-env %q: want KEY=VALUE", kv)
		}
	}
	if f.rlimitCPU < 0 || f.rlimitNofile < 0 || f.rlimitNproc < 0 {
		return nil, fmt.Errorf("-rlimit-cpu, -rlimit-nofile and -rlimit-nproc must not be negative")
	}

	var opts []bridge.Option
	if f.cleanEnv || len(f.allowEnv.values) > 0 {
		opts = append(opts, bridge.WithCleanEnv(f.allowEnv.values...))
	}
	if len(f.env.values) > 0 {
		opts = append(opts, bridge.WithEnv(f.env.values...))
	}
	l := bridge.Rlimits{AddressSpace: int64(f.rlimitAS), CPUTime: f.rlimitCPU, OpenFiles: f.rlimitNofile, Processes: f.rlimitNproc}
	if l != (bridge.Rlimits{}) {
		opts = append(opts, bridge.WithRlimits(l))
	}
	return opts, nil
}

// consoleOptions returns the console's options from the flags; a window size of 0 (no
// -console-size) is the caller's to fill in or leave to the default.
func (f *childFlags) consoleOptions() bridge.ConsoleOptions {
	cols, rows, _ := f.windowSize()
	return bridge.ConsoleOptions{Cols: cols, Rows: rows, KeepControls: f.consoleControls}
}

// windowSize parses -console-size; 0, 0 when it is not given.
func (f *childFlags) windowSize() (cols, rows int, err error) {
	if f.consoleSize == "" {
		return 0, 0, nil
	}
	c, r, ok := strings.Cut(strings.ToLower(f.consoleSize), "x")
	cols, err1 := strconv.Atoi(c)
	rows, err2 := strconv.Atoi(r)
	if !ok || err1 != nil || err2 != nil || cols < 1 || rows < 1 || cols > 0xffff || rows > 0xffff {
		return 0, 0, fmt.Errorf("-console-size %q: want COLSxROWS, such as 120x40", f.consoleSize)
	}
	return cols, rows, nil
}
