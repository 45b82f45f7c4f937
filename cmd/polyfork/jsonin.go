package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/vmihailenco/msgpack/v5"
)

// jsonLimits bound what one JSON text may cost once it is converted to msgpack. Both are
// checked while the text is read, so a text past a limit is refused after reading only as
// far as the limit.
type jsonLimits struct {
	// maxDepth is how deep containers may nest, the outermost one counting 1.
	maxDepth int
	// maxValues is how many values the text may hold, counted as the wire counts them
	// (protocol/SPEC.md section 3): every array, object, object key and scalar counts one.
	maxValues int
	// depthWhy and valuesWhy say where each limit comes from, for error messages.
	depthWhy, valuesWhy string
}

// jsonErrKind tells the ways a JSON text can be refused apart.
type jsonErrKind int

const (
	jsonSyntax    jsonErrKind = iota // not JSON, or more than one value
	jsonNotArray                     // the params are not an array
	jsonTooDeep                      // past maxDepth
	jsonTooMany                      // past maxValues
	jsonBadNumber                    // a number msgpack cannot carry exactly
	jsonUTF8                         // bytes that are not UTF-8
	jsonDuplicate                    // an object key given twice
	jsonRead                         // reading failed; Err says why
)

// jsonError reports a JSON text that was refused, and where.
type jsonError struct {
	Kind   jsonErrKind
	Offset int64 // how far into the text the problem was seen: where the bad token ends, or starts for syntax errors
	Limit  int   // the limit passed, for jsonTooDeep and jsonTooMany
	Reason string
	Err    error // the read error, for jsonRead
}

func (e *jsonError) Error() string {
	if e.Kind == jsonRead {
		return fmt.Sprintf("reading the JSON at byte %d: %v", e.Offset, e.Err)
	}
	return fmt.Sprintf("%s (at byte %d)", e.Reason, e.Offset)
}

func (e *jsonError) Unwrap() error { return e.Err }

// paramsFromJSON reads one JSON array from r and returns it as a msgpack array, ready to be
// the params of a call. An empty text (nothing but white space) means no params.
func paramsFromJSON(r io.Reader, lim jsonLimits) (msgpack.RawMessage, error) {
	return fromJSONText(r, lim, true)
}

// valueFromJSON reads one JSON text from r and returns it as one msgpack value.
func valueFromJSON(r io.Reader, lim jsonLimits) (msgpack.RawMessage, error) {
	return fromJSONText(r, lim, false)
}

// fromJSONText converts one JSON text to msgpack token by token, never holding the text
// nor a tree of Go values: the memory it takes is the msgpack it builds (about the size of
// the JSON, but 9 bytes per float, and 5 per container until compact shortens them), the
// longest single string or number, and a small record per container still open.
//
// JSON integers become msgpack integers (uint64 above the int64 range; beyond both, an
// error, never a silent float); other numbers float64. Objects become maps with their keys
// in the order given; a key given twice is an error, since the receiving languages would
// keep only one of them. Strings must be UTF-8; escaped lone surrogates (\ud800) become
// U+FFFD, as encoding/json decodes them. A leading UTF-8 byte order mark is skipped
// (RFC 8259 allows it).
func fromJSONText(r io.Reader, lim jsonLimits, params bool) (msgpack.RawMessage, error) {
	in := newUTF8Reader(r)
	c := &converter{in: in, dec: json.NewDecoder(in), lim: lim}
	c.dec.UseNumber()
	c.enc = msgpack.NewEncoder(&c.out)
	c.enc.UseCompactInts(true)
	if err := c.run(params); err != nil {
		return nil, err
	}
	return c.compact(), nil
}

// converter is the state of one fromJSONText.
type converter struct {
	in  *utf8Reader
	dec *json.Decoder
	lim jsonLimits
	out bytes.Buffer
	enc *msgpack.Encoder

	values int
	open   []openContainer // the containers not yet closed, innermost last
}

// openContainer is an array or object being read. Its header is written as a placeholder,
// array32 or map32 with the count left blank, since the count is known only at its end;
// compact then shortens every header in one pass.
type openContainer struct {
	pos     int    // of the placeholder in out
	count   uint32 // elements, or keys and values
	object  bool   // an object: keys and values alternate
	wantKey bool   // an object whose next string is a key
	keys    map[string]struct{}
}

const placeholderLen = 5

func (c *converter) offset() int64 { return c.dec.InputOffset() + c.in.skipped }

func (c *converter) fail(kind jsonErrKind, format string, args ...any) error {
	return &jsonError{Kind: kind, Offset: c.offset(), Reason: fmt.Sprintf(format, args...)}
}

// readError turns an error from the decoder into a *jsonError.
func (c *converter) readError(err error) error {
	if c.in.err != nil { // invalid UTF-8: the decoder saw our error, or stopped before it
		return c.in.err
	}
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &syn):
		// syn.Offset counts from the start of the value being read, not of the text.
		return &jsonError{Kind: jsonSyntax, Offset: c.offset(), Reason: "invalid JSON: " + syn.Error()}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &jsonError{Kind: jsonSyntax, Offset: c.offset(), Reason: "invalid JSON: the text ends inside a value"}
	case c.in.readErr != nil && errors.Is(err, c.in.readErr):
		return &jsonError{Kind: jsonRead, Offset: c.in.read + c.in.skipped, Err: c.in.readErr}
	}
	// Grammar errors from Token ("expected comma after array element") are not
	// *json.SyntaxError values.
	return &jsonError{Kind: jsonSyntax, Offset: c.offset(), Reason: "invalid JSON: " + strings.TrimPrefix(err.Error(), "json: ")}
}

func (c *converter) run(params bool) error {
	first := true
	for {
		tok, err := c.dec.Token()
		if err == io.EOF && first {
			if params {
				c.out.Write([]byte{0xdd, 0, 0, 0, 0}) // no params: an empty array
				return nil
			}
			return c.fail(jsonSyntax, "invalid JSON: the text is empty")
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return c.readError(err)
		}
		if first && params {
			if d, ok := tok.(json.Delim); !ok || d != '[' {
				return c.fail(jsonNotArray, "the params must be a JSON array such as [1, 2], not %s", describeToken(tok))
			}
		}
		first = false
		if err := c.token(tok); err != nil {
			return err
		}
		if len(c.open) == 0 {
			break
		}
	}
	switch tok, err := c.dec.Token(); {
	case err == io.EOF:
		return nil
	case err != nil:
		return c.readError(err)
	default:
		return c.fail(jsonSyntax, "invalid JSON: more than one value (%s after the first)", describeToken(tok))
	}
}

// token writes one token's msgpack.
func (c *converter) token(tok json.Token) error {
	if d, ok := tok.(json.Delim); ok && (d == ']' || d == '}') {
		top := c.open[len(c.open)-1]
		c.open = c.open[:len(c.open)-1]
		if top.object {
			top.count /= 2 // keys and values were counted: pairs
		}
		binary.BigEndian.PutUint32(c.out.Bytes()[top.pos+1:], top.count)
		return nil
	}
	if err := c.count(); err != nil {
		return err
	}
	key := false
	if n := len(c.open); n > 0 {
		top := &c.open[n-1]
		top.count++
		if top.object {
			key = top.wantKey
			top.wantKey = !top.wantKey
		}
	}
	switch x := tok.(type) {
	case json.Delim: // '[' or '{'
		if len(c.open) >= c.lim.maxDepth {
			return &jsonError{Kind: jsonTooDeep, Offset: c.offset(), Limit: c.lim.maxDepth,
				Reason: fmt.Sprintf("arrays and objects nest deeper than %d levels (%s)", c.lim.maxDepth, c.lim.depthWhy)}
		}
		kind := byte(0xdd) // array32
		if x == '{' {
			kind = 0xdf // map32
		}
		c.open = append(c.open, openContainer{pos: c.out.Len(), object: x == '{', wantKey: x == '{'})
		c.out.Write([]byte{kind, 0, 0, 0, 0})
		return nil
	case string:
		if key {
			top := &c.open[len(c.open)-1]
			if top.keys == nil {
				top.keys = map[string]struct{}{}
			}
			if _, dup := top.keys[x]; dup {
				return c.fail(jsonDuplicate, "the key %q appears twice in one object", clip(x))
			}
			top.keys[x] = struct{}{}
		}
		return c.enc.EncodeString(x)
	case json.Number:
		v, err := jsonNumber(x)
		if err != nil {
			return c.fail(jsonBadNumber, "%v", err)
		}
		switch v := v.(type) {
		case int64:
			return c.enc.EncodeInt(v)
		case uint64:
			return c.enc.EncodeUint(v)
		default:
			return c.enc.EncodeFloat64(v.(float64))
		}
	case bool:
		return c.enc.EncodeBool(x)
	case nil:
		return c.enc.EncodeNil()
	}
	return c.fail(jsonSyntax, "unexpected JSON token %v", tok)
}

func (c *converter) count() error {
	c.values++
	if c.values > c.lim.maxValues {
		return &jsonError{Kind: jsonTooMany, Offset: c.offset(), Limit: c.lim.maxValues,
			Reason: fmt.Sprintf("more than %d values, counting every array, object, key and scalar (%s)", c.lim.maxValues, c.lim.valuesWhy)}
	}
	return nil
}

// compact writes every container's header in its shortest form, moving the bytes after it
// down over the unused placeholder bytes: one pass over the output, in place. Every array32
// and map32 header in the output is a placeholder; everything else is already canonical.
func (c *converter) compact() []byte {
	b := c.out.Bytes()
	r, w := compactValue(b, 0, 0)
	if r != len(b) {
		panic("polyfork: converter output has bytes after its value")
	}
	return b[:w]
}

// compactValue compacts the value at b[r:] into b[w:] (w <= r) and returns the offsets
// after it. It recurses once per level of nesting, which the depth limit bounds.
func compactValue(b []byte, r, w int) (int, int) {
	switch k := b[r]; k {
	case 0xdd, 0xdf:
		n := binary.BigEndian.Uint32(b[r+1:])
		w += putHeader(b[w:], n, k == 0xdf)
		r += placeholderLen
		if k == 0xdf {
			n *= 2
		}
		for i := uint32(0); i < n; i++ {
			r, w = compactValue(b, r, w)
		}
		return r, w
	}
	size := scalarLen(b[r:])
	w += copy(b[w:], b[r:r+size])
	return r + size, w
}

// scalarLen returns the length of the msgpack scalar at the start of b, as the converter
// writes them: nil, bool, int, float64 and str.
func scalarLen(b []byte) int {
	switch k := b[0]; {
	case k <= 0x7f, k >= 0xe0, k == 0xc0, k == 0xc2, k == 0xc3:
		return 1
	case k >= 0xa0 && k <= 0xbf:
		return 1 + int(k&0x1f)
	case k == 0xcc, k == 0xd0:
		return 2
	case k == 0xcd, k == 0xd1:
		return 3
	case k == 0xce, k == 0xd2, k == 0xca:
		return 5
	case k == 0xcf, k == 0xd3, k == 0xcb:
		return 9
	case k == 0xd9:
		return 2 + int(b[1])
	case k == 0xda:
		return 3 + int(binary.BigEndian.Uint16(b[1:]))
	case k == 0xdb:
		return 5 + int(binary.BigEndian.Uint32(b[1:]))
	}
	panic(fmt.Sprintf("polyfork: converter wrote an unexpected msgpack byte 0x%02x", b[0]))
}

// putHeader writes the shortest msgpack array or map header for n elements (pairs, for a
// map) into b and returns its length (at most placeholderLen).
func putHeader(b []byte, n uint32, object bool) int {
	fix, b16, b32 := byte(0x90), byte(0xdc), byte(0xdd)
	if object {
		fix, b16, b32 = 0x80, 0xde, 0xdf
	}
	switch {
	case n < 16:
		b[0] = fix | byte(n)
		return 1
	case n <= math.MaxUint16:
		b[0] = b16
		binary.BigEndian.PutUint16(b[1:], uint16(n))
		return 3
	default:
		b[0] = b32
		binary.BigEndian.PutUint32(b[1:], n)
		return 5
	}
}

// describeToken names what a JSON token starts, for error messages.
func describeToken(tok json.Token) string {
	switch x := tok.(type) {
	case json.Delim:
		if x == '{' {
			return "an object"
		}
		return "an array"
	case string:
		return fmt.Sprintf("the string %q", clip(x))
	case json.Number:
		return "the number " + clip(string(x))
	case bool:
		return "the boolean " + strconv.FormatBool(x)
	case nil:
		return "null"
	}
	return fmt.Sprintf("%v", tok)
}

// jsonNumber converts a JSON number: integers to int64 (uint64 above math.MaxInt64), other
// numbers to float64. An integer outside both ranges is an error, never a silent float.
func jsonNumber(n json.Number) (any, error) {
	s := string(n)
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i, nil
		}
		if u, err := strconv.ParseUint(s, 10, 64); err == nil {
			return u, nil
		}
		return nil, fmt.Errorf("the integer %s is outside the int64 and uint64 ranges msgpack can carry", clip(s))
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, fmt.Errorf("the number %s does not fit in a float64", clip(s))
	}
	return f, nil
}

// utf8Reader passes bytes through, checking that they are UTF-8, and skips a leading byte
// order mark. encoding/json would replace invalid bytes in strings with U+FFFD; checking
// the whole stream refuses them instead (outside strings they are syntax errors anyway).
type utf8Reader struct {
	r       *bufio.Reader
	started bool
	pending []byte // the start of a rune cut by the end of the last read
	read    int64  // bytes passed on, the byte order mark excluded
	skipped int64  // 3 when a byte order mark was skipped
	err     *jsonError
	readErr error // the last error of the underlying reader other than io.EOF
}

func newUTF8Reader(r io.Reader) *utf8Reader {
	return &utf8Reader{r: bufio.NewReaderSize(r, 32<<10)}
}

func (u *utf8Reader) Read(p []byte) (int, error) {
	if u.err != nil {
		return 0, u.err
	}
	if !u.started {
		u.started = true
		if bom, _ := u.r.Peek(3); bytes.Equal(bom, []byte("\xef\xbb\xbf")) {
			_, _ = u.r.Discard(3)
			u.skipped = 3
		}
	}
	n, err := u.r.Read(p)
	if err != nil && err != io.EOF {
		u.readErr = err
	}
	if bad, ok := u.check(p[:n], err == io.EOF); !ok {
		u.err = &jsonError{Kind: jsonUTF8, Offset: u.read + int64(bad) + u.skipped,
			Reason: "the text is not valid UTF-8"}
		return 0, u.err
	}
	u.read += int64(n)
	return n, err
}

// check reports whether b continues valid UTF-8 and if not, the offset in b where the
// invalid sequence starts (negative when it started in the bytes of an earlier read). A
// sequence cut by the end of b is kept for the next read, unless this is the end of the
// input.
func (u *utf8Reader) check(b []byte, atEOF bool) (int, bool) {
	i := 0
	for len(u.pending) > 0 && i < len(b) {
		u.pending = append(u.pending, b[i])
		i++
		if utf8.FullRune(u.pending) {
			if r, size := utf8.DecodeRune(u.pending); r == utf8.RuneError && size <= 1 {
				return i - len(u.pending), false
			}
			u.pending = u.pending[:0]
		}
	}
	rest := b[i:]
	end := len(rest)
	// A rune cut at the end: at most 3 bytes, starting at a rune-start byte.
	for k := len(rest) - 1; k >= 0 && k >= len(rest)-3; k-- {
		if utf8.RuneStart(rest[k]) {
			if !utf8.FullRune(rest[k:]) {
				end = k
			}
			break
		}
	}
	if !utf8.Valid(rest[:end]) {
		for j := 0; j < end; {
			r, size := utf8.DecodeRune(rest[j:end])
			if r == utf8.RuneError && size <= 1 {
				return i + j, false
			}
			j += size
		}
	}
	u.pending = append(u.pending, rest[end:]...)
	if atEOF && len(u.pending) > 0 {
		return len(b) - len(u.pending), false
	}
	return 0, true
}
