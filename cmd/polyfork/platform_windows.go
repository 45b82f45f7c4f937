//go:build windows

package main

import "os"

// resizeSignal is nil: Windows has no SIGWINCH.
var resizeSignal os.Signal

const noCtty = 0

func ownerOf(os.FileInfo) (int, bool) { return 0, false }

// lockDir does nothing on Windows, which has no worker consoles.
func lockDir(string) (*os.File, error) { return nil, nil }
