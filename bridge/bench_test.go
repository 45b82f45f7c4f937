package bridge

import (
	"context"
	"io"
	"strings"
	"testing"
)

// pipePeers connects a host peer and a child peer over in-memory pipes; the child echoes.
func pipePeers(b *testing.B) (*peer, func()) {
	hr, cw := io.Pipe() // child -> host
	cr, hw := io.Pipe() // host -> child
	cfg := defaultConfig()
	cfg.handlers["echo"] = func(ctx context.Context, a Args) (any, error) {
		var s string
		err := a.Decode(&s)
		return s, err
	}
	child := newPeer(cr, cw, cfg)
	host := newPeer(hr, hw, defaultConfig())
	child.start()
	host.start()
	return host, func() {
		hw.Close()
		cw.Close()
		host.fail(ErrClosed)
		child.fail(ErrClosed)
	}
}

// BenchmarkCallInMemory measures one Call over io.Pipe, to a Go peer that echoes: the
// host's own cost per call, with no process or kernel pipe involved.
func BenchmarkCallInMemory(b *testing.B) {
	for _, n := range []int{16, 1 << 10, 64 << 10} {
		b.Run(strings.TrimSpace(sizeLabel(n)), func(b *testing.B) {
			host, stop := pipePeers(b)
			defer stop()
			arg := strings.Repeat("x", n)
			params := []any{arg}
			ctx := context.Background()
			b.ReportAllocs()
			b.SetBytes(int64(n))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				var out string
				if err := host.call(ctx, "echo", params, &out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCallInMemoryParallel measures calls from many goroutines at once.
func BenchmarkCallInMemoryParallel(b *testing.B) {
	host, stop := pipePeers(b)
	defer stop()
	params := []any{"sixteen bytes!!!"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			var out string
			if err := host.call(ctx, "echo", params, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func sizeLabel(n int) string {
	switch {
	case n >= 1<<10:
		return strings.TrimSuffix(strings.TrimSuffix(itoa(n>>10), " "), " ") + "KiB"
	}
	return itoa(n) + "B"
}

func itoa(n int) string {
	s := ""
	for {
		s = string(rune('0'+n%10)) + s
		n /= 10
		if n == 0 {
			return s
		}
	}
}
