package protocol

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// ErrFrameTooLarge is matched (with errors.Is) by the error for a frame whose length exceeds
// the configured maximum, whether received or about to be sent.
var ErrFrameTooLarge = errors.New("protocol: frame too large")

// ErrTooManyValues is matched by the error for a frame that holds more msgpack values than
// the receiver's limit (SPEC section 3), whether received or about to be sent.
var ErrTooManyValues = errors.New("protocol: too many values in one frame")

// ErrUnsendable is matched by every error an Encoder returns: the message would break the
// receiver's rules (a method name that is not UTF-8, a value nested deeper than MaxDepth,
// more values than the receiver's limit, a frame above its maximum size) or a Go value has
// no msgpack form. Nothing was sent and the connection stays usable: the fault is the
// caller's input, not the peer's.
var ErrUnsendable = errors.New("protocol: message not sent")

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
	if t := strayText(b); t != nil {
		fmt.Fprintf(&s, " (text %q: something wrote to stdout, which belongs to the protocol%s)", string(t), textHint(t))
	}
	return s.String()
}

// textHint names the usual culprit when stray text is an error PHP displayed, or starts
// with white space or a byte-order mark: invisible in an editor, and in PHP written by the
// interpreter itself.
func textHint(b []byte) string {
	switch {
	case IsPHPError(b):
		return "; it is an error PHP displayed on stdout (display_errors): fix it, and have PHP display errors on stderr (php -d display_errors=stderr)"
	case bytes.HasPrefix(b, []byte("\xef\xbb\xbf")):
		return "; it starts with a UTF-8 byte-order mark: save the script (or a file it includes) without a BOM"
	case len(b) > 0 && (b[0] == '\n' || b[0] == '\r' || b[0] == ' ' || b[0] == '\t'):
		return "; it starts with white space: in PHP, look for a blank line or spaces before <?php or after ?> in the script or a file it includes"
	}
	return ""
}

// phpError matches the start of an error as PHP displays it with display_errors on: a line
// break, then the error's label ("Warning: Undefined variable $x in /w.php on line 3").
var phpError = regexp.MustCompile(`^\r?\n(PHP )?(Fatal error|Parse error|Recoverable fatal error|Warning|Notice|Deprecated|Core error|Compile error|Unknown error): `)

// IsPHPError reports whether b, bytes a child wrote to stdout, starts with an error that
// PHP displayed there (display_errors=On or stdout, the default without a php.ini). Its line
// break looks like a blank line before <?php, but the error is the cause.
func IsPHPError(b []byte) bool { return phpError.Match(b) }

// strayText returns the text a stray print left at the start of b, or nil: all of b when
// it is printable UTF-8, else its whole lines of text before the first byte that is not
// (the frames the child wrote after them may already be in the pipe); at least 4 bytes.
func strayText(b []byte) []byte {
	end, line := 0, 0 // the text's length; the length up to its last newline
	for end < len(b) {
		r, n := utf8.DecodeRune(b[end:])
		if r == utf8.RuneError || (r < 0x20 && r != '\n' && r != '\r' && r != '\t') || r == 0x7f {
			break
		}
		end += n
		if r == '\n' {
			line = end
		}
	}
	if end < len(b) {
		end = line
	}
	if end < 4 {
		return nil
	}
	return b[:end]
}
