package protocol

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"math/big"
	"os"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tagged is the language-neutral form of a value in the golden vectors (SPEC.md section 8).
type tagged struct {
	Type    string      `json:"type"`
	Value   any         `json:"value"`
	Bits    string      `json:"bits"`
	Hex     string      `json:"hex"`
	Items   []tagged    `json:"items"`
	Repeat  int         `json:"repeat"`
	Item    *tagged     `json:"item"`
	Entries [][2]tagged `json:"entries"`
	ExtType int8        `json:"ext_type"`
}

type valueVector struct {
	Name     string   `json:"name"`
	Hex      string   `json:"hex"`
	Value    tagged   `json:"value"`
	Features []string `json:"features"`
}

type messageVector struct {
	Name    string `json:"name"`
	Hex     string `json:"hex"`
	Message struct {
		Kind   Kind    `json:"kind"`
		ID     uint32  `json:"id"`
		Method string  `json:"method"`
		Params *tagged `json:"params"`
		Error  *struct {
			Type      string  `json:"type"`
			Message   string  `json:"message"`
			Traceback string  `json:"traceback"`
			Data      *tagged `json:"data"`
		} `json:"error"`
		Result *tagged `json:"result"`
	} `json:"message"`
}

type invalidVector struct {
	Name   string `json:"name"`
	Hex    string `json:"hex"`
	Reason string `json:"reason"`
}

func loadJSON[T any](t testing.TB, name string) []T {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	require.NoError(t, err)
	var out []T
	require.NoError(t, json.Unmarshal(data, &out))
	require.NotEmpty(t, out)
	return out
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

// goValue turns a tagged value into what DecodeValue must return for it.
func goValue(t testing.TB, v tagged) any {
	t.Helper()
	switch v.Type {
	case "nil":
		return nil
	case "bool":
		return v.Value.(bool)
	case "int":
		n, ok := new(big.Int).SetString(v.Value.(string), 10)
		require.True(t, ok)
		if n.IsInt64() {
			return n.Int64()
		}
		return n.Uint64()
	case "float32":
		return math.Float32frombits(binary.BigEndian.Uint32(mustHex(t, v.Bits)))
	case "float64":
		return math.Float64frombits(binary.BigEndian.Uint64(mustHex(t, v.Bits)))
	case "str":
		return v.Value.(string)
	case "bin":
		return mustHex(t, v.Hex)
	case "array":
		items := v.Items
		if v.Item != nil {
			items = make([]tagged, v.Repeat)
			for i := range items {
				items[i] = *v.Item
			}
		}
		out := make([]any, len(items))
		for i, it := range items {
			out[i] = goValue(t, it)
		}
		return out
	case "map":
		allStr := true
		for _, e := range v.Entries {
			allStr = allStr && e[0].Type == "str"
		}
		if allStr {
			m := map[string]any{}
			for _, e := range v.Entries {
				m[e[0].Value.(string)] = goValue(t, e[1])
			}
			return m
		}
		m := map[any]any{}
		for _, e := range v.Entries {
			m[goValue(t, e[0])] = goValue(t, e[1])
		}
		return m
	case "ext":
		if v.ExtType == -1 {
			x, err := decodeTimestamp(mustHex(t, v.Hex))
			require.NoError(t, err)
			return x
		}
		return Ext{Type: v.ExtType, Data: mustHex(t, v.Hex)}
	}
	t.Fatalf("unknown tagged type %q", v.Type)
	return nil
}

// sameValue compares like reflect.DeepEqual, but floats by their bits (so NaN equals NaN and
// -0.0 differs from 0.0) and times by instant.
func sameValue(a, b any) bool {
	switch x := a.(type) {
	case float64:
		y, ok := b.(float64)
		return ok && math.Float64bits(x) == math.Float64bits(y)
	case float32:
		y, ok := b.(float32)
		return ok && math.Float32bits(x) == math.Float32bits(y)
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y)
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !sameValue(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if w, ok := y[k]; !ok || !sameValue(v, w) {
				return false
			}
		}
		return true
	case map[any]any:
		y, ok := b.(map[any]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if w, ok := y[k]; !ok || !sameValue(v, w) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

func TestValueVectors(t *testing.T) {
	for _, vec := range loadJSON[valueVector](t, "values.json") {
		t.Run(vec.Name, func(t *testing.T) {
			raw := mustHex(t, vec.Hex)
			want := goValue(t, vec.Value)

			got, err := DecodeValue(raw)
			require.NoError(t, err)
			require.True(t, sameValue(want, got), "decoded %#v, want %#v", got, want)

			enc, err := Marshal(got)
			require.NoError(t, err)
			if slices.Contains(vec.Features, "int-keys") {
				// Go maps have no order, and only string-keyed maps are sorted on encoding:
				// check the value, not the byte order.
				back, err := DecodeValue(enc)
				require.NoError(t, err)
				assert.True(t, sameValue(want, back))
				assert.Len(t, enc, len(raw))
				return
			}
			assert.Equal(t, vec.Hex, hex.EncodeToString(enc))
		})
	}
}

func TestMessageVectors(t *testing.T) {
	enc := NewEncoder()
	for _, vec := range loadJSON[messageVector](t, "messages.json") {
		t.Run(vec.Name, func(t *testing.T) {
			frame := mustHex(t, vec.Hex)
			body, err := NewFrameReader(bytesReader(frame)).ReadFrame()
			require.NoError(t, err)
			m, err := DecodeMessage(body, 0)
			require.NoError(t, err)
			want := vec.Message
			require.Equal(t, want.Kind, m.Kind)

			var out []byte
			switch m.Kind {
			case KindRequest, KindNotification:
				assert.Equal(t, want.Method, m.Method)
				params, err := DecodeValue(m.Params)
				require.NoError(t, err)
				assert.True(t, sameValue(goValue(t, *want.Params), params), "params %#v", params)
				if m.Kind == KindRequest {
					assert.Equal(t, want.ID, m.ID)
					out, err = enc.Request(m.ID, m.Method, params)
				} else {
					out, err = enc.Notification(m.Method, params)
				}
				require.NoError(t, err)
			case KindResponse:
				assert.Equal(t, want.ID, m.ID)
				if want.Error == nil {
					require.Nil(t, m.Error)
					result, err := DecodeValue(m.Result)
					require.NoError(t, err)
					assert.True(t, sameValue(goValue(t, *want.Result), result))
					out, err = enc.Result(m.ID, result)
					require.NoError(t, err)
				} else {
					require.NotNil(t, m.Error)
					assert.Equal(t, want.Error.Type, m.Error.Type)
					assert.Equal(t, want.Error.Message, m.Error.Message)
					assert.Equal(t, want.Error.Traceback, m.Error.Traceback)
					if want.Error.Data != nil {
						data, err := DecodeValue(m.Error.Data)
						require.NoError(t, err)
						assert.True(t, sameValue(goValue(t, *want.Error.Data), data))
					} else {
						assert.Nil(t, m.Error.Data)
					}
					out, err = enc.Failure(m.ID, m.Error)
					require.NoError(t, err)
				}
			}
			assert.Equal(t, vec.Hex, hex.EncodeToString(out), "re-encoded frame")
		})
	}
}

func TestInvalidVectors(t *testing.T) {
	for _, vec := range loadJSON[invalidVector](t, "invalid.json") {
		t.Run(vec.Name, func(t *testing.T) {
			fr := NewFrameReader(bytesReader(mustHex(t, vec.Hex)))
			body, err := fr.ReadFrame()
			if err == nil {
				_, err = DecodeMessage(body, 0)
			}
			require.Error(t, err, "must be rejected: %s", vec.Reason)
			var perr *Error
			require.ErrorAs(t, err, &perr, "a protocol error, not %T: %v", err, err)
			t.Logf("%s -> %v", vec.Reason, err)
		})
	}
}
