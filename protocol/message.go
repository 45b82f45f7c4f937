package protocol

import (
	"encoding/binary"
	"math"
	"strconv"
	"unicode/utf8"
)

// Message is one decoded message. Which fields are set depends on Kind:
//
//	request:      ID, Method, Params
//	response:     ID, Error or Result
//	notification: Method, Params
//
// Params and Result are raw msgpack (Params always encodes an array) that alias the frame
// the message was decoded from: they are valid as long as that frame is. Decode them with
// DecodeValue or Unmarshal, or copy them.
type Message struct {
	Kind   Kind
	ID     uint32
	Method string
	Params []byte
	Error  *ErrorValue
	Result []byte
}

// ErrorValue is an error map: what a response carries when its handler failed.
type ErrorValue struct {
	// Type names the kind of error: an exception class or a reserved type such as
	// TypeMethodNotFound.
	Type string
	// Message is the human-readable text.
	Message string
	// Traceback is the raiser's stack as text, or "".
	Traceback string
	// Data is raw msgpack for the optional structured data, or nil when absent. After
	// DecodeMessage it aliases the frame.
	Data []byte
}

// DecodeMessage parses a frame body (without its length prefix) into a Message, after
// checking it against the safety rules of SPEC section 3 (see CheckFrame) with at most
// maxValues msgpack values (<= 0: DefaultMaxValues). A body that is not a valid message
// yields an *Error that quotes it.
func DecodeMessage(frame []byte, maxValues int) (Message, error) {
	if m, ok := scalarResult(frame, maxValues); ok {
		return m, nil
	}
	return decodeMessage(frame, maxValues)
}

// decodeMessage is DecodeMessage for any frame: checked, then decoded.
func decodeMessage(frame []byte, maxValues int) (Message, error) {
	var m Message
	if err := CheckFrame(frame, maxValues); err != nil {
		return m, err
	}
	c := cursor{b: frame}
	n, ok := c.arrayLen()
	if !ok {
		return m, newError(frame, 0, "a message is a msgpack array, got %s", describe(frame[0]))
	}
	if n != 3 && n != 4 {
		return m, newError(frame, 0, "a message is an array of 3 or 4 elements, got %d", n)
	}
	at := c.off
	kind, ok := c.uint()
	if !ok {
		return m, newError(frame, at, "message kind must be the integer 0, 1 or 2, got %s", describe(frame[at]))
	}
	switch kind {
	case uint64(KindRequest), uint64(KindResponse):
		if n != 4 {
			return m, newError(frame, 0, "a %s is an array of 4 elements, got %d", Kind(kind), n)
		}
		m.Kind = Kind(kind)
		at = c.off
		id, ok := c.uint()
		if !ok || id > math.MaxUint32 {
			return m, newError(frame, at, "%s id must be an integer from 0 to 4294967295, got %s", Kind(kind), describeAt(frame, at))
		}
		m.ID = uint32(id)
		if m.Kind == KindRequest {
			return m, c.methodAndParams(&m)
		}
		return m, c.errorAndResult(&m)
	case uint64(KindNotification):
		if n != 3 {
			return m, newError(frame, 0, "a notification is an array of 3 elements, got %d", n)
		}
		m.Kind = KindNotification
		return m, c.methodAndParams(&m)
	}
	return m, newError(frame, at, "message kind must be 0, 1 or 2, got %d", kind)
}

// scalarResult decodes the commonest frame, a successful response whose result is one
// scalar ([1, id, nil, scalar]), without the scanner: once its bytes add up to the frame,
// such a frame is well formed and holds five values. It reports false, having decided
// nothing, for every other frame (errors included), which DecodeMessage then checks and
// decodes as any other; the two agree (TestScalarResultAgreesWithDecodeMessage, and the
// message fuzzer).
func scalarResult(frame []byte, maxValues int) (Message, bool) {
	if len(frame) < 5 || frame[0] != 0x94 || frame[1] != byte(KindResponse) || 0 < maxValues && maxValues < 5 {
		return Message{}, false
	}
	var id uint32
	off := 2
	switch c := frame[off]; {
	case c <= 0x7f:
		id, off = uint32(c), off+1
	case c == 0xcc && off+2 <= len(frame):
		id, off = uint32(frame[off+1]), off+2
	case c == 0xcd && off+3 <= len(frame):
		id, off = uint32(binary.BigEndian.Uint16(frame[off+1:])), off+3
	case c == 0xce && off+5 <= len(frame):
		id, off = binary.BigEndian.Uint32(frame[off+1:]), off+5
	default:
		return Message{}, false
	}
	if off+2 > len(frame) || frame[off] != 0xc0 { // no error, then the result
		return Message{}, false
	}
	off++
	end := len(frame) + 1 // no scalar ends there
	switch c := frame[off]; c {
	case 0xc4, 0xd9: // bin8, str8
		if off+2 <= len(frame) {
			end = off + 2 + int(frame[off+1])
		}
	case 0xc5, 0xda: // bin16, str16
		if off+3 <= len(frame) {
			end = off + 3 + int(binary.BigEndian.Uint16(frame[off+1:]))
		}
	case 0xc6, 0xdb: // bin32, str32
		if off+5 <= len(frame) {
			end = off + 5 + int(binary.BigEndian.Uint32(frame[off+1:]))
		}
	default:
		if size := fixedSize[c]; size != notFixed {
			end = off + 1 + int(size)
		}
	}
	if end != len(frame) {
		return Message{}, false
	}
	return Message{Kind: KindResponse, ID: id, Result: frame[off:len(frame):len(frame)]}, true
}

// cursor walks a frame that Check has accepted, so it never reads past the end; its
// methods report whether the next value has the expected type.
type cursor struct {
	b   []byte
	off int
}

func (c *cursor) methodAndParams(m *Message) error {
	at := c.off
	s, ok := c.str()
	if !ok {
		return newError(c.b, at, "%s method must be a str, got %s", m.Kind, describe(c.b[at]))
	}
	if !utf8.Valid(s) {
		return newError(c.b, at, "%s method name is not valid UTF-8", m.Kind)
	}
	m.Method = string(s)
	at = c.off
	if !isArray(c.b[at]) {
		return newError(c.b, at, "%s params must be an array, got %s", m.Kind, describe(c.b[at]))
	}
	m.Params = c.rest()
	return nil
}

func (c *cursor) errorAndResult(m *Message) error {
	at := c.off
	if c.b[at] == 0xc0 {
		c.off++
	} else {
		ev, err := c.errorMap()
		if err != nil {
			return err
		}
		m.Error = ev
	}
	m.Result = c.rest()
	return nil
}

// errorMap parses {"type": str, "message": str, "traceback": str?, "data": any?}.
func (c *cursor) errorMap() (*ErrorValue, error) {
	at := c.off
	n, ok := c.mapLen()
	if !ok {
		return nil, newError(c.b, at, "response error must be nil or an error map, got %s", describe(c.b[at]))
	}
	ev := &ErrorValue{}
	var hasType, hasMessage bool
	for i := 0; i < n; i++ {
		k, ok := c.str()
		if !ok { // a key of another type: not one of ours, skip the pair
			c.value()
			c.value()
			continue
		}
		vat := c.off
		switch string(k) {
		case "type", "message", "traceback":
			s, ok := c.str()
			if !ok {
				return nil, newError(c.b, vat, "error map field %q must be a str, got %s", k, describe(c.b[vat]))
			}
			switch string(k) {
			case "type":
				ev.Type, hasType = string(s), true
			case "message":
				ev.Message, hasMessage = string(s), true
			default:
				ev.Traceback = string(s)
			}
		case "data":
			ev.Data = c.value()
		default:
			c.value()
		}
	}
	if !hasType || !hasMessage {
		return nil, newError(c.b, at, "an error map needs str fields \"type\" and \"message\"")
	}
	return ev, nil
}

// value returns the raw bytes of the next value and moves past it.
func (c *cursor) value() []byte {
	start := c.off
	end, _ := skip(c.b, start, MaxDepth) // already checked
	c.off = end
	return c.b[start:end:end]
}

// rest returns the value the cursor is at when it is the frame's last: params and results
// end their messages, and Check has made sure nothing follows them.
func (c *cursor) rest() []byte {
	start := c.off
	c.off = len(c.b)
	return c.b[start:len(c.b):len(c.b)]
}

func (c *cursor) arrayLen() (int, bool) {
	b := c.b[c.off]
	switch {
	case b >= 0x90 && b <= 0x9f:
		c.off++
		return int(b & 0x0f), true
	case b == 0xdc:
		c.off += 3
		return int(binary.BigEndian.Uint16(c.b[c.off-2:])), true
	case b == 0xdd:
		c.off += 5
		return int(binary.BigEndian.Uint32(c.b[c.off-4:])), true
	}
	return 0, false
}

func (c *cursor) mapLen() (int, bool) {
	b := c.b[c.off]
	switch {
	case b >= 0x80 && b <= 0x8f:
		c.off++
		return int(b & 0x0f), true
	case b == 0xde:
		c.off += 3
		return int(binary.BigEndian.Uint16(c.b[c.off-2:])), true
	case b == 0xdf:
		c.off += 5
		return int(binary.BigEndian.Uint32(c.b[c.off-4:])), true
	}
	return 0, false
}

// uint reads a non-negative integer in any encoding.
func (c *cursor) uint() (uint64, bool) {
	b := c.b[c.off]
	p := c.b[c.off+1:]
	var v uint64
	var size int
	switch {
	case b <= 0x7f:
		v, size = uint64(b), 0
	case b == 0xcc:
		v, size = uint64(p[0]), 1
	case b == 0xcd:
		v, size = uint64(binary.BigEndian.Uint16(p)), 2
	case b == 0xce:
		v, size = uint64(binary.BigEndian.Uint32(p)), 4
	case b == 0xcf:
		v, size = binary.BigEndian.Uint64(p), 8
	case b == 0xd0 && int8(p[0]) >= 0:
		v, size = uint64(p[0]), 1
	case b == 0xd1 && int16(binary.BigEndian.Uint16(p)) >= 0:
		v, size = uint64(binary.BigEndian.Uint16(p)), 2
	case b == 0xd2 && int32(binary.BigEndian.Uint32(p)) >= 0:
		v, size = uint64(binary.BigEndian.Uint32(p)), 4
	case b == 0xd3 && int64(binary.BigEndian.Uint64(p)) >= 0:
		v, size = binary.BigEndian.Uint64(p), 8
	default:
		return 0, false
	}
	c.off += 1 + size
	return v, true
}

// str reads a str value and returns its bytes (aliasing the frame).
func (c *cursor) str() ([]byte, bool) {
	n, head, ok := strHeader(c.b, c.off)
	if !ok {
		return nil, false
	}
	start := c.off + 1 + head
	c.off = start + n
	return c.b[start:c.off], true
}

// strHeader reads the header of the str at b[off]: its length n, and how many bytes follow
// the first before the str's bytes (head). ok is false when b[off] does not start a str, or
// its header is cut short; the str's bytes themselves are not looked at.
func strHeader(b []byte, off int) (n, head int, ok bool) {
	if off >= len(b) {
		return 0, 0, false
	}
	switch c := b[off]; {
	case c >= 0xa0 && c <= 0xbf:
		return int(c & 0x1f), 0, true
	case c == 0xd9 && off+2 <= len(b):
		return int(b[off+1]), 1, true
	case c == 0xda && off+3 <= len(b):
		return int(binary.BigEndian.Uint16(b[off+1:])), 2, true
	case c == 0xdb && off+5 <= len(b):
		return int(binary.BigEndian.Uint32(b[off+1:])), 4, true
	}
	return 0, 0, false
}

func isArray(b byte) bool { return (b >= 0x90 && b <= 0x9f) || b == 0xdc || b == 0xdd }

// describeAt names the value at off, adding the number for an integer out of range.
func describeAt(b []byte, off int) string {
	c := cursor{b: b, off: off}
	if v, ok := c.uint(); ok {
		return "the integer " + strconv.FormatUint(v, 10)
	}
	if x, err := DecodeValue(c.value()); err == nil {
		if i, ok := x.(int64); ok {
			return "the integer " + strconv.FormatInt(i, 10)
		}
	}
	return describe(b[off])
}

// describe names the msgpack type that starts with byte b, for error messages.
func describe(b byte) string {
	switch {
	case b <= 0x7f, b == 0xcc, b == 0xcd, b == 0xce, b == 0xcf:
		return "a non-negative integer"
	case b >= 0xe0, b == 0xd0, b == 0xd1, b == 0xd2, b == 0xd3:
		return "an integer"
	case b >= 0x80 && b <= 0x8f, b == 0xde, b == 0xdf:
		return "a map"
	case isArray(b):
		return "an array"
	case b >= 0xa0 && b <= 0xbf, b == 0xd9, b == 0xda, b == 0xdb:
		return "a str"
	case b == 0xc0:
		return "nil"
	case b == 0xc2, b == 0xc3:
		return "a bool"
	case b == 0xca:
		return "a float32"
	case b == 0xcb:
		return "a float64"
	case b == 0xc4, b == 0xc5, b == 0xc6:
		return "a bin"
	case b >= 0xd4 && b <= 0xd8, b == 0xc7, b == 0xc8, b == 0xc9:
		return "an ext"
	}
	return "an invalid byte"
}

// SplitArray returns the raw msgpack of each element of the array b, aliasing b, after
// checking b as Check does.
func SplitArray(b []byte) ([][]byte, error) {
	if err := Check(b, MaxDepth); err != nil {
		return nil, err
	}
	c := cursor{b: b}
	n, ok := c.arrayLen()
	if !ok {
		return nil, newError(b, 0, "want an array, got %s", describe(b[0]))
	}
	out := make([][]byte, n)
	for i := range out {
		out[i] = c.value()
	}
	return out, nil
}
