package protocol

import (
	"bytes"
	"io"
	"testing"
)

// payload returns a params array holding one str of n bytes.
func payload(n int) []any { return []any{string(bytes.Repeat([]byte{'x'}, n))} }

func BenchmarkEncodeRequest(b *testing.B) {
	for _, n := range []int{16, 1 << 10, 64 << 10, 1 << 20} {
		b.Run(sizeName(n), func(b *testing.B) {
			enc := NewEncoder()
			params := payload(n)
			b.ReportAllocs()
			b.SetBytes(int64(n))
			for i := 0; i < b.N; i++ {
				if _, err := enc.Request(uint32(i), "echo", params); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecodeMessage(b *testing.B) {
	for _, n := range []int{16, 1 << 10, 64 << 10, 1 << 20} {
		b.Run(sizeName(n), func(b *testing.B) {
			frame, _ := NewEncoder().Result(7, string(bytes.Repeat([]byte{'x'}, n)))
			body := append([]byte(nil), frame[4:]...)
			b.ReportAllocs()
			b.SetBytes(int64(n))
			for i := 0; i < b.N; i++ {
				if _, err := DecodeMessage(body, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkReadFrame(b *testing.B) {
	frame, _ := NewEncoder().Result(7, "sixteen bytes!!!")
	stream := bytes.Repeat(frame, 1024)
	r := bytes.NewReader(stream)
	fr := NewFrameReader(r)
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for i := 0; i < b.N; i++ {
		if _, err := fr.ReadFrame(); err == io.EOF {
			r.Reset(stream)
			i--
		} else if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeValue(b *testing.B) {
	v, _ := Marshal(map[string]any{"id": 12345, "name": "polyfork", "tags": []any{"a", "b"}, "score": 0.5})
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := DecodeValue(v); err != nil {
			b.Fatal(err)
		}
	}
}

func sizeName(n int) string {
	switch {
	case n >= 1<<20:
		return itoa(n>>20) + "MiB"
	case n >= 1<<10:
		return itoa(n>>10) + "KiB"
	}
	return itoa(n) + "B"
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// BenchmarkUnmarshal decodes typical results into typed targets: the checks typed decoding
// makes before the library decodes (integers that fit, PHP's empty maps and lists) walk
// the value beside its type.
func BenchmarkUnmarshal(b *testing.B) {
	type item struct {
		ID    int64             `json:"id"`
		Name  string            `json:"name"`
		Tags  []string          `json:"tags"`
		Score float64           `json:"score"`
		Slots map[int]string    `json:"slots"`
		Attrs map[string]string `json:"attrs"`
	}
	one := map[string]any{"id": 12345, "name": "polyfork", "tags": []any{"a", "b"}, "score": 0.5,
		"slots": map[int]string{1: "x", 2: "y"}, "attrs": map[string]string{"k": "v"}}
	ints := make([]int64, 1000)
	for i := range ints {
		ints[i] = int64(i * 7)
	}
	items := make([]any, 100)
	for i := range items {
		items[i] = one
	}
	for _, c := range []struct {
		name   string
		value  any
		target func() any
	}{
		{"struct", one, func() any { return new(item) }},
		{"[]struct(100)", items, func() any { return new([]item) }},
		{"[]int64(1000)", ints, func() any { return new([]int64) }},
		{"map[string]any", one, func() any { return new(map[string]any) }},
	} {
		v, err := Marshal(c.value)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if err := Unmarshal(v, c.target()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
