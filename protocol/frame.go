package protocol

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// keepBuffer is the largest body buffer a FrameReader keeps between frames; larger frames
// get a buffer of their own that is dropped once the next frame is read.
const keepBuffer = 4 << 20

// firstChunk is how much a FrameReader allocates up front for a large frame (a frame up
// to this size is read into one allocation); past it, it grows the buffer only as the bytes
// actually arrive, so a peer that announces a huge frame and sends little costs little.
const firstChunk = 4 << 20

// FrameReader reads length-prefixed frames from a stream.
//
// It is not safe for concurrent use. The slice ReadFrame returns is valid only until the
// next call to ReadFrame.
type FrameReader struct {
	r   *bufio.Reader
	max int
	buf []byte
	hdr [4]byte

	// A frame cut by a read deadline: what of it was read, so that the next call resumes.
	hdrN int    // length-prefix bytes read
	body []byte // the body's buffer once the prefix is in; len = bytes read
	size int    // the body's length once the prefix is in, else -1
}

// NewFrameReader returns a FrameReader that reads from r through a 64 KiB buffer, with the
// default maximum frame size.
func NewFrameReader(r io.Reader) *FrameReader {
	return &FrameReader{r: bufio.NewReaderSize(r, 64<<10), max: DefaultMaxFrameSize, size: -1}
}

// SetMaxFrameSize sets the largest frame body ReadFrame accepts. n <= 0 restores the
// default.
func (fr *FrameReader) SetMaxFrameSize(n int) {
	if n <= 0 {
		n = DefaultMaxFrameSize
	}
	fr.max = n
}

// MaxFrameSize returns the largest frame body ReadFrame accepts.
func (fr *FrameReader) MaxFrameSize() int { return fr.max }

// Buffered returns how many bytes are read from the stream but not yet returned in a
// frame: when it is not 0, the next ReadFrame may not need to read at all.
func (fr *FrameReader) Buffered() int { return fr.r.Buffered() }

// Detach hands the body that ReadFrame last returned over to the caller: it stays valid
// after later calls, and the FrameReader reads the next frames into new memory. It saves
// copying a large body that the caller wants to keep.
func (fr *FrameReader) Detach() { fr.buf = nil }

// ReadFrame reads the next frame and returns its body, valid until the next call (or for
// good after Detach).
//
// It returns io.EOF, unwrapped, when the stream ends cleanly between frames. A stream that
// ends inside a frame, a length of zero and a length above the maximum are reported as an
// *Error (the last one also matches ErrFrameTooLarge); the length is checked before any
// memory is allocated for the body. Other read errors are returned as they are. After an
// error matching os.ErrDeadlineExceeded (a read deadline passed), ReadFrame may be called
// again: it resumes the frame where it stopped.
func (fr *FrameReader) ReadFrame() ([]byte, error) {
	for fr.hdrN < 4 {
		m, err := fr.r.Read(fr.hdr[fr.hdrN:])
		fr.hdrN += m
		if err == nil {
			continue
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, err
		}
		got := fr.hdrN
		fr.hdrN = 0
		if err == io.EOF && got > 0 {
			return nil, &Error{
				Reason: fmt.Sprintf("truncated frame: the stream ended after %d of the 4 length-prefix bytes", got),
				Offset: -1, Size: -1, Quote: append([]byte(nil), fr.hdr[:got]...),
			}
		}
		return nil, err
	}
	if fr.size < 0 {
		n := binary.BigEndian.Uint32(fr.hdr[:])
		if n == 0 {
			fr.hdrN = 0
			return nil, fr.streamError(-1, "frame length is 0; a frame holds one msgpack value, at least 1 byte")
		}
		if uint64(n) > uint64(fr.max) {
			fr.hdrN = 0
			e := fr.streamError(-1, fmt.Sprintf("frame length %d is above the maximum frame size %d", n, fr.max))
			e.Err = ErrFrameTooLarge
			return nil, e
		}
		fr.size = int(n)
		if fr.size <= cap(fr.buf) {
			fr.body = fr.buf[:0]
		} else {
			fr.body = make([]byte, 0, min(fr.size, max(firstChunk, cap(fr.buf))))
		}
	}
	if err := fr.readBody(); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, err
		}
		body, size := fr.body, fr.size
		fr.reset()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			e := newError(body, -1, "truncated frame: the stream ended after %d of %d body bytes", len(body), size)
			e.Quote = append(append([]byte(nil), fr.hdr[:]...), e.Quote...)
			e.Size = -1
			return nil, e
		}
		return nil, err
	}
	body := fr.body
	if cap(body) <= keepBuffer {
		fr.buf = body[:0]
	}
	fr.reset()
	return body, nil
}

// reset forgets the frame in progress.
func (fr *FrameReader) reset() { fr.hdrN, fr.body, fr.size = 0, nil, -1 }

// readBody reads the rest of the body into fr.body, growing it as bytes arrive, so that a
// peer that announces a huge frame and sends little costs little.
func (fr *FrameReader) readBody() error {
	b := fr.body
	for len(b) < fr.size {
		if len(b) == cap(b) {
			nb := make([]byte, len(b), min(fr.size, 2*cap(b)))
			copy(nb, b)
			b = nb
		}
		m, err := fr.r.Read(b[len(b):min(cap(b), fr.size)])
		b = b[:len(b)+m]
		fr.body = b
		if err != nil {
			if err == io.EOF && len(b) < fr.size {
				return io.ErrUnexpectedEOF
			}
			if len(b) < fr.size {
				return err
			}
		}
	}
	fr.body = b
	return nil
}

// streamError builds an *Error for a bad length prefix, quoting the prefix and whatever
// else is already buffered (without blocking), which usually shows what went wrong.
func (fr *FrameReader) streamError(off int, reason string) *Error {
	q := append([]byte(nil), fr.hdr[:]...)
	if extra, _ := fr.r.Peek(min(fr.r.Buffered(), quoteLimit-len(q))); len(extra) > 0 {
		q = append(q, extra...)
	}
	return &Error{Reason: reason, Offset: off, Size: -1, Quote: q}
}

// WriteFrame writes body as one frame, in a single Write call when possible.
func WriteFrame(w io.Writer, body []byte) error {
	if len(body) == 0 {
		return errors.New("protocol: cannot write an empty frame")
	}
	if uint64(len(body)) > 1<<32-1 {
		return fmt.Errorf("%w: %d bytes cannot be framed with a 32-bit length", ErrFrameTooLarge, len(body))
	}
	buf := make([]byte, 4+len(body))
	binary.BigEndian.PutUint32(buf, uint32(len(body)))
	copy(buf[4:], body)
	_, err := w.Write(buf)
	return err
}
