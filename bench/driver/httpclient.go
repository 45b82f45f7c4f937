package driver

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// httpConn is the cluster benchmark's HTTP/1.1 client: it posts a body and reads the
// echo, over one keep-alive connection or a new connection per request. It is written
// by hand, not with net/http, so that the load generator, which shares the machine's CPUs
// with the servers it measures, spends as little as it can per request. Not safe for
// concurrent use: each load goroutine has its own.
type httpConn struct {
	addr      string
	keepAlive bool
	c         net.Conn
	r         *bufio.Reader
	w         *bufio.Writer
	head      []byte
}

func newHTTPConn(addr string, keepAlive bool) *httpConn {
	return &httpConn{addr: addr, keepAlive: keepAlive}
}

// post sends payload and returns the X-Pid header of the answer, checking that the
// answer is 200 with the payload as its body.
func (h *httpConn) post(payload string) (pid string, err error) {
	if h.c == nil {
		c, err := net.DialTimeout("tcp", h.addr, 10*time.Second)
		if err != nil {
			return "", err
		}
		h.c = c
		if h.r == nil {
			h.r = bufio.NewReaderSize(c, 64<<10)
			h.w = bufio.NewWriterSize(c, 64<<10)
		} else {
			h.r.Reset(c)
			h.w.Reset(c)
		}
	}
	defer func() {
		if err != nil || !h.keepAlive {
			h.closeConn(err == nil)
		}
	}()
	h.head = h.head[:0]
	h.head = append(h.head, "POST / HTTP/1.1\r\nHost: bench\r\nContent-Type: text/plain\r\nContent-Length: "...)
	h.head = strconv.AppendInt(h.head, int64(len(payload)), 10)
	if !h.keepAlive {
		h.head = append(h.head, "\r\nConnection: close"...)
	}
	h.head = append(h.head, "\r\n\r\n"...)
	if _, err := h.w.Write(h.head); err != nil {
		return "", err
	}
	if _, err := h.w.WriteString(payload); err != nil {
		return "", err
	}
	if err := h.w.Flush(); err != nil {
		return "", err
	}
	length, pid, err := readHead(h.r)
	if err != nil {
		return "", err
	}
	if length != len(payload) {
		return "", fmt.Errorf("wrong echo: sent %d bytes, the answer has %d", len(payload), length)
	}
	if length > 0 && length <= h.r.Size() { // check the ends, as checkEcho does
		b, err := h.r.Peek(length)
		if err != nil {
			return "", err
		}
		if b[0] != payload[0] || b[length-1] != payload[length-1] {
			return "", fmt.Errorf("wrong echo of %d bytes", length)
		}
		_, _ = h.r.Discard(length)
	} else if _, err := io.CopyN(io.Discard, h.r, int64(length)); err != nil {
		return "", err
	}
	return pid, nil
}

// closeConn closes the connection; after a whole answer without keep-alive it first
// waits for the server's end of file, so that the server closes first and the client's
// ports do not pile up in TIME_WAIT over a run.
func (h *httpConn) closeConn(answered bool) {
	if h.c == nil {
		return
	}
	if answered {
		_ = h.c.SetReadDeadline(time.Now().Add(time.Second))
		_, _ = h.r.ReadByte()
	}
	h.c.Close()
	h.c = nil
}

func (h *httpConn) close() { h.closeConn(false) }

// readHead reads a response's status line and headers and returns its Content-Length and
// X-Pid.
func readHead(r *bufio.Reader) (length int, pid string, err error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return 0, "", fmt.Errorf("reading the status line: %w", err)
	}
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 200 ")) {
		return 0, "", fmt.Errorf("the answer is not 200: %q", strings.TrimSpace(string(line)))
	}
	length = -1
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return 0, "", fmt.Errorf("reading the headers: %w", err)
		}
		if len(line) <= 2 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil {
				return 0, "", fmt.Errorf("Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("X-Pid")):
			pid = string(value)
		}
	}
	if length < 0 {
		return 0, "", errors.New("the answer has no Content-Length")
	}
	return length, pid, nil
}
