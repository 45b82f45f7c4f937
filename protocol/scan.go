package protocol

import "encoding/binary"

// Check verifies that b holds exactly one complete msgpack value that nests at most maxDepth
// containers deep, and that every count and length in it fits in the bytes that follow, so
// that no decoder can be tricked into a large allocation. It allocates nothing. The returned
// error is an *Error quoting b.
func Check(b []byte, maxDepth int) error {
	return check(b, maxDepth, len(b))
}

// CheckFrame verifies a frame body against every safety rule of SPEC section 3: one complete
// value, counts that fit, at most MaxDepth levels of nesting and at most maxValues msgpack
// values (maxValues <= 0 means DefaultMaxValues). A body over the value limit gets an *Error
// that also matches ErrTooManyValues. It allocates nothing.
func CheckFrame(b []byte, maxValues int) error {
	if maxValues <= 0 {
		maxValues = DefaultMaxValues
	}
	return check(b, MaxDepth, maxValues)
}

func check(b []byte, maxDepth, maxValues int) error {
	s := scanner{b: b, left: maxValues, max: maxValues}
	end, err := s.skip(0, maxDepth)
	if err != nil {
		return err
	}
	if end != len(b) {
		return newError(b, end, "%d bytes left over after the msgpack value; a frame holds exactly one value", len(b)-end)
	}
	return nil
}

// scanner walks msgpack bytes without decoding them, counting values against a budget.
type scanner struct {
	b    []byte
	left int // values still allowed
	max  int
}

// Skip returns the offset just past the msgpack value that starts at b[off], checking it
// as Check does (at most MaxDepth levels of containers), without decoding it: for a caller
// that walks a frame's bytes and passes over the values it does not read.
func Skip(b []byte, off int) (int, error) {
	if off < 0 {
		return 0, newError(b, -1, "offset %d is negative", off)
	}
	return skip(b, off, MaxDepth)
}

// skip returns the offset just past the msgpack value that starts at off, checking it as
// Check describes. depth is how many more levels of containers are allowed.
func skip(b []byte, off, depth int) (int, error) {
	s := scanner{b: b, left: len(b), max: len(b)}
	return s.skip(off, depth)
}

func (s *scanner) skip(off, depth int) (int, error) {
	b := s.b
	if off >= len(b) {
		return 0, newError(b, off, "msgpack value cut short: the frame ends where a value should start")
	}
	if s.left--; s.left < 0 {
		e := newError(b, off, "the frame holds more than %d msgpack values (the receiver's limit, POLYFORK_MAX_VALUES)", s.max)
		e.Err = ErrTooManyValues
		return 0, e
	}
	c := b[off]
	off++
	var n, head int // n: payload bytes (str, bin, ext) or element count (array, map)
	switch {
	case c <= 0x7f, c >= 0xe0, c == 0xc0, c == 0xc2, c == 0xc3:
		return off, nil // fixints, nil, bool
	case c >= 0x80 && c <= 0x8f:
		return s.skipContainer(off, int(c&0x0f), 2, depth)
	case c >= 0x90 && c <= 0x9f:
		return s.skipContainer(off, int(c&0x0f), 1, depth)
	case c >= 0xa0 && c <= 0xbf:
		return skipBytes(b, off, int(c&0x1f), "str", 0)
	}
	switch c {
	case 0xc1:
		return 0, newError(b, off-1, "byte 0xc1 is never used in msgpack")
	case 0xcc, 0xd0:
		return skipFixed(b, off, 1)
	case 0xcd, 0xd1:
		return skipFixed(b, off, 2)
	case 0xce, 0xd2, 0xca:
		return skipFixed(b, off, 4)
	case 0xcf, 0xd3, 0xcb:
		return skipFixed(b, off, 8)
	case 0xd4:
		return skipFixed(b, off, 1+1)
	case 0xd5:
		return skipFixed(b, off, 1+2)
	case 0xd6:
		return skipFixed(b, off, 1+4)
	case 0xd7:
		return skipFixed(b, off, 1+8)
	case 0xd8:
		return skipFixed(b, off, 1+16)
	case 0xc4, 0xd9: // bin8, str8
		head = 1
	case 0xc5, 0xda: // bin16, str16
		head = 2
	case 0xc6, 0xdb: // bin32, str32
		head = 4
	case 0xc7: // ext8
		head = 1
	case 0xc8: // ext16
		head = 2
	case 0xc9: // ext32
		head = 4
	case 0xdc, 0xde: // array16, map16
		head = 2
	case 0xdd, 0xdf: // array32, map32
		head = 4
	}
	if off+head > len(b) {
		return 0, newError(b, off-1, "msgpack value cut short: a header needs %d more bytes, %d left", head, len(b)-off)
	}
	switch head {
	case 1:
		n = int(b[off])
	case 2:
		n = int(binary.BigEndian.Uint16(b[off:]))
	case 4:
		n = int(binary.BigEndian.Uint32(b[off:]))
	}
	off += head
	switch c {
	case 0xc4, 0xc5, 0xc6:
		return skipBytes(b, off, n, "bin", 0)
	case 0xd9, 0xda, 0xdb:
		return skipBytes(b, off, n, "str", 0)
	case 0xc7, 0xc8, 0xc9:
		return skipBytes(b, off, n, "ext", 1) // type byte, then data
	case 0xdc, 0xdd:
		return s.skipContainer(off, n, 1, depth)
	default: // 0xde, 0xdf
		return s.skipContainer(off, n, 2, depth)
	}
}

// notFixed marks, in fixedSize, the bytes that do not start a value of a known size.
const notFixed = 0xff

// fixedSize holds, for each first byte of a msgpack value, how many bytes follow it when
// that number is known from the byte alone (fixints, nil, bools, fixstrs, ints, floats,
// fixexts), else notFixed (containers, str8-32, bin, ext8-32, and 0xc1, which is never used).
var fixedSize = func() (t [256]uint8) {
	for c := range t {
		switch {
		case c <= 0x7f, c >= 0xe0, c == 0xc0, c == 0xc2, c == 0xc3:
			t[c] = 0
		case c >= 0xa0 && c <= 0xbf:
			t[c] = uint8(c & 0x1f)
		case c == 0xcc, c == 0xd0:
			t[c] = 1
		case c == 0xcd, c == 0xd1:
			t[c] = 2
		case c == 0xce, c == 0xd2, c == 0xca:
			t[c] = 4
		case c == 0xcf, c == 0xd3, c == 0xcb:
			t[c] = 8
		case c >= 0xd4 && c <= 0xd8: // fixext 1, 2, 4, 8, 16: a type byte, then the data
			t[c] = 1 + 1<<(c-0xd4)
		default:
			t[c] = notFixed
		}
	}
	return t
}()

func skipFixed(b []byte, off, n int) (int, error) {
	if off+n > len(b) {
		return 0, newError(b, off-1, "msgpack value cut short: it needs %d more bytes, %d left", n, len(b)-off)
	}
	return off + n, nil
}

// skipBytes skips extra header bytes, then n payload bytes.
func skipBytes(b []byte, off, n int, what string, extra int) (int, error) {
	if n > len(b)-off-extra {
		return 0, newError(b, off, "%s length %d is larger than the %d bytes left in the frame", what, n, max(0, len(b)-off-extra))
	}
	return off + extra + n, nil
}

// skipContainer skips n elements (per = 1) or n key/value pairs (per = 2).
func (s *scanner) skipContainer(off, n, per, depth int) (int, error) {
	b := s.b
	if depth <= 0 {
		return 0, newError(b, off-1, "containers nest deeper than %d levels", MaxDepth)
	}
	// Every element takes at least one byte: refuse counts the rest of the frame cannot hold.
	if n > (len(b)-off)/per {
		what := "array of %d elements"
		if per == 2 {
			what = "map of %d pairs"
		}
		return 0, newError(b, off, what+" cannot fit in the %d bytes left in the frame", n, len(b)-off)
	}
	var err error
	for i := n * per; i > 0; i-- {
		// Elements of a known size (every scalar but long strs, bins and exts) are passed
		// over here, without a call: a message's envelope and most params are such values.
		// Containers, and anything that may be an error, go through skip.
		if off < len(b) && s.left > 0 {
			if size := fixedSize[b[off]]; size != notFixed && int(size) < len(b)-off {
				s.left--
				off += 1 + int(size)
				continue
			}
		}
		if off, err = s.skip(off, depth-1); err != nil {
			return 0, err
		}
	}
	return off, nil
}
