//go:build !unix

package child

import (
	"io"
	"os"
)

// takeStdio uses stdin and stdout as they are: outside Unix the descriptors cannot be
// moved, so the program must not write to stdout itself.
func takeStdio() (io.ReadCloser, io.WriteCloser, error) { return os.Stdin, os.Stdout, nil }

func prepareFD(int) error { return nil }
