package bridge

import (
	"context"
	"io"
	"strconv"
	"strings"
	"testing"
)

// pipeConns connects a host Conn and an echoing child Conn over in-memory pipes.
func pipeConns(tb testing.TB) (host *Conn, stop func()) {
	hr, cw := io.Pipe() // child -> host
	cr, hw := io.Pipe() // host -> child
	echo := func(ctx context.Context, a Args) (any, error) {
		var s string
		err := a.Decode(&s)
		return s, err
	}
	child, err := NewConn(cr, cw, WithHandler("echo", echo))
	if err != nil {
		tb.Fatal(err)
	}
	host, err = NewConn(hr, hw)
	if err != nil {
		tb.Fatal(err)
	}
	return host, func() {
		host.Close()
		child.Close()
	}
}

// BenchmarkCallInMemory measures one Call over io.Pipe, to a Go peer that echoes: the
// host's own cost per call, with no process or kernel pipe involved.
func BenchmarkCallInMemory(b *testing.B) {
	for _, n := range []int{16, 1 << 10, 64 << 10} {
		b.Run(sizeLabel(n), func(b *testing.B) {
			host, stop := pipeConns(b)
			defer stop()
			params := []any{strings.Repeat("x", n)}
			ctx := context.Background()
			b.ReportAllocs()
			b.SetBytes(int64(n))
			for b.Loop() {
				var out string
				if err := host.Call(ctx, "echo", params, &out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCallInMemoryParallel measures calls from many goroutines at once.
func BenchmarkCallInMemoryParallel(b *testing.B) {
	host, stop := pipeConns(b)
	defer stop()
	params := []any{"sixteen bytes!!!"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			var out string
			if err := host.Call(ctx, "echo", params, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func sizeLabel(n int) string {
	if n >= 1<<10 {
		return strconv.Itoa(n>>10) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}

// BenchmarkCallTable measures the bookkeeping of one call: add, then take.
func BenchmarkCallTable(b *testing.B) {
	t := newCallTable()
	c := newCall("m")
	b.ReportAllocs()
	for b.Loop() {
		id, _ := t.add(c)
		if got, _ := t.take(id); got != c {
			b.Fatal("wrong call")
		}
	}
}

// BenchmarkPoolCall measures one Pool.Call to a real child (this test binary serving echo):
// the pool's dispatch and bookkeeping on top of a Process's round trip over pipes.
func BenchmarkPoolCall(b *testing.B) {
	for _, par := range []bool{false, true} {
		name := "sequential"
		if par {
			name = "parallel"
		}
		b.Run(name, func(b *testing.B) {
			p, err := NewPool(context.Background(), child("serve"), WithWorkers(1), WithStderr(nil))
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			params := []any{"sixteen bytes!!!"}
			b.ReportAllocs()
			if !par {
				ctx := context.Background()
				for b.Loop() {
					var out string
					if err := p.Call(ctx, "echo", params, &out); err != nil {
						b.Fatal(err)
					}
				}
				return
			}
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					var out string
					if err := p.Call(ctx, "echo", params, &out); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
