package bridge

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/polyfork/polyfork/protocol"
)

// protocolVersion is the protocol version this package speaks.
const protocolVersion = protocol.Version

// ReadyInfo is what a child announces in its $ready handshake (SPEC section 5).
type ReadyInfo struct {
	Protocol int    `msgpack:"protocol"` // the protocol version the child speaks
	Lang     string `msgpack:"lang"`     // its language, such as "python"
	Pid      int    `msgpack:"pid"`      // its process id
	Lib      string `msgpack:"lib"`      // its library and version, such as "polyfork-python/0.2.0"
}

// ReadReady reads the first frame a child sends, which must be the $ready notification, and
// returns what it announced. It reads exactly that frame and nothing after it, so r can be
// handed to NewConn afterwards. A frame that is not a well-formed $ready is a
// *ProtocolError; a child speaking another protocol version gets a *VersionError (the
// caller must then stop it). End of input before the frame is io.EOF, and inside it a
// *ProtocolError (a truncated frame); a read error (such as a read deadline passing) is
// returned as it is.
func ReadReady(r io.Reader, maxFrame int) (ReadyInfo, error) {
	var info ReadyInfo
	var hdr [4]byte
	if n, err := io.ReadFull(r, hdr[:]); err != nil {
		if n > 0 && errors.Is(err, io.ErrUnexpectedEOF) {
			return info, &ProtocolError{Err: &protocol.Error{
				Reason: fmt.Sprintf("truncated frame: the stream ended after %d of the 4 length-prefix bytes", n),
				Offset: -1, Size: -1, Quote: hdr[:n]}}
		}
		return info, err
	}
	size := binary.BigEndian.Uint32(hdr[:])
	if maxFrame <= 0 {
		maxFrame = protocol.DefaultMaxFrameSize
	}
	if size == 0 || uint64(size) > uint64(maxFrame) {
		// Read a little more to show what the child wrote (usually text on stdout, already
		// in the pipe), but do not wait for more than a moment.
		if d, ok := r.(readDeadliner); ok {
			_ = d.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			defer d.SetReadDeadline(time.Time{})
		}
		more := make([]byte, 60)
		m, _ := io.ReadAtLeast(r, more, 1)
		quote := append(hdr[:], more[:m]...)
		reason := fmt.Sprintf("the first frame must be the %s notification, but its length prefix says %d bytes (the maximum is %d)",
			protocol.MethodReady, size, maxFrame)
		sentinel := protocol.ErrFrameTooLarge
		if n := strayBeforeReady(quote); n > 0 {
			reason += fmt.Sprintf("; a %s frame follows the first %d bytes, which something wrote to stdout before the child's polyfork library took it over",
				protocol.MethodReady, n)
			sentinel = errors.Join(protocol.ErrFrameTooLarge, ErrStrayOutput)
		}
		return info, &ProtocolError{Err: &protocol.Error{
			Reason: reason,
			Offset: -1, Size: -1, Quote: quote, Err: sentinel}}
	}
	body := make([]byte, size)
	if n, err := io.ReadFull(r, body); err != nil {
		if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return info, err // not an end: a read deadline (the start timeout) or a read error
		}
		return info, &ProtocolError{Err: &protocol.Error{
			Reason: fmt.Sprintf("truncated frame: the stream ended after %d of %d body bytes", n, size),
			Offset: -1, Size: -1, Quote: append(hdr[:], body[:min(n, 60)]...)}}
	}
	m, err := protocol.DecodeMessage(body, 0)
	if err != nil {
		return info, &ProtocolError{Err: err}
	}
	if m.Kind != protocol.KindNotification || m.Method != protocol.MethodReady {
		return info, &ProtocolError{Err: fmt.Errorf("the first message must be the %s notification, got a %s%s",
			protocol.MethodReady, m.Kind, methodSuffix(m))}
	}
	var args []ReadyInfo
	if err := protocol.Unmarshal(m.Params, &args); err != nil || len(args) != 1 {
		return info, &ProtocolError{Err: fmt.Errorf(`%s params must be [{"protocol": 1, "lang": str, "pid": int, "lib": str}], got %s`,
			protocol.MethodReady, quoteValue(m.Params))}
	}
	info = args[0]
	if info.Protocol == 0 {
		return info, &ProtocolError{Err: fmt.Errorf(`%s has no "protocol" version: %s`, protocol.MethodReady, quoteValue(m.Params))}
	}
	if info.Protocol != protocol.Version {
		return info, &VersionError{Pid: info.Pid, Child: info.Protocol, Host: []int{protocol.Version}}
	}
	return info, nil
}

// readyStart is how every client's $ready message begins: an array of 3, the notification
// kind, and the method as a fixstr.
var readyStart = []byte("\x93\x02\xa6" + protocol.MethodReady)

// strayBeforeReady returns how many bytes come before a $ready frame (its length prefix, then
// readyStart) that quote shows, or 0 when it shows none: what a child wrote to stdout before
// its library took stdout over, when that is too short or not text enough for QuoteBytes to
// show as text ("x", an escape sequence).
func strayBeforeReady(quote []byte) int {
	i := bytes.Index(quote, readyStart)
	if i < 5 { // a length prefix, and at least one byte before it
		return 0
	}
	return i - 4
}

func methodSuffix(m protocol.Message) string {
	if m.Kind == protocol.KindResponse {
		return fmt.Sprintf(" (id %d)", m.ID)
	}
	return fmt.Sprintf(" %q", m.Method)
}
