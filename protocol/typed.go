package protocol

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"sync"
)

// What typed decoding (Unmarshal) adds to the msgpack library for the types the library
// decodes itself: a range check of integers, and the place of an error.
//
// The msgpack library stores an integer into a Go integer of any size without a range
// check: 1000 decoded into an int8 became -24, -1 into a uint became 18446744073709551615,
// a uint64 above math.MaxInt64 into an int64 became negative, all with a nil error. Before
// the library decodes, checkInts walks the value beside the Go type it goes into and
// refuses an integer that does not fit, naming where it is, as encoding/json does.

// typeFacts is what typed decoding needs to know of a Go type it decodes into, computed
// once per type (facts caches it): one lookup per value instead of one per question.
type typeFacts struct {
	walks   bool // decodeInto fills it (it holds a struct we fill), not the library alone
	ints    bool // the library stores msgpack integers into Go integers in it (checkInts)
	maps    bool // a map, or a struct we fill, can be reached in it (phpMaps)
	intMaps bool // a map with integer keys can be reached in it (phpMaps' lists)
}

var facts sync.Map // reflect.Type -> *typeFacts

func factsOf(t reflect.Type) *typeFacts {
	if f, ok := facts.Load(t); ok {
		return f.(*typeFacts)
	}
	f := &typeFacts{
		walks:   computeWalks(t, map[reflect.Type]bool{}),
		ints:    computeIntsIn(t, map[reflect.Type]bool{}),
		maps:    computeMapsIn(t, map[reflect.Type]bool{}),
		intMaps: computeIntMapsIn(t, map[reflect.Type]bool{}),
	}
	facts.Store(t, f)
	return f
}

func intsIn(t reflect.Type) bool { return factsOf(t).ints }

func computeIntsIn(t reflect.Type, visiting map[reflect.Type]bool) bool {
	if visiting[t] {
		return false
	}
	visiting[t] = true
	defer delete(visiting, t)
	if decodesItself(t) {
		return false
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return true
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return computeIntsIn(t.Elem(), visiting)
	case reflect.Map:
		return computeIntsIn(t.Key(), visiting) || computeIntsIn(t.Elem(), visiting)
	}
	// A struct is filled field by field by decodeInto, which checks each field as it goes
	// (one with msgpack:",as_array" is the library's own format, left to it).
	return false
}

// checkInts reports the first integer in the checked msgpack value b that does not fit
// where decoding into t would store it, as an error whose text starts with where it is
// below b ("[2].key", "" for b itself); nil if there is none. Values of the wrong kind
// are left for the decoder to report.
func checkInts(b []byte, t reflect.Type) error {
	if !intsIn(t) {
		return nil
	}
	if e := checkIntsIn(b, t); e != nil {
		return e
	}
	return nil
}

// intRangeError is an integer that does not fit its Go type; at is where, below the
// value checkInts was given.
type intRangeError struct {
	at, msg string
}

func (e *intRangeError) Error() string { return e.at + ": " + e.msg }

func checkIntsIn(b []byte, t reflect.Type) *intRangeError {
	if low, high, isInt := intBounds(t); isInt {
		return checkInt(b, t, low, high)
	}
	switch t.Kind() {
	case reflect.Pointer:
		if b[0] == 0xc0 || !intsIn(t.Elem()) {
			return nil
		}
		return checkIntsIn(b, t.Elem())
	case reflect.Slice, reflect.Array:
		et := t.Elem()
		if !intsIn(et) {
			return nil
		}
		c := cursor{b: b}
		n, ok := c.arrayLen() // else a bin for []byte, or a mismatch the decoder reports
		low, high, isInt := intBounds(et)
		for i := 0; ok && i < n; i++ {
			var e *intRangeError
			if vb := c.ints(); vb != nil && isInt {
				e = checkInt(vb, et, low, high)
			} else {
				if vb == nil {
					vb = c.value()
				}
				e = checkIntsIn(vb, et)
			}
			if e != nil {
				e.at = fmt.Sprintf("[%d]", i) + e.at
				return e
			}
		}
	case reflect.Map:
		c := cursor{b: b}
		n, ok := c.mapLen()
		for i := 0; ok && i < n; i++ {
			kb, vb := c.value(), c.value()
			if e := checkIntsIn(kb, t.Key()); e != nil {
				e.at = " key" + e.at
				return e
			}
			if e := checkIntsIn(vb, t.Elem()); e != nil {
				e.at = "[" + keyText(kb) + "]" + e.at
				return e
			}
		}
	}
	return nil
}

// ints returns the integer at the cursor and moves past it, or returns nil if there is
// none: for arrays of integers, quicker than value.
func (c *cursor) ints() []byte {
	x := c.b[c.off]
	size := 1
	switch {
	case x <= 0x7f || x >= 0xe0:
	case x == 0xcc || x == 0xd0:
		size = 2
	case x == 0xcd || x == 0xd1:
		size = 3
	case x == 0xce || x == 0xd2:
		size = 5
	case x == 0xcf || x == 0xd3:
		size = 9
	default:
		return nil
	}
	start := c.off
	c.off += size
	return c.b[start:c.off:c.off]
}

// intBounds returns the range of the Go integer type t (low is 0 for unsigned types), or
// isInt false for other types.
func intBounds(t reflect.Type) (low int64, high uint64, isInt bool) {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return -1 << (t.Bits() - 1), 1<<(t.Bits()-1) - 1, true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return 0, 1<<t.Bits() - 1, true
	}
	return 0, 0, false
}

// checkInt checks the integer at the start of b (anything else is the decoder's to report)
// against the range of t.
func checkInt(b []byte, t reflect.Type, low int64, high uint64) *intRangeError {
	switch x := b[0]; {
	case x <= 0x7f: // a positive fixint fits every Go integer
		return nil
	case low == math.MinInt64 && x != 0xcf: // only a uint64 above MaxInt64 misses an int64
		return nil
	case high == math.MaxUint64 && x >= 0xcc && x <= 0xcf: // no unsigned value misses a uint64
		return nil
	}
	u, neg, ok := readInt(b)
	if ok && (neg && int64(u) < low || !neg && u > high) {
		return &intRangeError{msg: fmt.Sprintf("%s does not fit in %s", intText(u, neg), t)}
	}
	return nil
}

// readInt reads the msgpack integer at the start of b: its magnitude as a uint64 (for a
// negative one, its two's complement) and whether it is negative. ok is false for
// anything else.
func readInt(b []byte) (u uint64, neg, ok bool) {
	c := cursor{b: b}
	if u, ok := c.uint(); ok {
		return u, false, true
	}
	x, p := b[0], b[1:]
	switch {
	case x >= 0xe0:
		return uint64(int64(int8(x))), true, true
	case x == 0xd0:
		return uint64(int64(int8(p[0]))), true, true
	case x == 0xd1:
		return uint64(int64(int16(binary.BigEndian.Uint16(p)))), true, true
	case x == 0xd2:
		return uint64(int64(int32(binary.BigEndian.Uint32(p)))), true, true
	case x == 0xd3:
		return binary.BigEndian.Uint64(p), true, true
	}
	return 0, false, false
}

// maxKeyText is how much of a map key an error shows.
const maxKeyText = 200

// keyText renders the map key kb (checked msgpack) for an error message, as %v does, cut
// to its first 200 bytes with its length when it is longer: a key is the peer's input, and
// a 200 KB bin key made a 400 KB error.
func keyText(kb []byte) string {
	k, _ := DecodeValue(kb)
	s := fmt.Sprintf("%v", k)
	if len(s) <= maxKeyText {
		return s
	}
	return CutText(s, maxKeyText) + "... (" + strconv.Itoa(len(s)) + " bytes)"
}

func intText(u uint64, neg bool) string {
	if neg {
		return fmt.Sprint(int64(u))
	}
	return fmt.Sprint(u)
}

// locate finds, once the library failed to decode b into a t, the innermost element whose
// own decoding fails: its place below b ("[2]", "[key]", " key 1"), its bytes, its type and
// its error, so that the error can say where in the value it is. at is "" when b itself is the
// place (its own shape is wrong, or it holds no container).
func locate(b []byte, t reflect.Type) (at string, eb []byte, et reflect.Type, err error) {
	switch t.Kind() {
	case reflect.Pointer:
		if b[0] != 0xc0 {
			return locate(b, t.Elem())
		}
	case reflect.Slice, reflect.Array:
		c := cursor{b: b}
		n, ok := c.arrayLen()
		for i := 0; ok && i < n; i++ {
			vb := c.value()
			if libraryDecode(vb, t.Elem()) != nil {
				at, eb, et, err := locate(vb, t.Elem())
				return fmt.Sprintf("[%d]", i) + at, eb, et, err
			}
		}
	case reflect.Map:
		c := cursor{b: b}
		n, ok := c.mapLen()
		for i := 0; ok && i < n; i++ {
			kb, vb := c.value(), c.value()
			if libraryDecode(kb, t.Key()) != nil {
				at, eb, et, err := locate(kb, t.Key())
				return " key " + keyText(kb) + at, eb, et, err
			}
			if libraryDecode(vb, t.Elem()) != nil {
				at, eb, et, err := locate(vb, t.Elem())
				return "[" + keyText(kb) + "]" + at, eb, et, err
			}
		}
	}
	return "", b, t, libraryDecode(b, t)
}

// libraryDecode decodes the checked value b into a new t with the msgpack library, as
// Unmarshal does for types it does not walk, and returns its error.
func libraryDecode(b []byte, t reflect.Type) (err error) {
	d := getDecoder(b)
	defer putDecoder(d)
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return d.DecodeValue(reflect.New(t).Elem())
}

// PHP has one array type for lists and maps, so a PHP child sends an empty map (an empty
// associative array, `[]`) as an empty msgpack array, and a map whose keys are 0..n-1 in
// order as a list (SPEC section 7): decoded into a Go map or struct, it failed ("unexpected
// code=90 decoding map length", "cannot decode an array into struct"). decodeInto takes
// such arrays as maps as it goes, for the types it walks; for those the library decodes,
// phpMaps rewrites, in a copy of b, each empty array that goes into a map or struct as an
// empty map, and each array that goes into a map with integer keys as the map of its
// indexes.

func mapsIn(t reflect.Type) bool { return factsOf(t).maps }

func computeMapsIn(t reflect.Type, visiting map[reflect.Type]bool) bool {
	if visiting[t] {
		return false // a recursive type: the outer call sees what it holds
	}
	visiting[t] = true
	defer delete(visiting, t)
	if decodesItself(t) {
		return false
	}
	switch t.Kind() {
	case reflect.Map:
		return true
	case reflect.Struct:
		return !planFor(t).asArray
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return computeMapsIn(t.Elem(), visiting)
	}
	return false
}

// decodesItself reports a type the msgpack library hands its bytes to (time.Time, a custom
// decoder): nothing inside it is ours to look at.
func decodesItself(t reflect.Type) bool {
	return t == timeType || reflect.PointerTo(t).Implements(customDecoder) || reflect.PointerTo(t).Implements(msgpackUnmarshl) ||
		t.Implements(customDecoder) || t.Implements(msgpackUnmarshl)
}

// phpMaps returns b, or a copy of it in which every empty array that decoding into t
// puts into a map or a struct is an empty map, and every array that it puts into a map with
// integer keys is the map of the array's indexes to its elements.
func phpMaps(b []byte, t reflect.Type) []byte {
	f := factsOf(t)
	if !f.maps { // the type first: a scan of a large result costs more
		return b
	}
	if !f.intMaps && bytes.IndexByte(b, 0x90) < 0 {
		return b
	}
	w := mapWalk{b: b}
	w.walk(0, t)
	if w.out == nil {
		return b
	}
	return append(w.out, b[w.done:]...)
}

// mapWalk walks a checked value beside its Go type. Its rewrites go into out, which
// holds b up to done with the rewrites made so far (nil until the first one); they come
// in the order of their offsets, as the walk goes.
type mapWalk struct {
	b    []byte
	out  []byte
	done int
}

// replace puts repl in place of b[start:end] (start >= done).
func (w *mapWalk) replace(start, end int, repl ...byte) {
	if w.out == nil {
		w.out = make([]byte, 0, len(w.b)+len(w.b)/4+16)
	}
	w.out = append(w.out, w.b[w.done:start]...)
	w.out = append(w.out, repl...)
	w.done = end
}

func (w *mapWalk) walk(off int, t reflect.Type) {
	if !mapsIn(t) || w.b[off] == 0xc0 {
		return
	}
	c := cursor{b: w.b, off: off}
	switch t.Kind() {
	case reflect.Pointer:
		w.walk(off, t.Elem())
	case reflect.Slice, reflect.Array:
		n, ok := c.arrayLen()
		for i := 0; ok && i < n; i++ {
			start := c.off
			c.value()
			w.walk(start, t.Elem())
		}
	case reflect.Map, reflect.Struct:
		if w.b[off] == 0x90 {
			w.replace(off, off+1, 0x80)
			return
		}
		if t.Kind() == reflect.Map && isIntKind(t.Key().Kind()) {
			if n, ok := c.arrayLen(); ok { // PHP's map of keys 0..n-1: a list
				w.replace(off, c.off, mapHeader(n)...)
				for i := 0; i < n; i++ {
					start := c.off
					w.replace(start, start, uintBytes(uint64(i))...)
					c.value()
					w.walk(start, t.Elem())
				}
				return
			}
		}
		n, ok := c.mapLen()
		for i := 0; ok && i < n; i++ {
			var vt reflect.Type
			if t.Kind() == reflect.Map {
				vt = t.Elem()
				c.value() // keys are not maps
			} else if k, isStr := c.str(); isStr {
				if f := planFor(t).lookup(string(k)); f != nil {
					vt = t.FieldByIndex(f.index).Type
				}
			} else {
				c.value()
			}
			start := c.off
			c.value()
			if vt != nil {
				w.walk(start, vt)
			}
		}
	}
}

func intMapsIn(t reflect.Type) bool { return factsOf(t).intMaps }

func computeIntMapsIn(t reflect.Type, visiting map[reflect.Type]bool) bool {
	if visiting[t] || decodesItself(t) {
		return false
	}
	visiting[t] = true
	defer delete(visiting, t)
	switch t.Kind() {
	case reflect.Map:
		return isIntKind(t.Key().Kind()) || computeIntMapsIn(t.Elem(), visiting)
	case reflect.Struct:
		if planFor(t).asArray {
			return false
		}
		for i := range t.NumField() {
			if computeIntMapsIn(t.Field(i).Type, visiting) {
				return true
			}
		}
		return false
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return computeIntMapsIn(t.Elem(), visiting)
	}
	return false
}

func isIntKind(k reflect.Kind) bool {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return true
	}
	return false
}

// mapHeader is the msgpack header of a map of n entries.
func mapHeader(n int) []byte {
	switch {
	case n < 16:
		return []byte{0x80 | byte(n)}
	case n < 1<<16:
		return []byte{0xde, byte(n >> 8), byte(n)}
	}
	return []byte{0xdf, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
}

// uintBytes is the shortest msgpack encoding of v.
func uintBytes(v uint64) []byte {
	switch {
	case v < 128:
		return []byte{byte(v)}
	case v < 1<<8:
		return []byte{0xcc, byte(v)}
	case v < 1<<16:
		return []byte{0xcd, byte(v >> 8), byte(v)}
	}
	return []byte{0xce, byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}
