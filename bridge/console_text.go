package bridge

import (
	"bytes"
	"unicode/utf8"
)

// visibleText returns what a terminal would show of one line of output: escape sequences
// (CSI such as colours and cursor movement, OSC such as window titles, DCS and the other
// string sequences, and two- or three-byte escapes) and control characters other than tab
// removed, carriage returns and backspaces applied by overwriting. Bytes that are not
// UTF-8 pass through as they are. A line with nothing to remove is returned unchanged.
func visibleText(line []byte) []byte {
	if !hasControls(line) {
		return line
	}
	// cells hold what each column shows: one UTF-8 sequence, or one stray byte.
	var cells [][]byte
	col := 0
	put := func(cell []byte) {
		if col < len(cells) {
			cells[col] = cell
		} else {
			cells = append(cells, cell)
		}
		col++
	}
	for i := 0; i < len(line); {
		b := line[i]
		switch {
		case b == 0x1b:
			i = skipEscape(line, i)
			continue
		case b == '\r':
			col = 0
		case b == '\b':
			if col > 0 {
				col--
			}
		case b == '\t':
			put(line[i : i+1])
		case b < 0x20 || b == 0x7f:
			// other control characters show nothing
		case b < utf8.RuneSelf:
			put(line[i : i+1])
		default:
			r, n := utf8.DecodeRune(line[i:])
			if r == utf8.RuneError && n == 1 {
				put(line[i : i+1])
			} else if r >= 0x80 && r < 0xa0 {
				// C1 controls show nothing (a CSI as one byte, U+009B, is rare enough to
				// be treated like the others)
			} else {
				put(line[i : i+n])
			}
			i += n
			continue
		}
		i++
	}
	return bytes.Join(cells, nil)
}

// hasControls reports whether line holds any byte visibleText would act on.
func hasControls(line []byte) bool {
	for _, b := range line {
		if (b < 0x20 && b != '\t') || b == 0x7f || b == 0xc2 { // 0xc2 starts U+0080..U+00BF
			return true
		}
	}
	return false
}

// skipEscape returns the index after the escape sequence that starts at line[i] (ESC).
// An unfinished sequence runs to the end of the line.
func skipEscape(line []byte, i int) int {
	i++ // ESC
	if i >= len(line) {
		return i
	}
	switch line[i] {
	case '[': // CSI: parameter and intermediate bytes, then one final byte 0x40..0x7e
		for i++; i < len(line); i++ {
			if line[i] >= 0x40 && line[i] <= 0x7e {
				return i + 1
			}
		}
		return i
	case ']', 'P', 'X', '^', '_': // OSC, DCS, SOS, PM, APC: up to BEL or ESC \
		for i++; i < len(line); i++ {
			if line[i] == 0x07 {
				return i + 1
			}
			if line[i] == 0x1b && i+1 < len(line) && line[i+1] == '\\' {
				return i + 2
			}
		}
		return i
	case '(', ')', '*', '+', '-', '.', '/', '#', '%', ' ': // designations: one more byte
		return min(i+2, len(line))
	}
	return i + 1 // ESC and one byte: ESC =, ESC 7, ESC M...
}
