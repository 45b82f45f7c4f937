package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func frameOf(body []byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	return append(out, body...)
}

func TestWriteFramePinsBytes(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, WriteFrame(&buf, []byte{0x93, 0x02, 0xa1, 'm', 0x90}))
	assert.Equal(t, []byte{0, 0, 0, 5, 0x93, 0x02, 0xa1, 'm', 0x90}, buf.Bytes())
	assert.Error(t, WriteFrame(&buf, nil))
}

func TestFrameReaderReadsFramesBackToBack(t *testing.T) {
	var stream []byte
	bodies := [][]byte{{0xc0}, bytes.Repeat([]byte{0xc3}, 70000), {0x01}, bytes.Repeat([]byte{7}, 3<<20)}
	for _, b := range bodies {
		stream = append(stream, frameOf(b)...)
	}
	// One byte per Read: frames must still come out whole.
	fr := NewFrameReader(iotest.OneByteReader(bytes.NewReader(stream)))
	for i, want := range bodies {
		got, err := fr.ReadFrame()
		require.NoError(t, err, "frame %d", i)
		require.Equal(t, want, got, "frame %d", i)
	}
	_, err := fr.ReadFrame()
	assert.Equal(t, io.EOF, err, "a clean end between frames is plain io.EOF")
}

func TestFrameReaderRejectsOversizeBeforeAllocating(t *testing.T) {
	fr := NewFrameReader(bytes.NewReader(frameOf(make([]byte, 1025))))
	fr.SetMaxFrameSize(1024)
	assert.Equal(t, 1024, fr.MaxFrameSize())
	_, err := fr.ReadFrame()
	require.ErrorIs(t, err, ErrFrameTooLarge)
	var perr *Error
	require.ErrorAs(t, err, &perr)
	assert.Contains(t, err.Error(), "frame length 1025 is above the maximum frame size 1024")

	// A 4 GiB announcement costs nothing: the check comes before any allocation.
	allocs := testing.AllocsPerRun(10, func() {
		_, err := NewFrameReader(bytes.NewReader([]byte{0xff, 0xff, 0xff, 0xff})).ReadFrame()
		require.ErrorIs(t, err, ErrFrameTooLarge)
	})
	assert.Less(t, allocs, 20.0)
}

func TestFrameReaderBigAnnouncementLittleData(t *testing.T) {
	// A peer announces 60 MiB and sends 10 bytes: the reader must not have allocated 60 MiB.
	stream := append(binary.BigEndian.AppendUint32(nil, 60<<20), make([]byte, 10)...)
	fr := NewFrameReader(bytes.NewReader(stream))
	_, err := fr.ReadFrame()
	var perr *Error
	require.ErrorAs(t, err, &perr)
	assert.Contains(t, err.Error(), "truncated frame: the stream ended after 10 of 62914560 body bytes")
	assert.LessOrEqual(t, cap(fr.buf), firstChunk)
}

func TestFrameReaderNamesTextOnStdout(t *testing.T) {
	fr := NewFrameReader(strings.NewReader("Hello from a stray print()\n"))
	_, err := fr.ReadFrame()
	require.ErrorIs(t, err, ErrFrameTooLarge)
	msg := err.Error()
	assert.Contains(t, msg, `"Hello from a stray print()\n"`)
	assert.Contains(t, msg, "something wrote to stdout")
}

func TestFrameReaderZeroLength(t *testing.T) {
	_, err := NewFrameReader(bytes.NewReader([]byte{0, 0, 0, 0})).ReadFrame()
	var perr *Error
	require.ErrorAs(t, err, &perr)
	assert.Contains(t, err.Error(), "frame length is 0")
}

func TestFrameReaderPassesReadErrors(t *testing.T) {
	boom := errors.New("boom")
	_, err := NewFrameReader(iotest.ErrReader(boom)).ReadFrame()
	assert.ErrorIs(t, err, boom)
}

func TestFrameReaderBufferReuse(t *testing.T) {
	// Frames up to 4 MiB reuse one buffer; a bigger one is not kept.
	var stream []byte
	stream = append(stream, frameOf(make([]byte, 100))...)
	stream = append(stream, frameOf(make([]byte, 5<<20))...)
	stream = append(stream, frameOf(make([]byte, 100))...)
	fr := NewFrameReader(bytes.NewReader(stream))
	for i := 0; i < 3; i++ {
		_, err := fr.ReadFrame()
		require.NoError(t, err)
		assert.LessOrEqual(t, cap(fr.buf), keepBuffer)
	}
}

func TestFrameReaderDetach(t *testing.T) {
	var stream []byte
	stream = append(stream, frameOf([]byte{0x01})...)
	stream = append(stream, frameOf([]byte{0x02})...)
	fr := NewFrameReader(bytes.NewReader(stream))
	first, err := fr.ReadFrame()
	require.NoError(t, err)
	fr.Detach()
	second, err := fr.ReadFrame()
	require.NoError(t, err)
	assert.Equal(t, []byte{0x01}, first, "a detached body is not overwritten")
	assert.Equal(t, []byte{0x02}, second)
}

func TestQuoteBytesNamesInvisibleText(t *testing.T) {
	assert.Contains(t, QuoteBytes([]byte("\n<?php echo"), -1), "blank line or spaces before <?php")
	assert.Contains(t, QuoteBytes([]byte("\xef\xbb\xbf<?php"), -1), "byte-order mark")
	assert.NotContains(t, QuoteBytes([]byte("hello world"), -1), "<?php")
	// An error PHP displayed starts with a line break, but it is no blank line.
	q := QuoteBytes([]byte("\nWarning: Undefined variable $x in /w.php on line 2\n"), -1)
	assert.Contains(t, q, "an error PHP displayed on stdout (display_errors)")
	assert.NotContains(t, q, "blank line")
	assert.True(t, IsPHPError([]byte("\nParse error: syntax error, unexpected token")))
	assert.True(t, IsPHPError([]byte("\r\nPHP Fatal error: Uncaught Error")))
	assert.False(t, IsPHPError([]byte("\nWarnings: none")))
	assert.False(t, IsPHPError([]byte("Warning: no line break before it")))
	// Text followed by the child's first frame, already in the pipe: the text is named.
	q = QuoteBytes([]byte("output before the opening tag\n\x00\x00\x00\x3c\x93"), -1)
	assert.Contains(t, q, `(text "output before the opening tag\n": something wrote to stdout`)
	assert.NotContains(t, QuoteBytes([]byte("abc\x00\x01"), -1), "stdout", "too short to be a print")
	assert.NotContains(t, QuoteBytes([]byte("\x94\x00abcd\n"), -1), "stdout", "a frame that holds text")
}

// stutterReader hands out its bytes a few at a time and returns a deadline error between
// pieces, as a stream with a read deadline that keeps passing would.
type stutterReader struct {
	data  []byte
	steps []int
	i     int
	fail  bool
}

func (s *stutterReader) Read(p []byte) (int, error) {
	if s.fail {
		s.fail = false
		return 0, os.ErrDeadlineExceeded
	}
	if len(s.data) == 0 {
		return 0, io.EOF
	}
	n := s.steps[s.i%len(s.steps)]
	s.i++
	n = min(n, len(p), len(s.data))
	copy(p, s.data[:n])
	s.data = s.data[n:]
	s.fail = true
	return n, nil
}

func TestFrameReaderResumesAfterADeadline(t *testing.T) {
	var stream []byte
	var want [][]byte
	for _, n := range []int{1, 3, 200, 70000, 5} {
		body := bytes.Repeat([]byte{byte(n)}, n)
		want = append(want, body)
		stream = append(stream, binary.BigEndian.AppendUint32(nil, uint32(n))...)
		stream = append(stream, body...)
	}
	for _, steps := range [][]int{{1}, {2, 3}, {7, 1, 4096}} {
		fr := NewFrameReader(&stutterReader{data: append([]byte(nil), stream...), steps: steps})
		var got [][]byte
		deadlines := 0
		for {
			b, err := fr.ReadFrame()
			if errors.Is(err, os.ErrDeadlineExceeded) {
				deadlines++
				continue
			}
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			got = append(got, bytes.Clone(b))
		}
		require.Equal(t, want, got, "steps %v", steps)
		assert.Greater(t, deadlines, 0)
	}
}
