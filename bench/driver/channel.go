package driver

import (
	"context"
	"fmt"
	"os"

	"github.com/polyfork/polyfork/bridge"
)

// startOnChannel starts one polyfork child as startProcess does, with its frames on the
// channel a system's "channel" parameter names ("fd": descriptors of their own, as
// polyfork -channel fd), so that the two channels are measured side by side.
func startOnChannel(argv, env []string, channel string) (*process, error) {
	ch, ok := bridge.ParseChannel(channel)
	if !ok {
		return nil, fmt.Errorf("channel=%q: want stdio or fd", channel)
	}
	p, err := bridge.Start(context.Background(), argv, bridge.WithEnv(env...), bridge.WithStderr(os.Stderr),
		bridge.WithChannel(ch))
	if err != nil {
		return nil, err
	}
	return &process{p: p}, nil
}
