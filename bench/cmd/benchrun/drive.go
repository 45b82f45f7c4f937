package main

import (
	"os"

	"github.com/polyfork/polyfork/bench/driver"
)

// drive is `benchrun drive KEY=VALUE...`: one trial of a system measured from Go.
func drive(args []string) error { return driver.Run(args, os.Stdout) }
