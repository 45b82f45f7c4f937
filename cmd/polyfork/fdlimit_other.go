//go:build !unix

package main

// descriptorRoom reports that the descriptor limit is unknown here.
func descriptorRoom(workers int) (int, bool) { return 0, false }
