package protocol

import (
	"encoding/hex"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

func TestEncoderParams(t *testing.T) {
	enc := NewEncoder()
	for name, params := range map[string]any{
		"nil":         nil,
		"nil slice":   []any(nil),
		"empty":       []any{},
		"typed slice": []int{},
		"array":       [0]string{},
		"raw msgpack": msgpack.RawMessage{0x90},
	} {
		frame, err := enc.Request(1, "m", params)
		require.NoError(t, err, name)
		assert.Equal(t, "00000006940001a16d90", hex.EncodeToString(frame), name)
	}
	for name, params := range map[string]any{
		"int":           42,
		"string":        "x",
		"bytes":         []byte("x"),
		"map":           map[string]any{"a": 1},
		"raw non-array": msgpack.RawMessage{0xc0},
		"channel":       make(chan int),
	} {
		_, err := enc.Request(1, "m", params)
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), `request "m"`, name)
	}
	// The encoder stays usable after an error.
	frame, err := enc.Notification("message", []any{"start"})
	require.NoError(t, err)
	assert.Equal(t, "000000119302a76d65737361676591a57374617274", hex.EncodeToString(frame))
}

// panicky is a type whose own encoder panics, as a method on a nil pointer does.
type panicky struct{ p *int }

func (v panicky) EncodeMsgpack(enc *msgpack.Encoder) error { return enc.EncodeInt(int64(*v.p)) }

// A panic in a type's own encoder is the value's fault: it is refused as unsendable, and the
// Encoder goes on working, instead of the panic unwinding through the caller (in the bridge,
// past a call's place and a pool worker's slot, which then stayed taken for good).
func TestAnEncoderThatPanicsIsAnUnsendableValue(t *testing.T) {
	enc := NewEncoder()
	for what, encode := range map[string]func() ([]byte, error){
		"param":        func() ([]byte, error) { return enc.Request(1, "m", []any{"ok", panicky{}}) },
		"params":       func() ([]byte, error) { return enc.Request(1, "m", []panicky{{}}) },
		"notification": func() ([]byte, error) { return enc.Notification("m", []any{panicky{}}) },
		"result":       func() ([]byte, error) { return enc.Result(1, panicky{}) },
		"marshal":      func() ([]byte, error) { return Marshal(map[string]any{"a": panicky{}}) },
	} {
		_, err := encode()
		require.Error(t, err, what)
		assert.Contains(t, err.Error(), "its encoder panicked: runtime error: invalid memory address", what)
		if what != "marshal" {
			assert.ErrorIs(t, err, ErrUnsendable, what)
		}
		frame, err := enc.Request(2, "m", []any{"after"})
		require.NoError(t, err, what)
		var m []any
		require.NoError(t, msgpack.Unmarshal(frame[4:], &m))
		assert.Equal(t, []any{int8(0), int8(2), "m", []any{"after"}}, m, what)
	}
}

func TestEncoderRefusesOversizeFrames(t *testing.T) {
	enc := NewEncoder()
	enc.SetMaxFrameSize(100)
	_, err := enc.Result(1, make([]byte, 200))
	require.ErrorIs(t, err, ErrFrameTooLarge)
	assert.Contains(t, err.Error(), "above the maximum frame size 100")
	frame, err := enc.Result(1, 5)
	require.NoError(t, err)
	assert.Equal(t, "000000059401 01c005", hex.EncodeToString(frame)[:12]+" "+hex.EncodeToString(frame)[12:])
}

func TestEncoderDropsHugeBuffers(t *testing.T) {
	enc := NewEncoder()
	_, err := enc.Result(1, make([]byte, 8<<20))
	require.NoError(t, err)
	_, err = enc.Result(2, 1)
	require.NoError(t, err)
	assert.LessOrEqual(t, enc.buf.Cap(), keepEncodeBuffer)
}

func TestFailureDataMustBeMsgpack(t *testing.T) {
	enc := NewEncoder()
	_, err := enc.Failure(1, &ErrorValue{Type: "T", Message: "m", Data: []byte{0xdd, 0xff}})
	require.Error(t, err)
	data, _ := Marshal(map[string]any{"code": 7})
	frame, err := enc.Failure(1, &ErrorValue{Type: "T", Message: "m", Data: data})
	require.NoError(t, err)
	m, err := DecodeMessage(frame[4:], 0)
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, Unmarshal(m.Error.Data, &got))
	assert.Equal(t, map[string]any{"code": int64(7)}, got)
}

func TestMarshalProfile(t *testing.T) {
	for _, c := range []struct {
		v   any
		hex string
	}{
		{int64(1), "01"},
		{int(-33), "d0df"},
		{uint64(math.MaxUint64), "cfffffffffffffffff"},
		{float32(1.5), "ca3fc00000"},
		{1.0, "cb3ff0000000000000"},
		{[]byte{1}, "c40101"},
		{"é", "a2c3a9"},
		{map[string]any{"b": 2, "a": 1}, "82a16101a16202"},
		{Ext{Type: 5, Data: []byte{1, 2, 3}}, "c70305010203"},
		{time.Unix(1609459200, 0), "d6ff5fee6600"},
	} {
		b, err := Marshal(c.v)
		require.NoError(t, err)
		assert.Equal(t, c.hex, hex.EncodeToString(b), "%#v", c.v)
	}
}

func TestUnmarshal(t *testing.T) {
	type point struct {
		X int    `msgpack:"x"`
		Y string `msgpack:"y"`
	}
	b, _ := Marshal(map[string]any{"x": 3, "y": "z"})
	var p point
	require.NoError(t, Unmarshal(b, &p))
	assert.Equal(t, point{3, "z"}, p)

	var s []any
	b, _ = Marshal([]any{1, "a"})
	require.NoError(t, Unmarshal(b, &s))
	assert.Equal(t, []any{int64(1), "a"}, s)

	var m map[string]any
	require.Error(t, Unmarshal(b, &m), "an array is not a map")
	require.NoError(t, Unmarshal([]byte{0xc0}, &m))
	assert.Nil(t, m)

	// Maps inside a typed target decode as DecodeValue decodes them, integer keys included.
	b, _ = Marshal([]any{map[string]any{"a": map[any]any{1: 2}}})
	var ms []map[string]any
	require.NoError(t, Unmarshal(b, &ms))
	whole, err := DecodeValue(b)
	require.NoError(t, err)
	assert.Equal(t, whole.([]any)[0], any(ms[0]))

	var n int
	err = Unmarshal([]byte{0xa1, 'x'}, &n)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cannot decode into *int")

	// Keys that cannot be Go map keys fail the value instead of panicking.
	var v any
	err = Unmarshal([]byte{0x81, 0x91, 0x01, 0x02}, &v)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "map key")
	var mm map[any]any
	err = Unmarshal([]byte{0x81, 0x91, 0x01, 0x02}, &mm)
	require.Error(t, err)
}

// Unmarshal into a *string takes a short way for a str; it must decode every value as the
// library's decoder does, and refuse what it refuses.
func TestUnmarshalStringAgreesWithTheDecoder(t *testing.T) {
	long := strings.Repeat("é", 40000) // str32
	inputs := [][]byte{{0xa0}, {0xc0}, {0x01}, {0xc4, 0x01, 'b'}, {0x91, 0xa1, 'x'}, {0xa2, 0xff, 0xfe}}
	for _, v := range []string{"x", strings.Repeat("y", 31), strings.Repeat("z", 32), strings.Repeat("w", 300), long} {
		b, err := Marshal(v)
		require.NoError(t, err)
		inputs = append(inputs, b)
	}
	inputs = append(inputs, []byte{0xd9, 0x01, 'a'}, []byte{0xda, 0x00, 0x01, 'a'}, []byte{0xdb, 0, 0, 0, 1, 'a'})
	for _, b := range inputs {
		var got, want string
		err := Unmarshal(b, &got)
		werr := msgpack.Unmarshal(b, &want)
		require.Equal(t, werr == nil, err == nil, "% x: %v, the decoder: %v", b[:min(len(b), 8)], err, werr)
		require.Equal(t, want, got, "% x", b[:min(len(b), 8)])
	}
	// A nil *string is refused, not written through.
	var none *string
	err := Unmarshal([]byte{0xa1, 'x'}, none)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "want a non-nil pointer")
	// A string cut short is refused before either way is taken.
	var s string
	require.Error(t, Unmarshal([]byte{0xa3, 'a'}, &s))
	require.Error(t, Unmarshal([]byte{0xda, 0x00}, &s))
}

func TestDecodeBombsDoNotAllocate(t *testing.T) {
	for _, bomb := range []string{"ddffffffff", "dfffffffff", "dbffffffff", "c6ffffffff", "91ddffffffff"} {
		b, _ := hex.DecodeString(bomb)
		allocs := testing.AllocsPerRun(20, func() {
			_, err := DecodeValue(b)
			require.Error(t, err)
		})
		assert.Less(t, allocs, 10.0, bomb)
		var v []int
		require.Error(t, Unmarshal(b, &v))
	}
}

func TestEncoderRefusesWhatTheReceiverMustReject(t *testing.T) {
	deep := any("leaf")
	for i := 0; i < 200; i++ {
		deep = []any{deep}
	}
	enc := NewEncoder()
	enc.SetMaxValues(1000)
	for name, tc := range map[string]struct {
		encode func() ([]byte, error)
		want   string
		is     error
	}{
		"method not UTF-8":       {func() ([]byte, error) { return enc.Request(1, "\xff", nil) }, "not valid UTF-8", nil},
		"notification not UTF-8": {func() ([]byte, error) { return enc.Notification("a\xc3", nil) }, "not valid UTF-8", nil},
		"params too deep":        {func() ([]byte, error) { return enc.Request(1, "m", []any{deep}) }, "deeper than 126 levels, the most it may here", nil},
		"result too deep":        {func() ([]byte, error) { return enc.Result(1, deep) }, "deeper than 127 levels, the most it may here", nil},
		"too many values":        {func() ([]byte, error) { return enc.Request(1, "m", make([]any, 1000)) }, "more than 1000 msgpack values", ErrTooManyValues},
		"no msgpack form":        {func() ([]byte, error) { return enc.Result(1, make(chan int)) }, "chan int", nil},
	} {
		_, err := tc.encode()
		require.ErrorIs(t, err, ErrUnsendable, name)
		assert.Contains(t, err.Error(), tc.want, name)
		if tc.is != nil {
			assert.ErrorIs(t, err, tc.is, name)
		}
	}
	// 127 levels of params inside the message array and the params array still go.
	ok := any(1)
	for i := 0; i < 126; i++ {
		ok = []any{ok}
	}
	_, err := enc.Request(1, "m", []any{ok})
	require.NoError(t, err)
	frame, err := enc.Request(2, "m", make([]any, 990))
	require.NoError(t, err)
	_, err = DecodeMessage(frame[4:], 1000)
	require.NoError(t, err)
}

// Frames of scalars are not scanned before they go (Encoder.finish counts them instead):
// each must still be accepted or refused exactly as the scanner would, whatever the limit.
func TestEncoderCountsFramesOfScalarsAsTheScannerDoes(t *testing.T) {
	scalars := []any{nil, true, "s", strings.Repeat("é", 100), []byte{1, 2}, -1, int8(-3), int16(300),
		int32(-70000), int64(1 << 40), uint(7), uint8(200), uint16(65535), uint32(1 << 31), uint64(1 << 63),
		float32(1.5), 2.25}
	for limit := 1; limit <= 10; limit++ {
		for n := 0; n <= 6; n++ {
			params := make([]any, n)
			for i := range params {
				params[i] = scalars[(limit*7+n*3+i)%len(scalars)]
			}
			for kind, encode := range map[string]func(e *Encoder) ([]byte, error){
				"request":      func(e *Encoder) ([]byte, error) { return e.Request(1, "m", params) },
				"notification": func(e *Encoder) ([]byte, error) { return e.Notification("m", params) },
				"no params":    func(e *Encoder) ([]byte, error) { return e.Request(1, "m", nil) },
				"result":       func(e *Encoder) ([]byte, error) { return e.Result(1, params) },
				"scalar result": func(e *Encoder) ([]byte, error) {
					return e.Result(1, scalars[(limit+n)%len(scalars)])
				},
			} {
				free := NewEncoder()
				frame, err := encode(free)
				require.NoError(t, err, kind)
				want := CheckFrame(frame[4:], limit)
				limited := NewEncoder()
				limited.SetMaxValues(limit)
				got, err := encode(limited)
				if want != nil {
					require.ErrorIs(t, err, ErrTooManyValues, "%s of %d params, limit %d", kind, n, limit)
					continue
				}
				require.NoError(t, err, "%s of %d params, limit %d", kind, n, limit)
				require.Equal(t, frame, got)
			}
		}
	}
}

// Only the scalars isFlat names skip the scan: raw bytes, extensions, times and named types
// are checked, and a frame of another kind on the same Encoder is never counted with the
// last frame's count.
func TestEncoderScansWhatIsNotAPlainScalar(t *testing.T) {
	enc := NewEncoder()
	_, err := enc.Request(1, "m", []any{msgpack.RawMessage{0x91}})
	require.ErrorIs(t, err, ErrUnsendable, "raw bytes that are no whole value")
	_, err = enc.Result(1, msgpack.RawMessage{0x92, 0x01})
	require.ErrorIs(t, err, ErrUnsendable)
	type name string
	for _, v := range []any{name("x"), Ext{Type: 5, Data: []byte{1}}, time.Unix(1, 0), msgpack.RawMessage{0x01}} {
		frame, err := enc.Request(2, "m", []any{v})
		require.NoError(t, err, "%T", v)
		require.NoError(t, CheckFrame(frame[4:], DefaultMaxValues), "%T", v)
	}

	enc.SetMaxValues(6)
	_, err = enc.Request(3, "m", []any{"one"}) // 6 values: counted, not scanned
	require.NoError(t, err)
	_, err = enc.Failure(3, &ErrorValue{Type: "T", Message: "m"}) // 9 values
	require.ErrorIs(t, err, ErrTooManyValues, "a failure after a counted request")
	_, err = enc.Request(4, "m", msgpack.RawMessage{0x93, 1, 2, 3}) // 8 values
	require.ErrorIs(t, err, ErrTooManyValues, "raw params after a counted request")

	enc.SetMaxFrameSize(math.MaxInt)
	assert.Equal(t, math.MaxUint32, enc.max, "no frame limit beyond what a length prefix can say")
}

func TestDecodeMessageCountsValues(t *testing.T) {
	enc := NewEncoder()
	frame, err := enc.Notification("message", []any{make([]any, 100)})
	require.NoError(t, err)
	_, err = DecodeMessage(frame[4:], 105) // message, kind, method, params, the array, 100 elements
	require.NoError(t, err)
	_, err = DecodeMessage(frame[4:], 104)
	require.ErrorIs(t, err, ErrTooManyValues)
	assert.Contains(t, err.Error(), "more than 104 msgpack values")
}

func TestEncoderRefusesCyclicValuesWithoutOverflowingTheStack(t *testing.T) {
	m := map[string]any{}
	m["self"] = m
	l := []any{nil}
	l[0] = l
	type node struct{ Next *node }
	n := &node{}
	n.Next = n
	enc := NewEncoder()
	for name, v := range map[string]any{"map": m, "list": l, "struct pointers": n} {
		_, err := enc.Request(1, "m", []any{v})
		require.ErrorIs(t, err, ErrUnsendable, name)
		assert.Contains(t, err.Error(), "nests deeper than 126 levels", name)
		_, err = enc.Result(1, v)
		require.ErrorIs(t, err, ErrUnsendable, name)
		_, err = Marshal(v)
		require.ErrorIs(t, err, ErrUnsendable, name)
		assert.Contains(t, err.Error(), "deeper than 128 levels, the most a frame holds", name)
	}
	_, err := enc.Request(1, "m", []any{[]int{1, 2, 3}, map[string]any{"a": []any{1}}, node{}})
	require.NoError(t, err)
}

// Every value the decoder accepts can be encoded again: checkNesting counts the levels the
// wire holds, as Check does, whatever Go types carry them (map[any]any from int keys, structs
// behind pointers, interfaces). A fuzzer found map[any]any counted twice.
func TestNestingIsCountedAsTheWireCountsIt(t *testing.T) {
	wraps := map[string]func(inner []byte) []byte{
		"array":        func(in []byte) []byte { return append([]byte{0x91}, in...) },
		"map, str key": func(in []byte) []byte { return append([]byte{0x81, 0xa1, 'k'}, in...) },
		"map, int key": func(in []byte) []byte { return append([]byte{0x81, 0x30}, in...) },
	}
	for name, wrap := range wraps {
		for _, depth := range []int{MaxDepth, MaxDepth + 1} {
			b := []byte{0xc0}
			for i := 0; i < depth; i++ {
				if i == depth/2 {
					b = wrap(b) // one level of the kind under test, amid arrays
				} else {
					b = append([]byte{0x91}, b...)
				}
			}
			v, err := DecodeValue(b)
			if depth > MaxDepth {
				require.Error(t, err, "%s, %d levels", name, depth)
				continue
			}
			require.NoError(t, err, "%s, %d levels", name, depth)
			again, err := Marshal(v)
			require.NoError(t, err, "%s, %d levels", name, depth)
			assert.Equal(t, b, again, name)
		}
	}

	type node struct{ Next *node }
	chain := func(n int) *node {
		var head *node
		for i := 0; i < n; i++ {
			head = &node{Next: head}
		}
		return head
	}
	_, err := Marshal(chain(MaxDepth)) // 128 maps on the wire, each behind a pointer
	require.NoError(t, err)
	_, err = Marshal(chain(MaxDepth + 1))
	require.ErrorIs(t, err, ErrUnsendable)
	var loop any
	loop = &loop // pointers and interfaces alone, around a cycle
	_, err = Marshal(loop)
	require.ErrorIs(t, err, ErrUnsendable)
}

// A long method name is quoted whole up to 200 bytes, then cut at a character boundary with
// its length: errors quote the caller's names, and a megabyte name made a two-megabyte error.
func TestQuoteNameCutsLongNames(t *testing.T) {
	assert.Equal(t, `"echo"`, QuoteName("echo"))
	assert.Equal(t, `"ec\xffho"`, QuoteName("ec\xffho"))
	long := strings.Repeat("é", 150) // 300 bytes
	q := QuoteName(long)
	assert.Equal(t, `"`+strings.Repeat("é", 100)+`"... (300 bytes)`, q)
	huge := strings.Repeat("m", 1<<20)
	_, err := NewEncoder().Request(1, huge, []any{make(chan int)})
	require.Error(t, err)
	assert.Less(t, len(err.Error()), 1000)
	assert.Contains(t, err.Error(), "... (1048576 bytes)")
}

// Out-of-range arguments to the exported helpers are answered, never a panic: Skip with a
// negative offset ("index out of range [-1]") and CutText with a negative length ("slice
// bounds out of range [:-1]") panicked.
func TestHelpersTakeOutOfRangeArguments(t *testing.T) {
	b, err := Marshal([]any{1, 2})
	require.NoError(t, err)
	for _, off := range []int{-1, math.MinInt} {
		_, err = Skip(b, off)
		require.ErrorContains(t, err, "offset "+strconv.Itoa(off)+" is negative")
	}
	_, err = Skip(b, len(b)+10)
	require.ErrorContains(t, err, "cut short")
	require.Equal(t, "", CutText("abc", -1))
	require.Equal(t, "", CutText("abc", math.MinInt))
	require.Equal(t, "abc", CutText("abc", math.MaxInt))
	require.Equal(t, "a", CutText("aé", 2))
}

// The Encoder writes the envelope's integers and the method's str header itself: byte for
// byte what the library writes, at every width.
func TestEnvelopeEncodesAsTheLibraryDoes(t *testing.T) {
	ids := []uint32{0, 1, 127, 128, 255, 256, 65535, 65536, 1 << 31, math.MaxUint32}
	lengths := []int{0, 1, 31, 32, 255, 256, 65535, 65536}
	lib := func(v ...any) []byte { // the library, with the Encoder's profile
		b, err := Marshal(v)
		require.NoError(t, err)
		return b
	}
	e := NewEncoder()
	for _, id := range ids {
		for _, n := range lengths {
			method := strings.Repeat("m", n)
			frame, err := e.Request(id, method, []any{"p"})
			require.NoError(t, err)
			assert.Equal(t, lib(0, id, method, []any{"p"}), frame[4:], "request id %d, method of %d bytes", id, n)
			frame, err = e.Notification(method, []any{"p"})
			require.NoError(t, err)
			assert.Equal(t, lib(2, method, []any{"p"}), frame[4:], "notification, method of %d bytes", n)
		}
		frame, err := e.Result(id, "r")
		require.NoError(t, err)
		assert.Equal(t, lib(1, id, nil, "r"), frame[4:], "result id %d", id)
	}
}

// scalarResult, DecodeMessage's way around the scanner, decodes exactly what the general
// decoder decodes, and leaves every frame it does not take (the broken ones included) to it.
func TestScalarResultAgreesWithDecodeMessage(t *testing.T) {
	results := []any{nil, true, false, 0, 127, -1, -32, -33, 255, 65535, 1 << 20, int64(-1 << 40), uint64(1 << 63),
		float32(1.5), 2.25, "", "é", strings.Repeat("s", 31), strings.Repeat("s", 32), strings.Repeat("s", 256),
		strings.Repeat("s", 65536), []byte{}, []byte{1}, make([]byte, 300), make([]byte, 70000),
		time.Unix(1, 0), time.Unix(1<<34, 5), []any{1}, map[string]any{"a": 1}}
	e := NewEncoder()
	taken := 0
	for _, id := range []uint32{0, 127, 128, 255, 256, 65535, 65536, math.MaxUint32} {
		for _, r := range results {
			frame, err := e.Result(id, r)
			require.NoError(t, err)
			body := append([]byte(nil), frame[4:]...)
			variants := [][]byte{body, body[:len(body)-1], append(append([]byte(nil), body...), 0xc0)}
			wide := append([]byte{0x94, 0x01, 0xcf, 0, 0, 0, 0}, body[2:]...) // an id in 8 bytes
			variants = append(variants, wide)
			for _, b := range variants {
				for _, limit := range []int{0, 4, 5} {
					fast, ok := scalarResult(b, limit)
					slow, err := decodeMessage(b, limit)
					if !ok {
						continue
					}
					taken++
					require.NoError(t, err, "%x, limit %d", b, limit)
					require.Equal(t, slow, fast, "%x, limit %d", b, limit)
				}
			}
		}
	}
	require.Greater(t, taken, 100)
	// Not a successful response, or not a scalar result: the general decoder decides.
	for _, b := range [][]byte{{0x94, 0x00, 0x01, 0xa1, 'm', 0x90}, {0x93, 0x02, 0xa1, 'm', 0x90},
		{0x94, 0x01, 0x01, 0x82, 0xa4, 't', 'y', 'p', 'e', 0xa1, 'E', 0xa7, 'm', 'e', 's', 's', 'a', 'g', 'e', 0xa0, 0xc0},
		{0x94, 0x01, 0x01, 0xc0, 0x91, 0x01}, {0x94, 0x01, 0x01, 0xc0, 0xc1}, {0x94, 0x01, 0xd0, 0x01, 0xc0, 0x01}} {
		_, ok := scalarResult(b, 0)
		require.False(t, ok, "%x", b)
	}
}

// The Encoder writes a []any's array header and its str elements itself: byte for byte
// what the library writes, at every length, for any bytes (UTF-8 or not) and mixed with
// values the library writes.
func TestParamsEncodeAsTheLibraryDoes(t *testing.T) {
	strs := []string{"", "s", "\xff\xfe", "é", strings.Repeat("s", 31), strings.Repeat("s", 32),
		strings.Repeat("s", 255), strings.Repeat("s", 256), strings.Repeat("s", 65535), strings.Repeat("s", 65536)}
	e := NewEncoder()
	for _, n := range []int{0, 1, 15, 16, 17, 300} {
		params := make([]any, n)
		for i := range params {
			if i%3 == 2 {
				params[i] = i // an int between the strs
			} else {
				params[i] = strs[i%len(strs)]
			}
		}
		want, err := Marshal([]any{0, 7, "m", params})
		require.NoError(t, err)
		frame, err := e.Request(7, "m", params)
		require.NoError(t, err)
		assert.Equal(t, want, frame[4:], "%d params", n)
	}
}

// UnmarshalChecked reads a str into a *string without the check, and checks everything else
// as Unmarshal does: bytes that were never checked (cut short, with bytes left over, a bomb)
// get Unmarshal's errors, never a panic.
func TestUnmarshalCheckedTakesUncheckedBytes(t *testing.T) {
	inputs := [][]byte{nil, {}, {0xa1}, {0xa1, 'x', 'y'}, {0xd9}, {0xd9, 5, 'a'}, {0xda, 0}, {0xda, 0, 1, 'a'},
		{0xdb, 0, 0, 0}, {0xdb, 0xff, 0xff, 0xff, 0xff, 'a'}, {0xa0}, {0xa3, 'a', 'b', 'c'}, {0xd9, 1, 'z'},
		{0xc4, 1, 'b'}, {0xc0}, {0x01}, {0xdd, 0xff, 0xff, 0xff, 0xff}, {0x91, 0xa1, 'x'}, {0xc1}}
	for _, b := range inputs {
		var cs, us string
		cerr, uerr := UnmarshalChecked(b, &cs), Unmarshal(b, &us)
		assert.Equal(t, uerr == nil, cerr == nil, "% x: %v / %v", b, cerr, uerr)
		assert.Equal(t, us, cs, "% x", b)
		var ca, ua any
		cerr, uerr = UnmarshalChecked(b, &ca), Unmarshal(b, &ua)
		assert.Equal(t, uerr == nil, cerr == nil, "% x into *any: %v / %v", b, cerr, uerr)
		assert.Equal(t, ua, ca, "% x into *any", b)
		var cl, ul []int
		cerr, uerr = UnmarshalChecked(b, &cl), Unmarshal(b, &ul)
		assert.Equal(t, uerr == nil, cerr == nil, "% x into *[]int: %v / %v", b, cerr, uerr)
	}
}
