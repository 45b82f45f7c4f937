package main

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/polyfork/polyfork/protocol"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// sameJSON checks that the msgpack value b is written alike straight from msgpack and
// through protocol.DecodeValue, and returns the JSON.
func sameJSON(t testing.TB, b []byte) string {
	t.Helper()
	v, decErr := protocol.DecodeValue(b)
	var want []byte
	if decErr == nil {
		want, decErr = toJSON(v)
	}
	err := checkMsgpackJSON(b)
	if errors.Is(err, errNotStreamable) {
		return "" // left to the decoded path
	}
	if decErr != nil {
		require.Error(t, err, "toJSON fails (%v), the stream must too: % x", decErr, b)
		// With several collisions, each may name another: Go's map order is random.
		assert.Contains(t, err.Error(), "a map has both the integer key")
		assert.Contains(t, decErr.Error(), "a map has both the integer key")
		return ""
	}
	require.NoError(t, err, "% x", b)
	var out bytes.Buffer
	end, err := writeMsgpackJSON(&out, b, 0)
	require.NoError(t, err)
	assert.Equal(t, len(b), end)
	require.Equal(t, string(want), out.String(), "% x", b)
	return out.String()
}

func TestMsgpackJSONLikeDecoded(t *testing.T) {
	marshal := func(v any) []byte {
		b, err := msgpack.Marshal(v)
		require.NoError(t, err)
		return b
	}
	for _, v := range []any{
		nil, true, false, 0, 127, 128, -1, -32, -33, -128, -129, 255, 256, 65535, 65536, -32768, -32769,
		math.MaxInt32, math.MinInt32, int64(math.MaxInt32) + 1, int64(math.MinInt64), int64(math.MaxInt64),
		uint64(math.MaxUint64), uint64(1) << 63, float32(1.5), float32(3), 0.1, math.Inf(1), math.NaN(), -0.0, 1e300,
		"", "abc", strings.Repeat("é", 20), strings.Repeat("x", 300), strings.Repeat("y", 70000), "\x00\"\\\n\xff<&>",
		[]byte{}, []byte("bin"), bytes.Repeat([]byte{7}, 300), bytes.Repeat([]byte{8}, 70000),
		[]any{}, []any{1, "a", []any{nil}}, make([]any, 20), make([]any, 70000),
		map[string]any{}, map[string]any{"b": 1, "a": map[string]any{"z": []any{}}, "": nil},
		map[int]string{3: "c", 1: "a", 20: "t"}, map[uint64]int{math.MaxUint64: 1, 2: 2},
		time.Unix(0, 0), time.Unix(1700000000, 0), time.Unix(1700000000, 123456789), time.Unix(1<<35, 1), time.Unix(-5, 7),
	} {
		sameJSON(t, marshal(v))
	}
	for _, c := range jsonOutCases {
		if b, err := msgpack.Marshal(c.v); err == nil && c.v != nil {
			if _, isExt := c.v.(protocol.Ext); !isExt {
				sameJSON(t, b)
			}
		}
	}
	// By hand: exts, repeated keys (the last wins), colliding keys, non-str keys.
	for _, b := range [][]byte{
		{0xd4, 0x05, 0xaa}, {0xc7, 0x03, 0xfe, 1, 2, 3}, {0xd8, 0x09, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
		{0x82, 0xa1, 'a', 0x01, 0xa1, 'a', 0x02},
		{0x83, 0x01, 0xa1, 'x', 0xa1, '1', 0xa1, 'y', 0x02, 0xa1, 'z'},
		{0x82, 0x01, 0xa1, 'x', 0x01, 0xa1, 'y'},
		{0x82, 0xc0, 0x01, 0xa1, 'a', 0x02},
		{0xd6, 0xff, 0, 0, 0, 1}, {0xc7, 0x05, 0xff, 1, 2, 3, 4, 5},
	} {
		sameJSON(t, b)
	}
	assert.Equal(t, `{"a":2}`, sameJSON(t, []byte{0x82, 0xa1, 'a', 0x01, 0xa1, 'a', 0x02}))

	// Random trees.
	r := rand.New(rand.NewPCG(1, 2))
	var gen func(depth int) any
	gen = func(depth int) any {
		switch k := r.IntN(12); {
		case depth > 4 || k < 6:
			return []any{nil, r.Int64() >> r.IntN(64), -r.Int64() >> r.IntN(64), r.Uint64(), r.Float64(), float32(r.Float32()),
				strings.Repeat("ab\"\x01é", r.IntN(5)), bytes.Repeat([]byte{byte(r.IntN(256))}, r.IntN(5)), r.IntN(2) == 0}[r.IntN(9)]
		case k < 9:
			s := make([]any, r.IntN(5))
			for i := range s {
				s[i] = gen(depth + 1)
			}
			return s
		case k < 11:
			m := map[string]any{}
			for i := r.IntN(5); i > 0; i-- {
				m[strings.Repeat("k", r.IntN(3))+string(rune('a'+r.IntN(3)))] = gen(depth + 1)
			}
			return m
		default:
			m := map[int64]any{}
			for i := r.IntN(5); i > 0; i-- {
				m[r.Int64N(10)-5] = gen(depth + 1)
			}
			return m
		}
	}
	for i := 0; i < 3000; i++ {
		sameJSON(t, marshal(gen(0)))
	}
}

// FuzzMsgpackJSON: whatever msgpack passes protocol.Check is written alike both ways.
func FuzzMsgpackJSON(f *testing.F) {
	for _, b := range [][]byte{{0x93, 0x01, 0xa1, 'a', 0xc0}, {0x82, 0x01, 0xa1, 'x', 0xa1, '1', 0xa1, 'y'}, {0xd6, 0xff, 0, 0, 0, 1}} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if protocol.Check(b, protocol.MaxDepth) != nil {
			return
		}
		sameJSON(t, b)
	})
}
