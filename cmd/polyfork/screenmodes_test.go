package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestScreenModesRestore(t *testing.T) {
	for _, c := range []struct {
		name   string
		writes []string
		want   string
	}{
		{"nothing turned on", []string{"plain text\r\n", "\x1b[2J\x1b[H"}, ""},
		{"turned on and off again", []string{"\x1b[?1049h\x1b[?25l\x1b[31m", "x", "\x1b[?25h\x1b[?1049l\x1b[0m"}, ""},
		{"split across writes", []string{"\x1b", "[?10", "49h", "\x1b[", "?2004", "h"}, "\x1b[?2004l\x1b[?1049l"},
		{"several in one sequence", []string{"\x1b[?1006;1000;1004h"}, "\x1b[?1000l\x1b[?1004l\x1b[?1006l"},
		{"a mode on by default turned off", []string{"\x1b[?7l"}, "\x1b[?7h"},
		{"untracked modes left alone", []string{"\x1b[?12h\x1b[?9999h\x1b[20h"}, ""},
		{"keypad, insert, colour", []string{"\x1b=\x1b[4h\x1b[1;32m"}, "\x1b>\x1b[4l\x1b[0m"},
		{"a reset of the terminal (RIS) clears everything", []string{"\x1b[?1049h\x1b=\x1b[5;20r\x1b(0\x0e", "\x1bc"}, ""},
		{"origin mode and a scroll region", []string{"\x1b[?6h\x1b[2;", "22r"}, "\x1b[?6l\x1b7\x1b[r\x1b8"},
		{"a scroll region reset", []string{"\x1b[3;9r", "\x1b[r"}, ""},
		{"line drawing in G0, and SO", []string{"\x1b(0lqk", "\x1b)0\x0eabc"}, "\x1b(B\x0f"},
		{"line drawing turned off again", []string{"\x1b(0lqk\x1b(B\x0ex\x0f"}, ""},
		{"a G1 designation alone changes nothing shown", []string{"\x1b)0"}, ""},
		{"a sequence too long to follow is skipped whole", []string{"\x1b[?" + string(bytes.Repeat([]byte("1;"), 100)) + "h", "\x1b[?25l"}, "\x1b[?25h"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			s := newScreenModes(&out)
			for _, w := range c.writes {
				s.Write([]byte(w))
			}
			written := out.Len()
			s.restore()
			assert.Equal(t, c.want, out.String()[written:])
			s.Write([]byte("after"))
			assert.NotContains(t, out.String(), "after", "nothing is written after restore")
		})
	}
}
