package bridge

import (
	"context"
	"strings"
	"testing"
)

// BenchmarkCallOverChannel measures one Call to a Go child (this test binary) that echoes,
// with the frames on its stdin and stdout or on descriptors of their own: the cost of the
// transport alone, with a child too fast to hide it. Compare the pairs; pin with
// taskset -c 1 (the child inherits it) for stable numbers.
func BenchmarkCallOverChannel(b *testing.B) {
	for _, ch := range []struct {
		name string
		mode string
		opt  Option
	}{
		{"stdio", "serve", WithChannel(ChannelStdio)},
		{"fd", "serve_fds", WithChannel(ChannelFDs)},
	} {
		for _, n := range []int{16, 1 << 20} {
			b.Run(ch.name+"/"+sizeLabel(n), func(b *testing.B) {
				p, err := Start(context.Background(), child(ch.mode), ch.opt, WithStderr(nil))
				if err != nil {
					b.Fatal(err)
				}
				defer p.Close()
				params := []any{strings.Repeat("x", n)}
				ctx := context.Background()
				b.SetBytes(int64(n))
				for b.Loop() {
					var out string
					if err := p.Call(ctx, "echo", params, &out); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
