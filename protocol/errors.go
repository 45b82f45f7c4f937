package protocol

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrFrameTooLarge is matched (with errors.Is) by the error for a frame whose length exceeds
// the configured maximum, whether received or about to be sent.
var ErrFrameTooLarge = errors.New("protocol: frame too large")

// quoteLimit is how many bytes of a bad frame an Error keeps for its message.
const quoteLimit = 64

// Error reports bytes that break the protocol: what was wrong, where, and a quote of what was
// received, so that whoever reads the message can find the bug in the sender.
type Error struct {
	// Reason says what was wrong, for example "params is a map, want an array".
	Reason string
	// Offset is the byte offset in the frame body where the problem was found, or -1.
	Offset int
	// Size is the length of the frame body, or -1 when the frame was never complete.
	Size int
	// Quote holds the first bytes received (at most 64), copied.
	Quote []byte
	// Err is a sentinel the error also matches with errors.Is, such as ErrFrameTooLarge,
	// or nil.
	Err error
}

// Unwrap returns Err.
func (e *Error) Unwrap() error { return e.Err }

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("protocol: ")
	b.WriteString(e.Reason)
	if e.Offset >= 0 && e.Size >= 0 {
		fmt.Fprintf(&b, " (at byte %d of a %d-byte frame)", e.Offset, e.Size)
	}
	if len(e.Quote) > 0 {
		b.WriteString("; received ")
		b.WriteString(QuoteBytes(e.Quote, e.Size))
	}
	return b.String()
}

// newError builds an *Error quoting frame.
func newError(frame []byte, off int, format string, args ...any) *Error {
	q := frame
	if len(q) > quoteLimit {
		q = q[:quoteLimit]
	}
	return &Error{
		Reason: fmt.Sprintf(format, args...),
		Offset: off,
		Size:   len(frame),
		Quote:  append([]byte(nil), q...),
	}
}

// QuoteBytes renders received bytes for an error message: hex, plus the text when the bytes
// look like text (the usual cause being a print to stdout). total is how many bytes there
// were in all, or -1 if unknown; "..." marks a cut.
func QuoteBytes(b []byte, total int) string {
	var s strings.Builder
	for i, c := range b {
		if i > 0 {
			s.WriteByte(' ')
		}
		fmt.Fprintf(&s, "%02x", c)
	}
	if total > len(b) || total < 0 {
		s.WriteString(" ...")
	}
	if looksLikeText(b) {
		fmt.Fprintf(&s, " (text %q: something wrote to stdout, which belongs to the protocol)", string(b))
	}
	return s.String()
}

// looksLikeText reports whether b is printable UTF-8 with at least 4 bytes, as a stray print
// would be.
func looksLikeText(b []byte) bool {
	if len(b) < 4 || !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if r == '\n' || r == '\r' || r == '\t' {
			continue
		}
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return false
		}
	}
	return true
}
