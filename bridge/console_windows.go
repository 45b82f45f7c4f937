//go:build windows

package bridge

import (
	"errors"
	"os"
	"syscall"
)

const consoleSupported = false

var errNoConsole = errors.New("pseudo-terminals need a Unix system")

func openConsole(*ConsoleOptions) (master, tty *os.File, err error) { return nil, nil, errNoConsole }

func consoleProcAttr(*syscall.SysProcAttr) {}

func setWinsize(*os.File, int, int) error { return errNoConsole }

func dupNonblock(*os.File) (*os.File, error) { return nil, errNoConsole }

func writeNow(*os.File, []byte) int { return 0 }
