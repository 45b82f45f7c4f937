package bridge

import (
	"errors"
	"os"
)

// maxUnixPath is the longest path a Unix socket address holds (sun_path less its NUL).
const maxUnixPath = 107

// listenSet: Windows has no descriptors to pass by number, so WithListeners fails there.
type listenSet struct{}

func openListenSet(lc listenConfig, slots int) (*listenSet, error) {
	return nil, &ListenError{Addr: lc.specs[0].text, Err: errors.New("passing listening sockets to workers is not supported on Windows")}
}

func (*listenSet) names() []string                        { return nil }
func (*listenSet) filesFor(int) []*os.File                { return nil }
func (*listenSet) info() []ListenSocket                   { return nil }
func (*listenSet) revive() ([]ListenSocket, []downSocket) { return nil, nil }
func (*listenSet) close()                                 {}
