package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/polyfork/polyfork/protocol"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testLimits = jsonLimits{maxDepth: 8, maxValues: 100, depthWhy: "test depth", valuesWhy: "test count"}

func TestParamsFromJSON(t *testing.T) {
	cases := []struct {
		name, in, hex string
	}{
		{"empty body", "", "90"},
		{"white space only", " \n\t", "90"},
		{"empty array", "[]", "90"},
		{"integers in their shortest form", "[0, 127, 128, 255, 256, 65536, -1, -32, -33, -129, -32769]",
			"9b 00 7f cc80 ccff cd0100 ce00010000 ff e0 d0df d1ff7f d2ffff7fff"},
		{"the int64 and uint64 limits", "[-9223372036854775808, 18446744073709551615]",
			"92 d38000000000000000 cfffffffffffffffff"},
		{"floats stay floats", "[1.0, -0.0, 1e300]", "93 cb3ff0000000000000 cb8000000000000000 cb7e37e43c8800759c"},
		{"nil, bools, strings", `[null, true, false, "", "é"]`, "95 c0 c3 c2 a0 a2c3a9"},
		{"object keys keep their order", `[{"b": 1, "a": [2]}]`, "91 82 a162 01 a161 9102"},
		{"16 elements take a 3-byte header", "[" + strings.Repeat("1,", 15) + "1]", "dc0010" + strings.Repeat("01", 16)},
		{"a leading byte order mark is skipped", "\xef\xbb\xbf[1]", "91 01"},
		{"escaped lone surrogates become U+FFFD, as in encoding/json", `["\ud800"]`, "91 a3efbfbd"},
		{"nested containers of every size", `[[], [[]], {"k": {}}, [` + strings.Repeat("0,", 20) + `{"x": null}]]`,
			"94 90 9190 81 a16b 80 dc0015" + strings.Repeat("00", 20) + "81a178c0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := paramsFromJSON(strings.NewReader(c.in), testLimits)
			require.NoError(t, err)
			assert.Equal(t, strings.ReplaceAll(c.hex, " ", ""), hex.EncodeToString(got))
			require.NoError(t, protocol.Check(got, testLimits.maxDepth))
			// The same bytes one at a time: nothing depends on how the reads fall.
			again, err := paramsFromJSON(iotest.OneByteReader(strings.NewReader(c.in)), testLimits)
			require.NoError(t, err)
			assert.Equal(t, got, again)
		})
	}
}

func TestParamsFromJSONLargeContainers(t *testing.T) {
	lim := jsonLimits{maxDepth: 4, maxValues: 1 << 20}
	in := `[{"big": [` + strings.TrimSuffix(strings.Repeat("7,", 70000), ",") + `]}, "end"]`
	got, err := paramsFromJSON(strings.NewReader(in), lim)
	require.NoError(t, err)
	v, err := protocol.DecodeValue(got)
	require.NoError(t, err)
	list := v.([]any)
	require.Len(t, list, 2)
	assert.Len(t, list[0].(map[string]any)["big"], 70000)
	assert.Equal(t, "end", list[1])
	assert.Equal(t, "dd00011170", hex.EncodeToString(got[6:11]), "70000 elements take an array32 header")
}

func TestParamsFromJSONErrors(t *testing.T) {
	cases := []struct {
		name, in string
		kind     jsonErrKind
		offset   int64
		msg      string
	}{
		{"not an array", `{"a": 1}`, jsonNotArray, 1, "must be a JSON array such as [1, 2], not an object"},
		{"a string", `"x"`, jsonNotArray, 3, `not the string "x"`},
		{"null", `null`, jsonNotArray, 4, "not null"},
		{"cut short", `[1, 2`, jsonSyntax, 5, "invalid JSON: the text ends inside a value"},
		{"trailing comma", `[1,]`, jsonSyntax, 3, "invalid JSON: invalid character ']'"},
		{"two values", `[1] [2]`, jsonSyntax, 5, "more than one value (an array after the first)"},
		{"garbage after", `[1] x`, jsonSyntax, 4, "invalid character 'x'"},
		{"too deep", "[" + nested(8) + "]", jsonTooDeep, 9, "arrays and objects nest deeper than 8 levels (test depth)"},
		{"too deep in objects", `[{"a": {"a": {"a": {"a": {"a": {"a": {"a": {}}}}}}}}]`, jsonTooDeep, 44, "nest deeper than 8 levels"},
		{"too many", "[" + strings.Repeat("0,", 99) + "0]", jsonTooMany, 200, "more than 100 values, counting every array, object, key and scalar (test count)"},
		{"keys count", `[{"a": 0` + strings.Repeat(`, "b": 0`, 49) + "}]", jsonDuplicate, 0, `the key "b" appears twice`},
		{"keys count as values", distinctKeys(50), jsonTooMany, 0, "more than 100 values"},
		{"integer too large", `[18446744073709551616]`, jsonBadNumber, 21, "the integer 18446744073709551616 is outside the int64 and uint64 ranges"},
		{"integer too small", `[-9223372036854775809]`, jsonBadNumber, 21, "outside the int64 and uint64 ranges"},
		{"float too large", `[1e400]`, jsonBadNumber, 6, "the number 1e400 does not fit in a float64"},
		{"invalid UTF-8", "[\"ab\xffcd\"]", jsonUTF8, 4, "the text is not valid UTF-8"},
		{"invalid UTF-8 after a byte order mark", "\xef\xbb\xbf[\"\xc3\x28\"]", jsonUTF8, 5, "not valid UTF-8"},
		{"UTF-8 cut at the end", "[\"\xe2\x82", jsonUTF8, 2, "not valid UTF-8"},
		{"a surrogate encoded in UTF-8", "[\"\xed\xa0\x80\"]", jsonUTF8, 2, "not valid UTF-8"},
		{"duplicate key", `[{"a": 1, "b": 2, "a": 3}]`, jsonDuplicate, 21, `the key "a" appears twice in one object`},
		{"a byte order mark alone", "\xef\xbb\xbf", jsonSyntax, -1, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, r := range []io.Reader{strings.NewReader(c.in), iotest.OneByteReader(strings.NewReader(c.in))} {
				_, err := paramsFromJSON(r, testLimits)
				if c.name == "a byte order mark alone" {
					assert.NoError(t, err, "a byte order mark and nothing else is an empty body")
					continue
				}
				var je *jsonError
				require.ErrorAs(t, err, &je)
				assert.Equal(t, c.kind, je.Kind, "%v", err)
				assert.Contains(t, err.Error(), c.msg)
				if c.offset > 0 {
					assert.Equal(t, c.offset, je.Offset, "%v", err)
				}
			}
		})
	}
}

// nested returns n arrays, each inside the next.
func nested(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }

// distinctKeys returns [{"k0": 0, "k1": 0, ...}] with n keys: 2 + 2n values.
func distinctKeys(n int) string {
	var b strings.Builder
	b.WriteString("[{")
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, `"k%d": 0`, i)
	}
	b.WriteString("}]")
	return b.String()
}

func TestParamsFromJSONReadErrors(t *testing.T) {
	boom := errors.New("connection reset")
	_, err := paramsFromJSON(io.MultiReader(strings.NewReader("[1, 2"), iotest.ErrReader(boom)), testLimits)
	var je *jsonError
	require.ErrorAs(t, err, &je)
	assert.Equal(t, jsonRead, je.Kind)
	assert.ErrorIs(t, err, boom)
	assert.Equal(t, int64(5), je.Offset)

	body := http.MaxBytesReader(nil, io.NopCloser(strings.NewReader(`["`+strings.Repeat("x", 100)+`"]`)), 50)
	_, err = paramsFromJSON(body, testLimits)
	var tooBig *http.MaxBytesError
	require.ErrorAs(t, err, &tooBig)
	assert.Equal(t, http.StatusRequestEntityTooLarge, paramsErrorStatus(err))
}

func TestValueFromJSON(t *testing.T) {
	for in, want := range map[string]string{`"x"`: "a178", "1": "01", `{"a": []}`: "81a16190", "null": "c0", " [1] ": "9101"} {
		got, err := valueFromJSON(strings.NewReader(in), testLimits)
		require.NoError(t, err, in)
		assert.Equal(t, want, hex.EncodeToString(got), in)
	}
	for in, want := range map[string]string{"": "the text is empty", "1 2": "more than one value (the number 2 after the first)", "tru": "invalid"} {
		_, err := valueFromJSON(strings.NewReader(in), testLimits)
		assert.ErrorContains(t, err, want, in)
	}
}

func TestCheckMethod(t *testing.T) {
	for _, ok := range []string{"add", "é", "a b", "a$", "with/slash", "\x00"} {
		assert.NoError(t, checkMethod(ok), ok)
	}
	for name, want := range map[string]string{
		"":       "the method name is empty",
		"\xff":   `the method name "\xff" is not valid UTF-8 (byte 0xff at offset 0)`,
		"ok\xc3": `the method name "ok\xc3" is not valid UTF-8 (byte 0xc3 at offset 2)`,
		"$stop":  `the method name "$stop" starts with '$', which the protocol keeps for its own messages`,
	} {
		assert.EqualError(t, checkMethod(name), want, "%q", name)
	}
}

// FuzzParams feeds serve's body parsing anything: it must never panic, never return params
// past its limits, and refuse with an error that is a 400 or a 413. Whatever it accepts
// must be the JSON that encoding/json reads, value for value. The seeds are in
// testdata/fuzz/FuzzParams; plain "go test" runs them. A bounded fuzzing run:
//
//	go test -run='^$' -fuzz=FuzzParams -fuzztime=20000x ./cmd/polyfork
func FuzzParams(f *testing.F) {
	const maxBody = 4096
	lim := jsonLimits{maxDepth: 16, maxValues: 256, depthWhy: "fuzz", valuesWhy: "fuzz"}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := http.MaxBytesReader(nil, io.NopCloser(bytes.NewReader(body)), maxBody)
		params, err := paramsFromJSON(r, lim)
		if err != nil {
			var je *jsonError
			if !errors.As(err, &je) {
				t.Fatalf("untyped error %T: %v", err, err)
			}
			switch code := paramsErrorStatus(err); {
			case code == http.StatusRequestEntityTooLarge && len(body) <= maxBody:
				t.Fatalf("413 for a %d-byte body: %v", len(body), err)
			case code != http.StatusBadRequest && code != http.StatusRequestEntityTooLarge:
				t.Fatalf("status %d: %v", code, err)
			}
			if je.Offset < 0 || je.Offset > int64(len(body)) {
				t.Fatalf("offset %d outside the %d-byte body: %v", je.Offset, len(body), err)
			}
			return
		}
		if len(body) > maxBody {
			t.Fatalf("accepted a %d-byte body past the %d-byte limit", len(body), maxBody)
		}
		if err := protocol.Check(params, lim.maxDepth); err != nil {
			t.Fatalf("params past the depth limit or not msgpack: %v", err)
		}
		v, err := protocol.DecodeValue(params)
		if err != nil {
			t.Fatalf("params do not decode: %v", err)
		}
		if n := countValues(v); n > lim.maxValues {
			t.Fatalf("%d values, past the limit of %d", n, lim.maxValues)
		}
		text := bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
		if len(bytes.TrimSpace(text)) == 0 {
			if l, ok := v.([]any); !ok || len(l) != 0 {
				t.Fatalf("an empty body gave %#v", v)
			}
			return
		}
		if !json.Valid(text) {
			t.Fatalf("accepted invalid JSON %q", text)
		}
		dec := json.NewDecoder(bytes.NewReader(text))
		dec.UseNumber()
		var want any
		if err := dec.Decode(&want); err != nil {
			t.Fatalf("encoding/json: %v", err)
		}
		if err := sameValue(want, v); err != nil {
			t.Fatalf("%v\njson: %#v\ngot:  %#v", err, want, v)
		}
	})
}

// countValues counts values as the wire does: a map pair counts two.
func countValues(v any) int {
	switch x := v.(type) {
	case []any:
		n := 1
		for _, e := range x {
			n += countValues(e)
		}
		return n
	case map[string]any:
		n := 1
		for _, e := range x {
			n += 1 + countValues(e)
		}
		return n
	}
	return 1
}

// sameValue compares a value encoding/json decoded (with UseNumber) with one decoded from
// the converter's msgpack.
func sameValue(want, got any) error {
	switch w := want.(type) {
	case json.Number:
		n, err := jsonNumber(w)
		if err != nil {
			return fmt.Errorf("accepted the number %s: %w", w, err)
		}
		if f, ok := n.(float64); ok {
			g, ok := got.(float64)
			if !ok || math.Float64bits(f) != math.Float64bits(g) {
				return fmt.Errorf("number %s became %#v", w, got)
			}
			return nil
		}
		if fmt.Sprint(n) != fmt.Sprint(got) {
			return fmt.Errorf("integer %s became %#v", w, got)
		}
		return nil
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Errorf("array of %d became %#v", len(w), got)
		}
		for i := range w {
			if err := sameValue(w[i], g[i]); err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
		}
		return nil
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			return fmt.Errorf("object of %d keys became %#v", len(w), got)
		}
		for k, e := range w {
			if err := sameValue(e, g[k]); err != nil {
				return fmt.Errorf("[%q]: %w", k, err)
			}
		}
		return nil
	}
	if want != got {
		return fmt.Errorf("%#v became %#v", want, got)
	}
	return nil
}

// BenchmarkParamsFromJSON converts bodies of numbers, strings and small objects, against
// encoding/json decoding the same text into Go values (what serve did before it streamed).
func BenchmarkParamsFromJSON(b *testing.B) {
	var body strings.Builder
	body.WriteString("[")
	for i := 0; i < 20000; i++ {
		fmt.Fprintf(&body, `%d, 1.5, "name %d", {"k": [true, null]}, `, i, i)
	}
	body.WriteString("0]")
	data := []byte(body.String())
	lim := jsonLimits{maxDepth: paramsMaxDepth, maxValues: requestMaxValues}
	b.Run("stream-to-msgpack", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := paramsFromJSON(bytes.NewReader(data), lim); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json-to-any", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.UseNumber()
			var v any
			if err := dec.Decode(&v); err != nil {
				b.Fatal(err)
			}
		}
	})
}
