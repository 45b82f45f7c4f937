package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/polyfork/polyfork/bridge"
	"github.com/polyfork/polyfork/protocol"
)

// describe renders an error from a child for a terminal or log whose reader has already
// seen the child's stderr (the commands relay it line by line as it comes), so the lines
// the error carries are not printed again. A timeout names its flag; a protocol error that
// starts with white space or a byte order mark gets a hint.
func describe(err error, timeout time.Duration) string {
	msg := err.Error()
	var ee *bridge.ExitError
	if errors.As(err, &ee) {
		msg = strings.Replace(msg, ee.Error(), exitWithoutStderr(ee), 1)
	} else if errors.Is(err, bridge.ErrStartTimeout) {
		msg = stderrAbove(msg) // the bridge writes the stderr tail into this message as text
	}
	if timeout > 0 && errors.Is(err, context.DeadlineExceeded) {
		msg = fmt.Sprintf("timed out after %v (-timeout): %s", timeout, msg)
	}
	if hint := stdoutHint(err); hint != "" {
		msg += "\n" + hint
	}
	return msg
}

// exitWithoutStderr says how a child ended, as the error does (its address space limit
// included), pointing at its stderr instead of quoting it.
func exitWithoutStderr(e *bridge.ExitError) string {
	if len(e.Stderr) == 0 {
		return e.Error() // "; it wrote nothing to stderr"
	}
	return stderrAbove(e.Error())
}

// stderrAbove replaces the stderr lines a bridge error quotes at its end with a pointer to
// where the reader has seen them.
func stderrAbove(msg string) string {
	if i := strings.Index(msg, "; last stderr lines:"); i >= 0 {
		return msg[:i] + "; its stderr is above"
	}
	return msg
}

// phpNoScript starts what the PHP command line writes on stdout when it cannot open the
// script it was given.
const phpNoScript = "Could not open input file: "

// stdoutHint recognises the usual reasons why a child's bytes on stdout are not a frame:
// a PHP script that cannot be opened, an error PHP displayed there, a script that prints white space or a byte order mark before
// the library takes stdout over (a blank line before <?php is the classic), or any other
// print that came first (a print at start-up under PYTHONUNBUFFERED, a write before the
// library is loaded). Binary garbage gets no hint.
func stdoutHint(err error) string {
	var pe *protocol.Error
	if !errors.As(err, &pe) || len(pe.Quote) == 0 {
		return ""
	}
	const channelFD = " Or run the child with -channel fd: its stdout is then only a log."
	var what string
	switch q := pe.Quote; {
	case bytes.HasPrefix(q, []byte(phpNoScript)):
		// PHP says so on stdout, where it reads as a print before the library.
		script, _, _ := bytes.Cut(q[len(phpNoScript):], []byte("\n"))
		return fmt.Sprintf("hint: PHP could not open the script %q: it does not exist (relative paths start "+
			"from the working directory), or cannot be read. The command was not run.", script)
	case protocol.IsPHPError(q):
		return "hint: the child's stdout starts with an error PHP displayed there (display_errors), " +
			"before the polyfork library took stdout over: the error is quoted above. Fix it, and have " +
			"PHP display errors on stderr: php -d display_errors=stderr worker.php."
	case bytes.HasPrefix(q, []byte("\xef\xbb\xbf")):
		what = "a UTF-8 byte order mark (ef bb bf)"
	case q[0] == ' ' || q[0] == '\t' || q[0] == '\n' || q[0] == '\r':
		what = fmt.Sprintf("white space (%02x)", q[0])
	case q[0] >= 0x20 && q[0] < 0x7f || errors.Is(err, bridge.ErrStrayOutput):
		return "hint: something in the child wrote to stdout, which carries the protocol: import or " +
			"require the polyfork library before anything prints (text printed unbuffered, as under " +
			"PYTHONUNBUFFERED=1, goes out at once)." + channelFD
	default:
		return ""
	}
	return "hint: the child's stdout starts with " + what + ", written before the polyfork library " +
		"took stdout over: look for a blank line or a space before <?php, a byte order mark at the " +
		"start of the script (save it as UTF-8 without BOM), or a print before the library is loaded." + channelFD
}
