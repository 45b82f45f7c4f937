package protocol

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// Ext is a msgpack ext value of a type v1 gives no meaning to: its type code and its bytes.
// It encodes back to the same bytes.
type Ext struct {
	Type int8
	Data []byte
}

var _ msgpack.CustomEncoder = Ext{}

// EncodeMsgpack writes the ext value.
func (x Ext) EncodeMsgpack(enc *msgpack.Encoder) error {
	if err := enc.EncodeExtHeader(x.Type, len(x.Data)); err != nil {
		return err
	}
	_, err := enc.Writer().Write(x.Data)
	return err
}

// DecodeValue decodes one msgpack value into Go values, following SPEC.md section 7:
//
//	nil -> nil, bool -> bool, integers -> int64 (uint64 above math.MaxInt64),
//	float32 -> float32, float64 -> float64, str -> string, bin -> []byte,
//	array -> []any, map with str keys -> map[string]any,
//	map with other keys -> map[any]any (only int and str keys; others are an error),
//	ext -1 -> time.Time, other ext -> Ext.
//
// b is checked first (see Check), so untrusted bytes cannot make it allocate more than
// about len(b) times a small factor. The result does not alias b.
func DecodeValue(b []byte) (any, error) {
	if err := Check(b, MaxDepth); err != nil {
		return nil, err
	}
	d := getDecoder(b)
	defer putDecoder(d)
	return decodeAny(d.Decoder)
}

// Unmarshal decodes one msgpack value into v, which must be a non-nil pointer. A
// *msgpack.RawMessage receives a copy of the bytes. For *any, *[]any and *map[string]any it
// uses the mapping of DecodeValue (as it does for interface values anywhere inside v).
//
// A map fills a struct field by field: each key goes to the field whose `msgpack:"..."` tag
// names it, else whose `json:"..."` tag names it, else whose name it is, else whose name it
// is up to case, as encoding/json matches; embedded structs are flattened. Keys that match
// no field are ignored, but a non-empty map none of whose keys matches a field is an error
// naming the keys and the fields, never a struct silently left zero. An integer that does
// not fit the Go integer it goes into (1000 into an int8, -1 into a uint) is an error
// naming where it is, never a number silently wrapped. An empty array goes into a map or a
// struct as an empty map, and an array into a map with integer keys as the map of its
// indexes: PHP sends an empty map, and a map with keys 0..n-1, so (SPEC section 7). Other
// types follow
// github.com/vmihailenco/msgpack/v5; an error inside a slice, array or map names the
// element ("the value[2][key]: cannot decode a str into int"). b is checked first as
// DecodeValue does, and a panic in the decoder becomes an error.
func Unmarshal(b []byte, v any) (err error) {
	if err := Check(b, MaxDepth); err != nil {
		return err
	}
	return unmarshalChecked(b, v)
}

// UnmarshalChecked is Unmarshal for bytes already checked: the Params or the Result of a
// Message from DecodeMessage, or bytes Check accepted with MaxDepth. A str going into a
// *string, a call's commonest result, is read without a second check (its bounds are still
// verified); anything else is checked as Unmarshal checks it, so bytes that were not
// checked are safe here too, only not faster.
func UnmarshalChecked(b []byte, v any) error {
	if p, ok := v.(*string); ok && p != nil {
		if s, ok := wholeStr(b); ok {
			*p = string(s)
			return nil
		}
	}
	return Unmarshal(b, v)
}

// wholeStr returns the bytes of the str that b holds, when b holds exactly one str.
func wholeStr(b []byte) ([]byte, bool) {
	n, head, ok := strHeader(b, 0)
	if !ok || 1+head+n != len(b) {
		return nil, false
	}
	return b[1+head:], true
}

// unmarshalChecked is Unmarshal after its check.
func unmarshalChecked(b []byte, v any) (err error) {
	switch p := v.(type) {
	case *string:
		// The commonest result, without a decoder. Anything else (bin, nil, a mismatch)
		// goes the general way below, with its conversions and errors.
		if s, ok := wholeStr(b); ok && p != nil {
			*p = string(s)
			return nil
		}
	case *msgpack.RawMessage:
		*p = append((*p)[:0], b...)
		return nil
	case *any:
		x, err := DecodeValue(b)
		if err == nil {
			*p = x
		}
		return err
	case *[]any, *map[string]any:
		x, err := DecodeValue(b)
		if err != nil {
			return err
		}
		if x == nil {
			reflect.ValueOf(v).Elem().SetZero()
			return nil
		}
		if p, ok := v.(*map[string]any); ok && b[0] == 0x90 { // PHP's empty map: see phpMaps
			*p = map[string]any{}
			return nil
		}
		xv := reflect.ValueOf(x)
		if !xv.Type().AssignableTo(reflect.TypeOf(v).Elem()) {
			return fmt.Errorf("protocol: cannot decode %s into %T", describe(b[0]), v)
		}
		reflect.ValueOf(v).Elem().Set(xv)
		return nil
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("protocol: cannot decode into %T: want a non-nil pointer", v)
	}
	if walks(rv.Elem().Type()) { // it takes PHP's maps (see phpMaps) as it goes
		defer func() { // as for the library below: a panic is an error, not the caller's crash
			if r := recover(); r != nil {
				err = fmt.Errorf("protocol: cannot decode into %T: %v", v, r)
			}
		}()
		if err := decodeInto(b, rv.Elem(), &path{root: "the value"}); err != nil {
			return fmt.Errorf("protocol: %w", err)
		}
		return nil
	}
	b = phpMaps(b, rv.Elem().Type())
	if err := checkInts(b, rv.Elem().Type()); err != nil {
		return fmt.Errorf("protocol: the value%w", err)
	}
	d := getDecoder(b)
	defer putDecoder(d)
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("protocol: cannot decode into %T: %v", v, r)
		}
	}()
	if err := d.Decode(v); err != nil {
		if at, eb, et, inner := locate(b, rv.Elem().Type()); at != "" && inner != nil {
			return fmt.Errorf("protocol: cannot decode into %T: the value%s: cannot decode %s into %s: %w", v, at, describe(eb[0]), et, inner)
		}
		return fmt.Errorf("protocol: cannot decode into %T: %w", v, err)
	}
	return nil
}

type decoder struct {
	*msgpack.Decoder
	r bytes.Reader
}

var decoderPool = sync.Pool{New: func() any {
	d := &decoder{}
	d.Decoder = msgpack.NewDecoder(&d.r)
	d.SetCustomStructTag("json")
	return d
}}

func getDecoder(b []byte) *decoder {
	d := decoderPool.Get().(*decoder)
	d.r.Reset(b)
	d.ResetReader(&d.r)
	d.SetMapDecoder(decodeMap) // after ResetReader, which clears it
	return d
}

func putDecoder(d *decoder) {
	d.r.Reset(nil)
	decoderPool.Put(d)
}

// decodeAny decodes the next value with the mapping of DecodeValue. The bytes have been
// checked, so counts are trustworthy.
func decodeAny(d *msgpack.Decoder) (any, error) {
	c, err := d.PeekCode()
	if err != nil {
		return nil, err
	}
	switch {
	case c == msgpcode.Nil:
		return nil, d.DecodeNil()
	case c == msgpcode.False || c == msgpcode.True:
		return d.DecodeBool()
	case msgpcode.IsFixedNum(c), c == msgpcode.Int8, c == msgpcode.Int16, c == msgpcode.Int32,
		c == msgpcode.Int64, c == msgpcode.Uint8, c == msgpcode.Uint16, c == msgpcode.Uint32:
		return d.DecodeInt64()
	case c == msgpcode.Uint64:
		u, err := d.DecodeUint64()
		if err != nil || u > math.MaxInt64 {
			return u, err
		}
		return int64(u), nil
	case c == msgpcode.Float:
		return d.DecodeFloat32()
	case c == msgpcode.Double:
		return d.DecodeFloat64()
	case msgpcode.IsString(c):
		return d.DecodeString()
	case msgpcode.IsBin(c):
		return d.DecodeBytes()
	case msgpcode.IsFixedArray(c), c == msgpcode.Array16, c == msgpcode.Array32:
		n, err := d.DecodeArrayLen()
		if err != nil {
			return nil, err
		}
		s := make([]any, n)
		for i := range s {
			if s[i], err = decodeAny(d); err != nil {
				return nil, err
			}
		}
		return s, nil
	case msgpcode.IsFixedMap(c), c == msgpcode.Map16, c == msgpcode.Map32:
		return decodeMap(d)
	case msgpcode.IsExt(c):
		id, n, err := d.DecodeExtHeader()
		if err != nil {
			return nil, err
		}
		data := make([]byte, n)
		if err := d.ReadFull(data); err != nil {
			return nil, err
		}
		if id == -1 {
			return decodeTimestamp(data)
		}
		return Ext{Type: id, Data: data}, nil
	}
	return nil, fmt.Errorf("protocol: invalid msgpack byte 0x%02x", c)
}

// decodeMap decodes a map into map[string]any when every key is a str, else map[any]any.
func decodeMap(d *msgpack.Decoder) (any, error) {
	n, err := d.DecodeMapLen()
	if err != nil || n < 0 {
		return nil, err
	}
	m := make(map[string]any, n)
	for i := 0; i < n; i++ {
		c, err := d.PeekCode()
		if err != nil {
			return nil, err
		}
		if !msgpcode.IsString(c) {
			return decodeAnyKeyMap(d, m, n-i)
		}
		k, err := d.DecodeString()
		if err != nil {
			return nil, err
		}
		if m[k], err = decodeAny(d); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// decodeAnyKeyMap finishes a map that has a key other than str, copying what was decoded so
// far. Keys must be integers or strs: other types cannot be map keys in every language.
func decodeAnyKeyMap(d *msgpack.Decoder, done map[string]any, left int) (any, error) {
	m := make(map[any]any, len(done)+left)
	for k, v := range done {
		m[k] = v
	}
	for i := 0; i < left; i++ {
		k, err := decodeAny(d)
		if err != nil {
			return nil, err
		}
		switch k.(type) {
		case int64, uint64, string:
		default:
			return nil, fmt.Errorf("protocol: a map key of Go type %T is not supported; map keys are str or integer", k)
		}
		if m[k], err = decodeAny(d); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// decodeTimestamp decodes the msgpack timestamp ext (type -1) in its 4, 8 or 12-byte form.
func decodeTimestamp(b []byte) (any, error) {
	switch len(b) {
	case 4:
		return time.Unix(int64(binary.BigEndian.Uint32(b)), 0).UTC(), nil
	case 8:
		v := binary.BigEndian.Uint64(b)
		return time.Unix(int64(v&0x3ffffffff), int64(v>>34)).UTC(), nil
	case 12:
		ns := binary.BigEndian.Uint32(b)
		return time.Unix(int64(binary.BigEndian.Uint64(b[4:])), int64(ns)).UTC(), nil
	}
	return nil, fmt.Errorf("protocol: a timestamp ext has 4, 8 or 12 bytes, got %d", len(b))
}
