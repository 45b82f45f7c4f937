package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// command is one subcommand's flags and help text.
type command struct {
	name     string // "call"
	synopsis string // the usage line, without "usage: "
	about    string // what it does, the arguments, and notes; ends with a newline
	flags    *flag.FlagSet
	// exits is the command's "Exit status: ..." paragraph, ending with a newline; help
	// prints it after the flags. Commands that start a child (a synopsis with "-- COMMAND")
	// also get commandText before it.
	exits string
}

// newCommand returns the command name, whose help ends with exits (its exit statuses).
func newCommand(name, synopsis, about, exits string) *command {
	fs := flag.NewFlagSet("polyfork "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are printed by parse, help by printHelp
	fs.Usage = func() {}
	return &command{name: name, synopsis: synopsis, about: about, flags: fs, exits: exits}
}

// parse reads args: flags and positional arguments in any order up to "--", then the
// child's command line. It returns ok false after printing help (then *code is 0) or a
// usage error (then *code is 2).
func (c *command) parse(args []string, stdout, stderr io.Writer, code *int) (positional, childArgv []string, ok bool) {
	before, childArgv, _ := splitCommand(args)
	for {
		if err := c.flags.Parse(before); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				c.printHelp(stdout)
				*code = exitOK
				return nil, nil, false
			}
			*code = c.usageError(stderr, "%v", err)
			return nil, nil, false
		}
		rest := c.flags.Args()
		if len(rest) == 0 {
			break
		}
		positional = append(positional, rest[0])
		before = rest[1:]
	}
	return positional, childArgv, true
}

// usageError prints a usage error and returns the exit status for it.
func (c *command) usageError(stderr io.Writer, format string, args ...any) int {
	fmt.Fprintf(stderr, "polyfork %s: %s\nusage: %s\nRun \"polyfork %s -h\" for more.\n",
		c.name, fmt.Sprintf(format, args...), c.synopsis, c.name)
	return exitUsage
}

// printHelp prints the command's full usage.
func (c *command) printHelp(w io.Writer) {
	var flags strings.Builder
	c.flags.SetOutput(&flags)
	c.flags.PrintDefaults()
	c.flags.SetOutput(io.Discard)
	fmt.Fprintf(w, "usage: %s\n\n%s\n", c.synopsis, c.about)
	if flags.Len() > 0 {
		fmt.Fprintf(w, "flags (anywhere before \"--\"):\n%s\n", flags.String())
	}
	if strings.Contains(c.synopsis, "-- COMMAND") {
		fmt.Fprintf(w, "%s\n", commandText)
	}
	fmt.Fprint(w, c.exits)
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
