package main

import (
	"encoding/binary"
	"errors"
	"math"
	"sort"
	"strconv"
	"time"
	"unsafe"

	"github.com/polyfork/polyfork/protocol"
)

// errNotStreamable says that transcodeJSON leaves a value to the decoded path (toJSON of
// protocol.DecodeValue), which gives it its error: a map key that is neither str nor
// integer, a malformed timestamp.
var errNotStreamable = errors.New("not streamable")

// checkMsgpackJSON checks that writeMsgpackJSON can write the msgpack value b whole:
// errNotStreamable for what the decoded path (toJSON of protocol.DecodeValue) must answer
// (a map key neither str nor integer, a malformed timestamp), or the error toJSON would
// give (a key collision).
//
// Together they write b as toJSON(protocol.DecodeValue(b)) would, without decoding it into
// Go values: strings and bytes go from b to the writer, and what is held while a slow
// client reads is b alone, whose size is what -max-result-inflight counts. (A decoded
// array of small integers takes 16 bytes an element, its msgpack 1.)
func checkMsgpackJSON(b []byte) error {
	if err := protocol.Check(b, protocol.MaxDepth); err != nil {
		return err // offsets below trust b's counts
	}
	_, err := scanJSON(b, 0)
	return err
}

// mpHead reads the header of the value at b[i]: its kind, and for a str, bin or ext the
// offset and length of its payload, for an array or map its count, for a number its
// value. It returns the offset just past the header (past the whole value for scalars).
type mpHead struct {
	kind   byte // 'n' nil, 'b' bool, 'i' int64, 'u' uint64, 'f' float32, 'd' float64, 's', 'x' bin, 'a', 'm', 'e' ext
	bool   bool
	i      int64
	u      uint64
	f      float64
	n      int // count of an array or map; payload length of str, bin, ext
	extTyp int8
	next   int // offset past the header (scalars: past the value; str, bin, ext: of the payload)
}

func readHead(b []byte, i int) mpHead {
	c := b[i]
	be16 := func(o int) int { return int(binary.BigEndian.Uint16(b[o:])) }
	be32 := func(o int) int { return int(binary.BigEndian.Uint32(b[o:])) }
	switch {
	case c <= 0x7f:
		return mpHead{kind: 'i', i: int64(c), next: i + 1}
	case c >= 0xe0:
		return mpHead{kind: 'i', i: int64(int8(c)), next: i + 1}
	case c >= 0xa0 && c <= 0xbf:
		return mpHead{kind: 's', n: int(c & 0x1f), next: i + 1}
	case c >= 0x90 && c <= 0x9f:
		return mpHead{kind: 'a', n: int(c & 0x0f), next: i + 1}
	case c >= 0x80 && c <= 0x8f:
		return mpHead{kind: 'm', n: int(c & 0x0f), next: i + 1}
	}
	switch c {
	case 0xc0:
		return mpHead{kind: 'n', next: i + 1}
	case 0xc2, 0xc3:
		return mpHead{kind: 'b', bool: c == 0xc3, next: i + 1}
	case 0xcc:
		return mpHead{kind: 'i', i: int64(b[i+1]), next: i + 2}
	case 0xcd:
		return mpHead{kind: 'i', i: int64(binary.BigEndian.Uint16(b[i+1:])), next: i + 3}
	case 0xce:
		return mpHead{kind: 'i', i: int64(binary.BigEndian.Uint32(b[i+1:])), next: i + 5}
	case 0xcf:
		u := binary.BigEndian.Uint64(b[i+1:])
		if u > math.MaxInt64 {
			return mpHead{kind: 'u', u: u, next: i + 9}
		}
		return mpHead{kind: 'i', i: int64(u), next: i + 9}
	case 0xd0:
		return mpHead{kind: 'i', i: int64(int8(b[i+1])), next: i + 2}
	case 0xd1:
		return mpHead{kind: 'i', i: int64(int16(binary.BigEndian.Uint16(b[i+1:]))), next: i + 3}
	case 0xd2:
		return mpHead{kind: 'i', i: int64(int32(binary.BigEndian.Uint32(b[i+1:]))), next: i + 5}
	case 0xd3:
		return mpHead{kind: 'i', i: int64(binary.BigEndian.Uint64(b[i+1:])), next: i + 9}
	case 0xca:
		return mpHead{kind: 'f', f: float64(math.Float32frombits(binary.BigEndian.Uint32(b[i+1:]))), next: i + 5}
	case 0xcb:
		return mpHead{kind: 'd', f: math.Float64frombits(binary.BigEndian.Uint64(b[i+1:])), next: i + 9}
	case 0xd9:
		return mpHead{kind: 's', n: int(b[i+1]), next: i + 2}
	case 0xda:
		return mpHead{kind: 's', n: be16(i + 1), next: i + 3}
	case 0xdb:
		return mpHead{kind: 's', n: be32(i + 1), next: i + 5}
	case 0xc4:
		return mpHead{kind: 'x', n: int(b[i+1]), next: i + 2}
	case 0xc5:
		return mpHead{kind: 'x', n: be16(i + 1), next: i + 3}
	case 0xc6:
		return mpHead{kind: 'x', n: be32(i + 1), next: i + 5}
	case 0xdc:
		return mpHead{kind: 'a', n: be16(i + 1), next: i + 3}
	case 0xdd:
		return mpHead{kind: 'a', n: be32(i + 1), next: i + 5}
	case 0xde:
		return mpHead{kind: 'm', n: be16(i + 1), next: i + 3}
	case 0xdf:
		return mpHead{kind: 'm', n: be32(i + 1), next: i + 5}
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		return mpHead{kind: 'e', n: 1 << (c - 0xd4), extTyp: int8(b[i+1]), next: i + 2}
	case 0xc7:
		return mpHead{kind: 'e', n: int(b[i+1]), extTyp: int8(b[i+2]), next: i + 3}
	case 0xc8:
		return mpHead{kind: 'e', n: be16(i + 1), extTyp: int8(b[i+3]), next: i + 4}
	case 0xc9:
		return mpHead{kind: 'e', n: be32(i + 1), extTyp: int8(b[i+5]), next: i + 6}
	}
	return mpHead{kind: '?', next: i + 1} // 0xc1: protocol.Check refuses it
}

// mapEntry is one key of a map as JSON writes it, and where its value starts.
type mapEntry struct {
	key   string // str keys alias b
	isInt bool
	value int
}

// mapEntries reads the n entries of the map whose first key is at b[i], as DecodeValue
// keeps them: sorted by their JSON key, the last of equal keys winning. It returns them
// and the offset past the map; errNotStreamable for a key neither str nor integer, an
// error for an integer key and a str key with the same digits.
func mapEntries(b []byte, i, n int) ([]mapEntry, int, error) {
	es := make([]mapEntry, 0, n)
	for k := 0; k < n; k++ {
		h := readHead(b, i)
		var e mapEntry
		switch h.kind {
		case 's':
			e.key = unsafe.String(unsafe.SliceData(b[h.next:]), h.n)
			i = h.next + h.n
		case 'i':
			e.key, e.isInt, i = strconv.FormatInt(h.i, 10), true, h.next
		case 'u':
			e.key, e.isInt, i = strconv.FormatUint(h.u, 10), true, h.next
		default:
			return nil, 0, errNotStreamable
		}
		e.value = i
		var err error
		if i, err = protocol.Skip(b, i); err != nil {
			return nil, 0, err
		}
		es = append(es, e)
	}
	sort.SliceStable(es, func(x, y int) bool { return es[x].key < es[y].key })
	out := es[:0]
	for x := 0; x < len(es); x++ {
		if x+1 < len(es) && es[x+1].key == es[x].key {
			if es[x+1].isInt != es[x].isInt {
				return nil, 0, keyClash(es[x].key, int64(0), es[x].key) // an integer and a str
			}
			continue // the later one wins, as in a Go map
		}
		out = append(out, es[x])
	}
	return out, i, nil
}

// scanJSON checks the value at b[i] for everything that would stop writing it halfway, and
// returns the offset past it.
func scanJSON(b []byte, i int) (int, error) {
	h := readHead(b, i)
	switch h.kind {
	case 'e':
		if h.extTyp == -1 && h.n != 4 && h.n != 8 && h.n != 12 {
			return 0, errNotStreamable
		}
		return h.next + h.n, nil
	case 'a':
		i = h.next
		for k := 0; k < h.n; k++ {
			var err error
			if i, err = scanJSON(b, i); err != nil {
				return 0, err
			}
		}
		return i, nil
	case 'm':
		// Every value, even one a later equal key replaces: DecodeValue decodes it first.
		i = h.next
		for k := 0; k < h.n; k++ {
			switch readHead(b, i).kind {
			case 's', 'i', 'u':
			default:
				return 0, errNotStreamable
			}
			var err error
			if i, err = protocol.Skip(b, i); err != nil {
				return 0, err
			}
			if i, err = scanJSON(b, i); err != nil {
				return 0, err
			}
		}
		_, _, err := mapEntries(b, h.next, h.n) // the keys that collide in JSON
		return i, err
	}
	return protocol.Skip(b, i)
}

// writeMsgpackJSON writes the value at b[i], checked by scanJSON, and returns the offset
// past it.
func writeMsgpackJSON(w jsonWriter, b []byte, i int) (int, error) {
	h := readHead(b, i)
	switch h.kind {
	case 'n':
		w.WriteString("null")
	case 'b':
		w.WriteString(strconv.FormatBool(h.bool))
	case 'i':
		w.WriteString(strconv.FormatInt(h.i, 10))
	case 'u':
		w.WriteString(strconv.FormatUint(h.u, 10))
	case 'f':
		writeFloat(w, h.f, 32)
	case 'd':
		writeFloat(w, h.f, 64)
	case 's':
		writeString(w, unsafe.String(unsafe.SliceData(b[h.next:]), h.n))
		return h.next + h.n, nil
	case 'x':
		writeBase64(w, b[h.next:h.next+h.n])
		return h.next + h.n, nil
	case 'e':
		data := b[h.next : h.next+h.n]
		if h.extTyp == -1 {
			writeString(w, timestamp(data).UTC().Format(time.RFC3339Nano))
		} else {
			w.WriteString(`{"$ext":`)
			w.WriteString(strconv.Itoa(int(h.extTyp)))
			w.WriteString(`,"data":`)
			writeBase64(w, data)
			w.WriteByte('}')
		}
		return h.next + h.n, nil
	case 'a':
		w.WriteByte('[')
		i = h.next
		for k := 0; k < h.n; k++ {
			if k > 0 {
				w.WriteByte(',')
			}
			var err error
			if i, err = writeMsgpackJSON(w, b, i); err != nil {
				return 0, err
			}
		}
		w.WriteByte(']')
		return i, nil
	case 'm':
		es, end, err := mapEntries(b, h.next, h.n)
		if err != nil {
			return 0, err
		}
		w.WriteByte('{')
		for k, e := range es {
			if k > 0 {
				w.WriteByte(',')
			}
			writeString(w, e.key)
			w.WriteByte(':')
			if _, err := writeMsgpackJSON(w, b, e.value); err != nil {
				return 0, err
			}
		}
		w.WriteByte('}')
		return end, nil
	default:
		return 0, errNotStreamable
	}
	return h.next, nil
}

// timestamp decodes the msgpack timestamp ext's 4, 8 or 12 bytes, as protocol.DecodeValue.
func timestamp(b []byte) time.Time {
	switch len(b) {
	case 4:
		return time.Unix(int64(binary.BigEndian.Uint32(b)), 0)
	case 8:
		v := binary.BigEndian.Uint64(b)
		return time.Unix(int64(v&0x3ffffffff), int64(v>>34))
	}
	return time.Unix(int64(binary.BigEndian.Uint64(b[4:])), int64(binary.BigEndian.Uint32(b)))
}
