package main

import (
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// screenModes passes a child's console output to the user's terminal and follows the
// modes the output turns on in the terminal itself (the emulator, not the line
// discipline that Restore puts back): the alternate screen, a hidden cursor, mouse and
// focus reports, bracketed paste, application cursor keys and keypad, insert and origin
// modes, colours, a scroll region, and the line-drawing character set (ESC ( 0, or SO). A full-screen program (a curses debugger, prompt_toolkit's ipdb) turns them
// on and off again as it exits; one that crashes, is killed, or is detached from leaves
// them on, and the user's shell then runs on the alternate screen with no cursor, its
// input full of mouse reports and paste brackets. restore turns back what was left on.
type screenModes struct {
	w io.Writer

	mu     sync.Mutex
	state  byte   // parser: ground, escSeen, inCSI
	csi    []byte // a CSI sequence's parameter and intermediate bytes
	long   bool   // ... too long to be one we follow: skipped to its end
	modes  map[int]bool
	keypad bool // ESC = (DECKPAM) without ESC > since
	insert bool // CSI 4 h (IRM) without CSI 4 l since
	sgr    bool // a colour or attribute set and not reset since
	scroll bool // a scroll region set (CSI t;b r) and not reset since
	g0     bool // G0 designated other than ASCII (ESC ( 0: line drawing) since ESC ( B
	shift  bool // SO (G1 invoked) without SI since
	ended  bool
}

const (
	ground = iota
	escSeen
	inCSI
	inG0 // after ESC (: the next byte designates G0's character set
	inG1 // after ESC ) (and the other designators): the next byte is consumed
)

// trackedModes are the DEC private modes (CSI ? N h / l) restore puts back, with their
// value in a fresh terminal: 25 (cursor shown) and 7 (autowrap) are on, the others off.
// Restore leaves the alternate screens last (1049, 1047, 47), so that what is reset
// before applies where the user's shell runs.
var trackedModes = map[int]bool{
	1: false, 5: false, 6: false, 7: true, 25: true,
	1000: false, 1001: false, 1002: false, 1003: false, 1004: false, 1005: false, 1006: false,
	1015: false, 1016: false, 2004: false,
	47: false, 1047: false, 1049: false,
}

func newScreenModes(w io.Writer) *screenModes {
	return &screenModes{w: w, modes: map[int]bool{}}
}

// Write follows the modes p changes and writes p. After restore it writes nothing: the
// session is over.
func (s *screenModes) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return len(p), nil
	}
	for _, b := range p {
		s.scan(b)
	}
	return s.w.Write(p)
}

func (s *screenModes) scan(b byte) {
	switch s.state {
	case ground:
		switch b {
		case 0x1b:
			s.state = escSeen
		case 0x0e: // SO
			s.shift = true
		case 0x0f: // SI
			s.shift = false
		}
	case inG0:
		s.state = ground
		s.g0 = b != 'B'
	case inG1:
		s.state = ground
	case escSeen:
		s.state = ground
		switch b {
		case '[':
			s.state, s.csi, s.long = inCSI, s.csi[:0], false
		case '=':
			s.keypad = true
		case '>':
			s.keypad = false
		case '(':
			s.state = inG0
		case ')', '*', '+':
			s.state = inG1
		case 'c': // RIS: the terminal resets itself
			clear(s.modes)
			s.keypad, s.insert, s.sgr, s.scroll, s.g0, s.shift = false, false, false, false, false, false
		case 0x1b:
			s.state = escSeen
		}
	case inCSI:
		switch {
		case b == 0x1b:
			s.state = escSeen
		case b >= 0x20 && b <= 0x3f:
			if len(s.csi) < 64 {
				s.csi = append(s.csi, b)
			} else {
				s.long = true
			}
		case b >= 0x40 && b <= 0x7e:
			s.state = ground
			if !s.long {
				s.apply(string(s.csi), b)
			}
		} // other control bytes inside a sequence are executed by the terminal, not part of it
	}
}

// apply follows one CSI sequence: its parameters and final byte.
func (s *screenModes) apply(params string, final byte) {
	switch final {
	case 'h', 'l':
		on := final == 'h'
		if rest, ok := strings.CutPrefix(params, "?"); ok {
			for _, f := range strings.Split(rest, ";") {
				if n, err := strconv.Atoi(f); err == nil {
					if _, tracked := trackedModes[n]; tracked {
						s.modes[n] = on
					}
				}
			}
			return
		}
		if slices.Contains(strings.Split(params, ";"), "4") {
			s.insert = on
		}
	case 'm':
		reset := true
		for _, f := range strings.Split(params, ";") {
			if f != "" && f != "0" {
				reset = false
			}
		}
		s.sgr = !reset
	case 'r':
		if !strings.HasPrefix(params, "?") { // CSI ? ... r restores private modes (xterm)
			s.scroll = params != "" && params != ";"
		}
	}
}

// restore writes what turns back the modes the output left on, then ends the session:
// later output is dropped.
func (s *screenModes) restore() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	s.ended = true
	var seq strings.Builder
	set := func(n int, on bool) {
		seq.WriteString("\x1b[?" + strconv.Itoa(n))
		if on {
			seq.WriteByte('h')
		} else {
			seq.WriteByte('l')
		}
	}
	var modes []int
	for n, on := range s.modes {
		if on != trackedModes[n] {
			modes = append(modes, n)
		}
	}
	slices.SortFunc(modes, func(a, b int) int { return altScreenLast(a) - altScreenLast(b) })
	for _, n := range modes {
		set(n, trackedModes[n])
	}
	if s.keypad {
		seq.WriteString("\x1b>")
	}
	if s.insert {
		seq.WriteString("\x1b[4l")
	}
	if s.sgr {
		seq.WriteString("\x1b[0m")
	}
	if s.scroll { // DECSTBM homes the cursor: save and restore it around the reset
		seq.WriteString("\x1b7\x1b[r\x1b8")
	}
	if s.g0 {
		seq.WriteString("\x1b(B")
	}
	if s.shift {
		seq.WriteString("\x0f")
	}
	if seq.Len() > 0 {
		_, _ = io.WriteString(s.w, seq.String())
	}
}

// altScreenLast orders modes: the alternate screens after the others, by number otherwise.
func altScreenLast(n int) int {
	switch n {
	case 47, 1047, 1049:
		return n + 1<<20
	}
	return n
}
