package protocol

import (
	"bytes"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type described struct {
	Mean   float64 `json:"mean"`
	Stddev float64 `msgpack:"sd" json:"stddev"`
	Count  int
	Label  string `json:"-"`
	Nested *inner `json:"nested"`
	Items  []inner
	ByName map[string]inner `json:"by_name"`
}

type inner struct {
	X  int `json:"x"`
	At time.Time
}

type embeds struct {
	inner
	Y int `json:"y"`
}

func TestUnmarshalFillsStructsByTagThenJSONThenName(t *testing.T) {
	at := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	b, err := Marshal(map[string]any{
		"mean": 1.5, "sd": 0.5, "stddev": 9.9, "count": 3, "Label": "ignored", "extra": true,
		"nested":  map[string]any{"x": 7, "at": at},
		"Items":   []any{map[string]any{"X": 1}, map[string]any{"x": 2}},
		"by_name": map[string]any{"a": map[string]any{"x": 5}},
	})
	require.NoError(t, err)
	var d described
	require.NoError(t, Unmarshal(b, &d))
	assert.Equal(t, 1.5, d.Mean, "json tag")
	assert.Equal(t, 0.5, d.Stddev, "the msgpack tag wins over the json tag")
	assert.Equal(t, 3, d.Count, "the field name, up to case")
	assert.Empty(t, d.Label, `json:"-" is skipped`)
	require.NotNil(t, d.Nested)
	assert.Equal(t, 7, d.Nested.X)
	assert.True(t, at.Equal(d.Nested.At), "time.Time decodes as the library does")
	assert.Equal(t, []inner{{X: 1}, {X: 2}}, d.Items)
	assert.Equal(t, map[string]inner{"a": {X: 5}}, d.ByName)

	var e embeds
	b, _ = Marshal(map[string]any{"x": 1, "y": 2})
	require.NoError(t, Unmarshal(b, &e))
	assert.Equal(t, embeds{inner: inner{X: 1}, Y: 2}, e, "embedded structs are flattened")
}

func TestUnmarshalNeverLeavesAStructSilentlyZero(t *testing.T) {
	b, _ := Marshal(map[string]any{"average": 1.5, "deviation": 2})
	var d described
	err := Unmarshal(b, &d)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `none of the keys "average", "deviation" matches a field of protocol.described`)
	assert.Contains(t, err.Error(), "mean")

	b, _ = Marshal([]any{1, 2})
	err = Unmarshal(b, &d)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cannot decode an array into struct protocol.described")

	b, _ = Marshal(map[string]any{"mean": "not a number"})
	err = Unmarshal(b, &d)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the value.Mean")

	b, _ = Marshal(map[string]any{})
	require.NoError(t, Unmarshal(b, &d), "an empty map is an empty struct, not an error")
	b, _ = Marshal(nil)
	require.NoError(t, Unmarshal(b, &d))
}

func TestMarshalNamesStructFieldsLikeJSON(t *testing.T) {
	b, err := Marshal(described{Mean: 1, Count: 2})
	require.NoError(t, err)
	v, err := DecodeValue(b)
	require.NoError(t, err)
	m := v.(map[string]any)
	assert.Contains(t, m, "mean")
	assert.Contains(t, m, "sd")
	assert.Contains(t, m, "Count")
	assert.NotContains(t, m, "Label")
}

// The first concurrent decodes into a struct type never seen before must all follow the
// struct rules (here: a key that matches a field only up to case), none the library's.
func TestFirstConcurrentDecodesIntoANewStructAgree(t *testing.T) {
	b, _ := Marshal(map[string]any{"SUM": 5})
	var wrong atomic.Int64
	for i := 0; i < 3000; i++ {
		typ := reflect.StructOf([]reflect.StructField{
			{Name: "Sum", Type: reflect.TypeOf(0), Tag: `json:"sum"`},
			{Name: fmt.Sprintf("X%d", i), Type: reflect.TypeOf(0)},
		})
		var wg sync.WaitGroup
		start := make(chan struct{})
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				v := reflect.New(typ)
				<-start
				err := Unmarshal(b, v.Interface())
				if err == nil && v.Elem().Field(0).Int() != 5 {
					wrong.Add(1)
				}
			}()
		}
		close(start)
		wg.Wait()
	}
	if wrong.Load() > 0 {
		t.Errorf("%d decodes left Sum at 0 with a nil error", wrong.Load())
	}
}

// An integer that does not fit the Go integer it is decoded into is an error naming where
// it is: the library stored 1000 into an int8 as -24 and -1 into a uint as 2^64-1, with a
// nil error.
func TestUnmarshalRefusesIntegersThatDoNotFit(t *testing.T) {
	enc := func(v any) []byte {
		b, err := Marshal(v)
		require.NoError(t, err)
		return b
	}
	type row struct {
		ID    uint16           `json:"id"`
		Temps map[string]int8  `json:"temps"`
		Tags  []map[int32]bool `json:"tags"`
	}
	cases := []struct {
		name string
		b    []byte
		into any
		want string
	}{
		{"int8", enc(1000), new(int8), "the value: 1000 does not fit in int8"},
		{"int8 low", enc(-129), new(int8), "the value: -129 does not fit in int8"},
		{"uint negative", enc(-1), new(uint), "the value: -1 does not fit in uint"},
		{"uint8 in a slice", enc([]int{1, 2, 256}), new([]uint8), "the value[2]: 256 does not fit in uint8"},
		{"int64 from a big uint64", enc(uint64(1) << 63), new(int64), "the value: 9223372036854775808 does not fit in int64"},
		{"int32 in an array", enc([]any{1, []int64{1 << 40}}), new([2][]int32), "the value[1][0]: 1099511627776 does not fit in int32"},
		{"map value", enc(map[string]int{"a": 70000}), new(map[string]int16), "the value[a]: 70000 does not fit in int16"},
		{"map key", enc(map[int]int{-5: 1}), new(map[uint]int), "the value key: -5 does not fit in uint"},
		{"pointer", enc(300), new(*uint8), "the value: 300 does not fit in uint8"},
		{"struct field", enc(map[string]any{"id": -1}), new(row), "the value.ID: -1 does not fit in uint16"},
		{"struct map", enc(map[string]any{"temps": map[string]int{"x": 128}}), new(row), "the value.Temps[x]: 128 does not fit in int8"},
		{"struct list of maps", enc(map[string]any{"tags": []any{map[int64]bool{1 << 31: true}}}), new(row), "the value.Tags[0] key: 2147483648 does not fit in int32"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Unmarshal(c.b, c.into)
			require.Error(t, err)
			require.Contains(t, err.Error(), c.want)
		})
	}

	// The edges fit, and what is not an integer is left to the decoder.
	var i8 []int8
	require.NoError(t, Unmarshal(enc([]int{-128, 127}), &i8))
	require.Equal(t, []int8{-128, 127}, i8)
	var u64 uint64
	require.NoError(t, Unmarshal(enc(uint64(1<<64-1)), &u64))
	require.Equal(t, uint64(1<<64-1), u64)
	var i64 int64
	require.NoError(t, Unmarshal(enc(int64(-1<<63)), &i64))
	require.Equal(t, int64(-1<<63), i64)
	var bs []byte
	require.NoError(t, Unmarshal(enc([]byte{1, 2}), &bs))
	require.Equal(t, []byte{1, 2}, bs)
	var r row
	require.NoError(t, Unmarshal(enc(map[string]any{"id": 65535, "temps": map[string]int{"x": -128}}), &r))
	require.Equal(t, row{ID: 65535, Temps: map[string]int8{"x": -128}}, r)
}

// A value the library cannot decode, deep inside a slice, array or map, is named by its
// place: the error said only "msgpack: invalid code=1 decoding bool" for the whole value.
func TestUnmarshalErrorsNameThePlaceInsideContainers(t *testing.T) {
	enc := func(v any) []byte {
		b, err := Marshal(v)
		require.NoError(t, err)
		return b
	}
	type holder struct {
		Flags []map[string]bool `json:"flags"`
	}
	cases := []struct {
		name string
		b    []byte
		into any
		want []string
	}{
		{"slice of slices", enc([]any{[]string{"a"}, []any{"b", 7}}), new([][]string),
			[]string{"*[][]string", "the value[1][1]: cannot decode a non-negative integer into string"}},
		{"map of slices", enc(map[string]any{"ok": []bool{true}, "bad": []any{false, "no"}}), new(map[string][]bool),
			[]string{"the value[bad][1]: cannot decode a str into bool"}},
		{"map key", enc(map[int]string{1: "x"}), new(map[bool]string),
			[]string{"the value key 1: cannot decode a non-negative integer into bool"}},
		{"array too short", enc([]any{[]int{1, 2}, []int{1, 2, 3}}), new([][2]int),
			[]string{"the value[1]: cannot decode an array into [2]int", "len is 2, but msgpack has 3"}},
		{"pointer to a map", enc(map[string]any{"a": map[string]any{"x": "y"}}), new(*map[string]map[string]int),
			[]string{"the value[a][x]: cannot decode a str into int"}},
		{"inside a struct", enc(map[string]any{"flags": []any{map[string]any{"on": true}, map[string]any{"off": 3}}}), new(holder),
			[]string{"the value.Flags[1][off]: cannot decode a non-negative integer into bool"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Unmarshal(c.b, c.into)
			require.Error(t, err)
			for _, w := range c.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
	// Where the value itself is the place, the error is as it was.
	var s []string
	require.EqualError(t, Unmarshal(enc(map[string]int{}), &s),
		"protocol: cannot decode into *[]string: msgpack: invalid code=80 decoding array length")
}

// A map whose keys are not strs (a PHP array or a Python dict with int keys) names them
// when it fills no field: the error said "none of the keys  matches", with no keys.
func TestUnmarshalNamesKeysThatAreNotStrings(t *testing.T) {
	type point struct{ X, Y int }
	b, err := Marshal(map[any]any{int64(0): 1, int64(1): 2})
	require.NoError(t, err)
	var p point
	err = Unmarshal(b, &p)
	require.Error(t, err)
	for _, want := range []string{"0 (a non-negative integer)", "1 (a non-negative integer)", "matches a field of protocol.point, which takes X, Y"} {
		assert.Contains(t, err.Error(), want) // the keys in the map's order
	}
}

// An empty array decoded into a map or a struct is an empty map, as PHP sends one (an empty
// associative array, SPEC section 7): it failed ("unexpected code=90 decoding map length",
// "cannot decode an array into struct"), so a PHP method returning [] could not be decoded
// into the Go type its non-empty results go into.
func TestUnmarshalTakesPHPsEmptyMap(t *testing.T) {
	empty := []byte{0x90}
	var m map[string]string
	require.NoError(t, Unmarshal(empty, &m))
	assert.NotNil(t, m)
	assert.Empty(t, m)
	var ma map[string]any
	require.NoError(t, Unmarshal(empty, &ma))
	assert.Equal(t, map[string]any{}, ma)
	var s described
	require.NoError(t, Unmarshal(empty, &s))
	assert.Equal(t, described{}, s)

	type config struct {
		Name    string            `json:"name"`
		Labels  map[string]string `json:"labels"`
		Nested  *inner            `json:"nested"`
		Options []map[string]int  `json:"options"`
		Tags    []string          `json:"tags"`
	}
	b, err := Marshal(map[string]any{"name": "x", "labels": []any{}, "nested": []any{},
		"options": []any{[]any{}, map[string]int{"a": 1}}, "tags": []any{}})
	require.NoError(t, err)
	var c config
	require.NoError(t, Unmarshal(b, &c))
	assert.Equal(t, "x", c.Name)
	assert.Equal(t, map[string]string{}, c.Labels)
	assert.NotNil(t, c.Nested)
	assert.Equal(t, []map[string]int{{}, {"a": 1}}, c.Options)
	assert.Equal(t, []string{}, c.Tags, "an empty list stays a list")
	var lists map[string][]int
	b, err = Marshal(map[string]any{"a": []any{}})
	require.NoError(t, err)
	require.NoError(t, Unmarshal(b, &lists))
	assert.Equal(t, map[string][]int{"a": {}}, lists)

	// The bytes given are not changed, and a non-empty array is still no map.
	require.Equal(t, []byte{0x90}, empty)
	require.Error(t, Unmarshal([]byte{0x91, 0x01}, &m))
}

// A PHP map whose keys are 0..n-1 in order is a PHP list, sent as a msgpack array (SPEC
// section 7): decoded into a Go map with integer keys it failed ("unexpected code=92
// decoding map length"). It is taken as the map of its indexes, at any depth; arrays that
// go anywhere else stay arrays, and the bytes given are not changed.
func TestUnmarshalTakesPHPsListIntoAMapWithIntegerKeys(t *testing.T) {
	b, err := Marshal([]any{"a", "b", "c"})
	require.NoError(t, err)
	orig := append([]byte(nil), b...)
	var m map[int]string
	require.NoError(t, Unmarshal(b, &m))
	assert.Equal(t, map[int]string{0: "a", 1: "b", 2: "c"}, m)
	assert.Equal(t, orig, b)
	var u map[uint16]string
	require.NoError(t, Unmarshal(b, &u))
	assert.Equal(t, map[uint16]string{0: "a", 1: "b", 2: "c"}, u)

	type shelf struct {
		Name  string              `json:"name"`
		Slots map[int]string      `json:"slots"`
		Rows  []map[int64][]int   `json:"rows"`
		Deep  map[int]map[int]int `json:"deep"`
		Named map[string]int      `json:"named"`
		List  []int               `json:"list"`
	}
	long := make([]any, 300) // past fixarray and one-byte keys
	for i := range long {
		long[i] = i * 2
	}
	b, err = Marshal(map[string]any{
		"name":  "s",
		"slots": []any{"x", "y"},
		"rows":  []any{[]any{[]any{1}, []any{}}, map[int64]any{7: []any{2}}},
		"deep":  []any{[]any{5, 6}, []any{}},
		"named": []any{},
		"list":  long,
	})
	require.NoError(t, err)
	var s shelf
	require.NoError(t, Unmarshal(b, &s))
	assert.Equal(t, map[int]string{0: "x", 1: "y"}, s.Slots)
	assert.Equal(t, []map[int64][]int{{0: {1}, 1: {}}, {7: {2}}}, s.Rows)
	assert.Equal(t, map[int]map[int]int{0: {0: 5, 1: 6}, 1: {}}, s.Deep)
	assert.Equal(t, map[string]int{}, s.Named)
	require.Len(t, s.List, 300)
	assert.Equal(t, 598, s.List[299])
	var big map[int]int
	b, err = Marshal(long)
	require.NoError(t, err)
	require.NoError(t, Unmarshal(b, &big))
	assert.Len(t, big, 300)
	assert.Equal(t, 598, big[299])

	// A map with string keys still takes only an empty array; a key past the Go key type is
	// named.
	var named map[string]int
	require.Error(t, Unmarshal([]byte{0x91, 0x01}, &named))
	var small map[int8]int
	err = Unmarshal(b, &small)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "does not fit in int8")
}

// A map key that is not a str is named in errors, cut to 200 bytes: a 200 KB bin key into a
// struct made a 400 KB error message, which went on into logs and HTTP answers.
func TestErrorsCutHugeMapKeys(t *testing.T) {
	key := bytes.Repeat([]byte{'k'}, 200000)
	b := append([]byte{0x81, 0xc6, 0, 3, 0x0d, 0x40}, append(key, 0x01)...) // {bin32 key: 1}
	var s struct{ A int }
	err := Unmarshal(b, &s)
	require.Error(t, err)
	assert.Less(t, len(err.Error()), 2000, "the error quotes the whole key")
	assert.Contains(t, err.Error(), "bytes)")
	var m map[string]int8 // a value that does not fit, under a huge key
	b = append([]byte{0x81, 0xc6, 0, 3, 0x0d, 0x40}, append(key, 0xcd, 0x03, 0xe8)...)
	err = Unmarshal(b, &m)
	require.Error(t, err)
	assert.Less(t, len(err.Error()), 2000, "the error quotes the whole key")
}

// A map key that decodes into an interface as a slice or a map cannot be a Go map key:
// decoding it into a map with interface keys and struct values (a type Unmarshal fills
// itself) panicked in reflect ("hash of unhashable type []interface {}") instead of
// failing, which took down the caller (and, in the bridge, a caller reading its own answer
// with the session's stream). It is an error naming the key, as the library's own decoding
// of such a map is.
func TestUnmarshalRefusesKeysNoGoMapTakes(t *testing.T) {
	for _, b := range [][]byte{
		{0x81, 0x91, 0x01, 0x80},             // {[1]: {}}
		{0x81, 0x81, 0xa1, 0x6b, 0x01, 0x80}, // {{"k": 1}: {}}
		{0x82, 0x01, 0x80, 0x90, 0x80},       // {1: {}, []: {}}
	} {
		var m map[any]inner
		var err error
		require.NotPanics(t, func() { err = Unmarshal(b, &m) }, "% x", b)
		require.Error(t, err, "% x", b)
		assert.Contains(t, err.Error(), "key", "% x", b)
		var a map[[1]any]inner
		require.NotPanics(t, func() { err = Unmarshal([]byte{0x81, 0x91, 0x90, 0x80}, &a) })
		require.Error(t, err)
	}
}
