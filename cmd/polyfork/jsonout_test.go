package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/polyfork/polyfork/protocol"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// jsonOutCases are values as protocol.DecodeValue makes them, and their JSON.
var jsonOutCases = []struct {
	v    any
	want string
}{
	{nil, "null"},
	{true, "true"},
	{int64(-3), "-3"},
	{uint64(math.MaxUint64), "18446744073709551615"},
	{2.0, "2.0"},
	{float32(0.5), "0.5"},
	{math.NaN(), `"NaN"`},
	{math.Inf(-1), `"-Infinity"`},
	{"<a & b>\n\"\x01\xff", `"<a & b>\n\"\u0001\ufffd"`},
	{[]byte{0, 1, 2, 0xff}, `"AAEC/w=="`},
	{time.Unix(0, 5).UTC(), `"1970-01-01T00:00:00.000000005Z"`},
	{protocol.Ext{Type: 9, Data: []byte("ab")}, `{"$ext":9,"data":"YWI="}`},
	{[]any{int64(1), "x", []any{}}, `[1,"x",[]]`},
	{map[string]any{"b": int64(1), "a": []byte("hi")}, `{"a":"aGk=","b":1}`},
}

func TestToJSON(t *testing.T) {
	for _, c := range jsonOutCases {
		out, err := toJSON(c.v)
		require.NoError(t, err)
		assert.Equal(t, c.want, string(out), "%#v", c.v)
	}
}

// TestToJSONKeysThatCollide: a map with the integer key 1 and the string key "1" (a
// Python dict may hold both) used to be written with one of the two, whichever Go's
// random map order put last.
func TestToJSONKeysThatCollide(t *testing.T) {
	out, err := toJSON(map[any]any{int64(2): "two", "3": "three"})
	require.NoError(t, err)
	assert.Equal(t, `{"2":"two","3":"three"}`, string(out))
	for i := 0; i < 50; i++ { // map order is random: every order must fail the same way
		_, err := toJSON([]any{map[any]any{int64(1): "a", "1": "b", int64(7): "c"}})
		require.Error(t, err, "try %d", i)
		assert.Equal(t, `a map has both the integer key 1 and the string key "1", which are one key in JSON`, err.Error())
		assert.Equal(t, err, checkJSON([]any{map[any]any{int64(1): "a", "1": "b"}}), "checkJSON, for streamed results")
	}
	for _, c := range jsonOutCases {
		assert.NoError(t, checkJSON(c.v), "%#v", c.v)
	}
}

func BenchmarkToJSONSmall(b *testing.B) {
	v := []any{int64(42), "a short string"}
	for b.Loop() {
		_, _ = toJSON(v)
	}
}

// TestWriteJSONStreams checks that writing to a small bufio.Writer, as serve does for a
// large result, gives the bytes toJSON gives, large bytes (base64 as it goes) included.
func TestWriteJSONStreams(t *testing.T) {
	big := bytes.Repeat([]byte{0xfb, 0xef, 0x01}, 5000)
	v := []any{strings.Repeat("é\n", 40000), big, protocol.Ext{Type: -3, Data: big}}
	for _, c := range jsonOutCases {
		v = append(v, c.v)
	}
	want, err := toJSON(v)
	require.NoError(t, err)
	var out bytes.Buffer
	w := bufio.NewWriterSize(&out, 16)
	require.NoError(t, writeJSON(w, v))
	require.NoError(t, w.Flush())
	assert.Equal(t, string(want), out.String())
	assert.Contains(t, out.String(), `,"`+base64.StdEncoding.EncodeToString(big)+`",{"$ext":-3,"data":"`+base64.StdEncoding.EncodeToString(big)+`"}`)
}
