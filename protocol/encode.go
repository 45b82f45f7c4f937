package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"unicode/utf8"

	"github.com/vmihailenco/msgpack/v5"
)

// keepEncodeBuffer is the largest buffer an Encoder keeps between frames.
const keepEncodeBuffer = 4 << 20

// Encoder builds complete frames (length prefix included) for messages, encoding Go values
// with the msgpack profile of SPEC.md: shortest integers, float32 kept apart from float64,
// []byte as bin, string-keyed maps with sorted keys.
//
// An Encoder refuses, before anything is sent, every frame the receiver would have to treat
// as a protocol error (SPEC section 3): a method name that is not UTF-8, a value nested
// deeper than MaxDepth, more values than the receiver's limit, a frame above its maximum
// size. Its errors all match ErrUnsendable.
//
// An Encoder is not safe for concurrent use; the frame a method returns is valid only until
// the next call on the same Encoder. The zero value is not usable: call NewEncoder.
type Encoder struct {
	buf       bytes.Buffer
	enc       *msgpack.Encoder
	max       int
	maxValues int
	// method is the last method name found valid UTF-8: a caller usually calls one method
	// again and again, and comparing it is cheaper than validating it again.
	method string
	// head is how many values begin wrote (the envelope and the elements before the last);
	// flat is how many the last element holds when it holds only values the library cannot
	// encode wrongly (see isFlat), so that finish need not scan the frame; else 0.
	head, flat int
}

// NewEncoder returns an Encoder with the default maximum frame size and value count.
func NewEncoder() *Encoder {
	e := &Encoder{max: DefaultMaxFrameSize, maxValues: DefaultMaxValues}
	e.enc = msgpack.NewEncoder(&e.buf)
	configureEncoder(e.enc)
	return e
}

// configureEncoder sets the profile: shortest integers, sorted string keys, and struct
// fields named by their msgpack tag, else their json tag, else their name.
func configureEncoder(enc *msgpack.Encoder) {
	enc.UseCompactInts(true)
	enc.SetSortMapKeys(true)
	enc.SetCustomStructTag("json")
}

// SetMaxFrameSize sets the largest frame body the Encoder produces; n <= 0 restores the
// default, and n is at most 4 GiB - 1, what a length prefix can say. A message that would be
// larger is refused with an error matching ErrFrameTooLarge.
func (e *Encoder) SetMaxFrameSize(n int) {
	if n <= 0 {
		n = DefaultMaxFrameSize
	}
	if uint64(n) > math.MaxUint32 {
		n = math.MaxUint32 // (a str or bin of 4 GiB would not fit its 32-bit length either)
	}
	e.max = n
}

// SetMaxValues sets the largest number of msgpack values a frame may hold (the receiver's
// limit); n <= 0 restores DefaultMaxValues. A message that would hold more is refused with
// an error matching ErrTooManyValues.
func (e *Encoder) SetMaxValues(n int) {
	if n <= 0 {
		n = DefaultMaxValues
	}
	e.maxValues = n
}

// name names a message for an error: its kind, and its method when it has one.
func name(kind, method string) string {
	if method == "" {
		return kind
	}
	return kind + " " + QuoteName(method)
}

// maxQuotedName is how much of a method name an error quotes.
const maxQuotedName = 200

// QuoteName quotes a method or notification name for an error message, as %q does, cut
// to its first 200 bytes (at a character boundary) with its length when it is longer: a
// name is the caller's input, and a megabyte of it would make a two-megabyte error.
func QuoteName(s string) string {
	if len(s) <= maxQuotedName {
		return strconv.Quote(s)
	}
	return strconv.Quote(CutText(s, maxQuotedName)) + "... (" + strconv.Itoa(len(s)) + " bytes)"
}

// CutText returns the longest prefix of s of at most n bytes that does not end inside a
// UTF-8 character: a text cut for an error message stays valid UTF-8.
func CutText(s string, n int) string {
	n = max(n, 0) // a negative n cuts everything (it panicked)
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// unsendable builds an Encoder error: it matches ErrUnsendable and, if cause is a sentinel,
// that too.
func unsendable(what string, cause error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if cause != nil {
		return fmt.Errorf("%w: %s: %w: %s", ErrUnsendable, what, cause, msg)
	}
	return fmt.Errorf("%w: %s: %s", ErrUnsendable, what, msg)
}

// Request returns the frame for [0, id, method, params]. params must encode as a msgpack
// array (a slice or array other than []byte, or a type that encodes itself as one); nil
// means no params.
func (e *Encoder) Request(id uint32, method string, params any) ([]byte, error) {
	if !e.validMethod(method) {
		return nil, unsendable(name("request", method), nil, "the method name is not valid UTF-8")
	}
	e.begin(4)
	var h [1 + 5 + 5]byte // the kind, the id and the method's header, in one write
	h[0] = byte(KindRequest)
	n := 1 + putUint32(h[1:], id)
	n += putStrHeader(h[n:], len(method))
	e.buf.Write(h[:n])
	e.buf.WriteString(method)
	flat, err := e.params(params)
	if err != nil {
		return nil, unsendable(name("request", method), nil, "%v", err)
	}
	e.flat = flat
	return e.finish("request", method)
}

// validMethod reports whether method is valid UTF-8, remembering the last name that was.
func (e *Encoder) validMethod(method string) bool {
	if method == e.method {
		return true
	}
	if !utf8.ValidString(method) {
		return false
	}
	if len(method) <= maxQuotedName { // (a huge name is not kept alive)
		e.method = method
	}
	return true
}

// Notification returns the frame for [2, method, params]; params as for Request.
func (e *Encoder) Notification(method string, params any) ([]byte, error) {
	if !e.validMethod(method) {
		return nil, unsendable(name("notification", method), nil, "the notification name is not valid UTF-8")
	}
	e.begin(3)
	var h [1 + 5]byte
	h[0] = byte(KindNotification)
	n := 1 + putStrHeader(h[1:], len(method))
	e.buf.Write(h[:n])
	e.buf.WriteString(method)
	flat, err := e.params(params)
	if err != nil {
		return nil, unsendable(name("notification", method), nil, "%v", err)
	}
	e.flat = flat
	return e.finish("notification", method)
}

// Result returns the frame for the successful response [1, id, nil, result].
func (e *Encoder) Result(id uint32, result any) ([]byte, error) {
	e.begin(4)
	var h [1 + 5 + 1]byte
	h[0] = byte(KindResponse)
	n := 1 + putUint32(h[1:], id)
	h[n] = 0xc0 // no error
	e.buf.Write(h[:n+1])
	var err error
	if isFlat(result) {
		e.flat = 1
		err = e.enc.Encode(result) // runs no code of the caller's: cannot panic
	} else {
		if err := checkNesting(result, MaxDepth-1); err != nil {
			return nil, unsendable("the result", nil, "%v", err)
		}
		err = encode(e.enc, result)
	}
	if err != nil {
		return nil, unsendable("the result", nil, "cannot encode a value of type %T: %v", result, err)
	}
	return e.finish("the result", "")
}

// Failure returns the frame for the failed response [1, id, error map, nil]. The map's
// keys are written in the order type, message, traceback, data; traceback and data are left
// out when empty. ev.Data must be raw msgpack or nil.
func (e *Encoder) Failure(id uint32, ev *ErrorValue) ([]byte, error) {
	e.begin(4)
	e.enc.EncodeUint(uint64(KindResponse))
	e.enc.EncodeUint(uint64(id))
	n := 2
	if ev.Traceback != "" {
		n++
	}
	if ev.Data != nil {
		n++
	}
	e.enc.EncodeMapLen(n)
	e.enc.EncodeString("type")
	e.enc.EncodeString(ev.Type)
	e.enc.EncodeString("message")
	e.enc.EncodeString(ev.Message)
	if ev.Traceback != "" {
		e.enc.EncodeString("traceback")
		e.enc.EncodeString(ev.Traceback)
	}
	if ev.Data != nil {
		e.enc.EncodeString("data")
		if err := Check(ev.Data, MaxDepth-2); err != nil {
			return nil, unsendable("the error map", nil, "its data is not one valid msgpack value: %v", err)
		}
		e.buf.Write(ev.Data)
	}
	e.enc.EncodeNil()
	return e.finish("the error map", "")
}

// begin starts a frame: room for the length prefix, then the message array header.
func (e *Encoder) begin(n int) {
	if e.buf.Cap() > keepEncodeBuffer {
		e.buf = bytes.Buffer{}
		e.enc.Reset(&e.buf)
		configureEncoder(e.enc)
	}
	e.buf.Reset()
	// The length prefix, then a fixarray of n (3 or 4) elements.
	e.buf.Write([]byte{0, 0, 0, 0, 0x90 | byte(n)})
	e.head, e.flat = n, 0 // the envelope and n-1 elements; the last one's encoder sets flat
}

// putUint32 writes v as the shortest msgpack integer, as the library does with compact ints,
// and returns how many bytes it took (at most 5). The envelope's own integers are written
// this way, without the library's writer calls per byte.
func putUint32(b []byte, v uint32) int {
	switch {
	case v <= 0x7f:
		b[0] = byte(v)
		return 1
	case v <= 0xff:
		b[0], b[1] = 0xcc, byte(v)
		return 2
	case v <= 0xffff:
		b[0] = 0xcd
		binary.BigEndian.PutUint16(b[1:], uint16(v))
		return 3
	}
	b[0] = 0xce
	binary.BigEndian.PutUint32(b[1:], v)
	return 5
}

// writeStr writes s as a msgpack str, as the library does.
func (e *Encoder) writeStr(s string) {
	var h [5]byte
	e.buf.Write(h[:putStrHeader(h[:], len(s))])
	e.buf.WriteString(s)
}

// putStrHeader writes the header of a msgpack str of n bytes in its shortest form, as the
// library does, and returns how many bytes it took (at most 5).
func putStrHeader(b []byte, n int) int {
	switch {
	case n < 32:
		b[0] = 0xa0 | byte(n)
		return 1
	case n <= 0xff:
		b[0], b[1] = 0xd9, byte(n)
		return 2
	case n <= 0xffff:
		b[0] = 0xda
		binary.BigEndian.PutUint16(b[1:], uint16(n))
		return 3
	}
	b[0] = 0xdb
	binary.BigEndian.PutUint32(b[1:], uint32(n))
	return 5
}

// isFlat reports whether v is a value the library encodes as one msgpack value of the
// profile without any container: what finish then need not check.
func isFlat(v any) bool {
	switch v.(type) {
	case nil, bool, string, []byte, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64,
		float32, float64:
		return true
	}
	return false
}

// params encodes params. It returns how many values they are if they are an array of
// values isFlat takes, else 0.
func (e *Encoder) params(params any) (flat int, err error) {
	if params == nil {
		return 1, e.enc.EncodeArrayLen(0)
	}
	if list, ok := params.([]any); ok {
		// The usual params: the envelope without reflection; each element through the
		// library's fast paths for common types.
		if n := len(list); n < 16 {
			e.buf.WriteByte(0x90 | byte(n)) // a fixarray
		} else if err := e.enc.EncodeArrayLen(n); err != nil {
			return 0, err
		}
		flat = 1 + len(list)
		for i, v := range list {
			var err error
			if str, ok := v.(string); ok {
				e.writeStr(str) // the commonest param, without the library's type switch
				continue
			}
			if isFlat(v) {
				err = e.enc.Encode(v) // runs no code of the caller's: cannot panic
			} else {
				flat = 0
				if err := checkNesting(v, MaxDepth-2); err != nil {
					return 0, fmt.Errorf("param %d: %w", i, err)
				}
				err = encode(e.enc, v)
			}
			if err != nil {
				return 0, fmt.Errorf("cannot encode param %d of type %T: %w", i, v, err)
			}
		}
		return flat, nil
	}
	if raw, ok := params.(msgpack.RawMessage); ok {
		if len(raw) == 0 || !isArray(raw[0]) {
			return 0, fmt.Errorf("params must be a msgpack array, got raw %s", describeRaw(raw))
		}
		_, err := e.buf.Write(raw)
		return 0, err
	}
	if rv := reflect.ValueOf(params); rv.Kind() == reflect.Slice && rv.IsNil() {
		return 1, e.enc.EncodeArrayLen(0)
	}
	if err := checkNesting(params, MaxDepth-1); err != nil {
		return 0, err
	}
	start := e.buf.Len()
	if err := encode(e.enc, params); err != nil {
		return 0, fmt.Errorf("cannot encode params of type %T: %w", params, err)
	}
	if b := e.buf.Bytes()[start]; !isArray(b) {
		return 0, fmt.Errorf("params must encode as an array (a slice such as []any{1, 2}), but %T encodes as %s", params, describe(b))
	}
	return 0, nil
}

// encode encodes v, turning a panic in a type's own encoder (an EncodeMsgpack or
// MarshalMsgpack method, say one called on a nil pointer) into an error: the caller's
// message is then refused like any other value without a msgpack form, instead of the panic
// unwinding through a caller that holds a call's place or a pool's worker.
func encode(enc *msgpack.Encoder, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("its encoder panicked: %v", r)
		}
	}()
	return enc.Encode(v)
}

func describeRaw(b []byte) string {
	if len(b) == 0 {
		return "empty bytes"
	}
	return describe(b[0])
}

// finish checks the frame against the receiver's rules and fills in the length prefix.
// kind and method name the message in errors (they are formatted only on error).
func (e *Encoder) finish(kind, method string) ([]byte, error) {
	b := e.buf.Bytes()
	n := len(b) - 4
	if n > e.max {
		return nil, unsendable(name(kind, method), ErrFrameTooLarge, "the message is %d bytes, above the maximum frame size %d", n, e.max)
	}
	// A frame of scalars the library encoded, in an envelope this Encoder wrote, is well
	// formed and two levels deep: only its count can break the receiver's rules.
	if e.flat == 0 || e.head+e.flat > e.maxValues {
		if err := CheckFrame(b[4:], e.maxValues); err != nil {
			return nil, e.refused(name(kind, method), err)
		}
	}
	binary.BigEndian.PutUint32(b, uint32(n))
	return b, nil
}

// refused turns what CheckFrame found in a frame about to be sent into the Encoder's error.
func (e *Encoder) refused(what string, err error) error {
	var pe *Error
	if !errors.As(err, &pe) {
		return unsendable(what, nil, "%v", err)
	}
	if errors.Is(err, ErrTooManyValues) {
		return unsendable(what, ErrTooManyValues, "it holds more than %d msgpack values, the receiver's limit (POLYFORK_MAX_VALUES)", e.maxValues)
	}
	return unsendable(what, nil, "%s", pe.Reason)
}

// Marshal encodes v as one msgpack value with the profile Encoder uses.
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	configureEncoder(enc)
	if err := checkNesting(v, MaxDepth); err != nil {
		return nil, fmt.Errorf("%w: cannot encode %T: %w", ErrUnsendable, v, err)
	}
	if err := encode(enc, v); err != nil {
		return nil, fmt.Errorf("protocol: cannot encode %T: %w", v, err)
	}
	return buf.Bytes(), nil
}
