package protocol

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/vmihailenco/msgpack/v5"
)

func addSeeds(f *testing.F, frames bool) {
	for _, v := range loadJSON[valueVector](f, "values.json") {
		if len(v.Hex) < 4096 {
			b, _ := hex.DecodeString(v.Hex)
			f.Add(b)
		}
	}
	for _, v := range loadJSON[messageVector](f, "messages.json") {
		b, _ := hex.DecodeString(v.Hex)
		if !frames {
			b = b[4:]
		}
		f.Add(b)
	}
	for _, v := range loadJSON[invalidVector](f, "invalid.json") {
		if len(v.Hex) < 4096 {
			b, _ := hex.DecodeString(v.Hex)
			if !frames && len(b) >= 4 {
				b = b[4:]
			}
			f.Add(b)
		}
	}
}

// FuzzDecodeMessage: no input may panic, and what decodes must re-encode and decode to the
// same message.
func FuzzDecodeMessage(f *testing.F) {
	addSeeds(f, false)
	enc := NewEncoder()
	f.Fuzz(func(t *testing.T, body []byte) {
		if fast, ok := scalarResult(body, 0); ok {
			slow, err := decodeMessage(body, 0)
			if err != nil || !reflect.DeepEqual(fast, slow) {
				t.Fatalf("scalarResult took %x as %+v; the general decoder: %+v, %v", body, fast, slow, err)
			}
		}
		m, err := DecodeMessage(body, 0)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		var frame []byte
		switch m.Kind {
		case KindRequest:
			frame, err = enc.Request(m.ID, m.Method, rawParams(m.Params))
		case KindNotification:
			frame, err = enc.Notification(m.Method, rawParams(m.Params))
		case KindResponse:
			if m.Error != nil {
				frame, err = enc.Failure(m.ID, m.Error)
			} else {
				frame, err = enc.Result(m.ID, rawParams(m.Result))
			}
		}
		if err != nil {
			t.Fatalf("re-encoding %+v: %v", m, err)
		}
		m2, err := DecodeMessage(frame[4:], 0)
		if err != nil {
			t.Fatalf("re-encoded message does not decode: %v", err)
		}
		if m2.Kind != m.Kind || m2.ID != m.ID || m2.Method != m.Method || !bytes.Equal(m2.Params, m.Params) {
			t.Fatalf("round trip changed the message: %+v -> %+v", m, m2)
		}
		if m.Error == nil {
			if !bytes.Equal(m2.Result, m.Result) {
				t.Fatalf("round trip changed the result: %x -> %x", m.Result, m2.Result)
			}
		} else if m2.Error.Type != m.Error.Type || m2.Error.Message != m.Error.Message ||
			m2.Error.Traceback != m.Error.Traceback || !bytes.Equal(m2.Error.Data, m.Error.Data) {
			// The result of a failed response is dropped, as SPEC 4.1 says receivers ignore it.
			t.Fatalf("round trip changed the error: %+v -> %+v", *m.Error, *m2.Error)
		}
	})
}

// FuzzDecodeValue: no input may panic or allocate without bound.
func FuzzDecodeValue(f *testing.F) {
	addSeeds(f, false)
	f.Fuzz(func(t *testing.T, b []byte) {
		// UnmarshalChecked takes any bytes, checked or not, as Unmarshal does.
		var cs, us string
		if cerr, uerr := UnmarshalChecked(b, &cs), Unmarshal(b, &us); (cerr == nil) != (uerr == nil) || cs != us {
			t.Fatalf("UnmarshalChecked(% x, *string) = %q, %v; Unmarshal: %q, %v", b, cs, cerr, us, uerr)
		}
		v, err := DecodeValue(b)
		if err != nil {
			return
		}
		if _, err := Marshal(v); err != nil {
			t.Fatalf("decoded %#v does not encode: %v", v, err)
		}
		var x struct {
			A []int                  `msgpack:"a"`
			M map[string]any         `msgpack:"m"`
			I map[int]map[int8][]int `msgpack:"i"` // arrays taken as maps (PHP's lists)
		}
		_ = Unmarshal(b, &x)
		var im []map[uint8]any
		_ = Unmarshal(b, &im)
		var am map[any]struct{ A int } // walked, with keys any value may go into
		_ = Unmarshal(b, &am)
		var s, want string // Unmarshal's short way for *string agrees with the decoder
		if Check(b, MaxDepth) != nil {
			return // (the decoder alone would take a value followed by more bytes)
		}
		if err, werr := Unmarshal(b, &s), msgpack.Unmarshal(b, &want); (err == nil) != (werr == nil) || s != want {
			t.Fatalf("Unmarshal(% x, *string) = %q, %v; the decoder: %q, %v", b, s, err, want, werr)
		}
	})
}

// FuzzFrameReader: any stream yields frames or errors, never a panic.
func FuzzFrameReader(f *testing.F) {
	addSeeds(f, true)
	f.Fuzz(func(t *testing.T, stream []byte) {
		fr := NewFrameReader(bytes.NewReader(stream))
		fr.SetMaxFrameSize(1 << 16)
		for i := 0; i < 100; i++ {
			body, err := fr.ReadFrame()
			if err != nil {
				return
			}
			_, _ = DecodeMessage(body, 0)
		}
	})
}

func rawParams(b []byte) any { return msgpack.RawMessage(b) }

// FuzzEncoder: whatever value and method name a caller gives, the Encoder either refuses it
// with ErrUnsendable (nothing is sent, SPEC section 3) or produces a frame that every
// receiver must accept: one message with a UTF-8 method, within the nesting depth and the
// value count, that decodes to the same method.
func FuzzEncoder(f *testing.F) {
	for _, v := range loadJSON[valueVector](f, "values.json") {
		if len(v.Hex) < 4096 {
			b, _ := hex.DecodeString(v.Hex)
			f.Add("echo", b, uint16(0))
		}
	}
	f.Add("\xff", []byte{0x90}, uint16(0))
	f.Add("m", bytes.Repeat([]byte{0x91}, 127), uint16(0))
	f.Add("m", append(bytes.Repeat([]byte{0x91}, 126), 0xc0), uint16(0))
	f.Add("m", []byte{0xdc, 0x00, 0x20}, uint16(20))
	enc := NewEncoder()
	f.Fuzz(func(t *testing.T, method string, raw []byte, maxValues uint16) {
		v, err := DecodeValue(raw)
		if err != nil {
			return
		}
		limit := int(maxValues)
		if limit < 16 {
			limit = DefaultMaxValues
		}
		enc.SetMaxValues(limit)
		for _, build := range []func() ([]byte, error){
			func() ([]byte, error) { return enc.Request(7, method, []any{v}) },
			func() ([]byte, error) { return enc.Notification(method, []any{v}) },
		} {
			frame, err := build()
			if err != nil {
				if !errors.Is(err, ErrUnsendable) {
					t.Fatalf("an Encoder error that is not ErrUnsendable: %v", err)
				}
				continue
			}
			if !utf8.ValidString(method) {
				t.Fatalf("sent a method name that is not UTF-8: %q", method)
			}
			m, err := DecodeMessage(frame[4:], limit)
			if err != nil {
				t.Fatalf("the Encoder produced a frame the receiver must reject: %v", err)
			}
			if m.Method != method {
				t.Fatalf("method %q came back as %q", method, m.Method)
			}
		}
	})
}
