package driver

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// framed is a child spoken to with bare length-prefixed frames over its stdin and stdout,
// one reply per frame, in order: the raw echo (raw-pipe-go) or a bare msgpack echo
// (bare-*). It is the minimal hand-written Go parent: os.File pipes with their default
// size, a bufio.Reader, one Write per frame.
type framed struct {
	cmd *exec.Cmd
	w   *os.File
	r   *bufio.Reader
	rf  *os.File
	// msgpack: encode the payload as a msgpack str and decode the reply; else raw bytes.
	msgpack bool
}

func startFramed(argv, env []string, useMsgpack bool) (*framed, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, fmt.Errorf("starting %v: %w", argv, err)
	}
	return &framed{cmd: cmd, w: inW, rf: outR, r: bufio.NewReaderSize(outR, 64<<10), msgpack: useMsgpack}, nil
}

// send writes one frame holding payload.
func (f *framed) send(payload string) error {
	var body []byte
	if f.msgpack {
		b, err := msgpack.Marshal(payload)
		if err != nil {
			return err
		}
		body = b
	} else {
		body = []byte(payload)
	}
	frame := make([]byte, 4+len(body))
	binary.BigEndian.PutUint32(frame, uint32(len(body)))
	copy(frame[4:], body)
	_, err := f.w.Write(frame)
	return err
}

// receive reads one frame and checks that it holds want.
func (f *framed) receive(want string) error {
	var head [4]byte
	if _, err := io.ReadFull(f.r, head[:]); err != nil {
		return fmt.Errorf("reading a reply: %w", err)
	}
	body := make([]byte, binary.BigEndian.Uint32(head[:]))
	if _, err := io.ReadFull(f.r, body); err != nil {
		return fmt.Errorf("reading a reply: %w", err)
	}
	if !f.msgpack {
		return checkEcho(string(body), want)
	}
	var got string
	if err := msgpack.Unmarshal(body, &got); err != nil {
		return fmt.Errorf("decoding a reply: %w", err)
	}
	return checkEcho(got, want)
}

func (f *framed) roundTrip(payload string) error {
	if err := f.send(payload); err != nil {
		return err
	}
	return f.receive(payload)
}

// throughput: a writer goroutine keeps conc frames in flight, this one reads the replies.
func (f *framed) throughput(payload string, d time.Duration, conc int) (int64, time.Duration, error) {
	start := time.Now()
	deadline := start.Add(d)
	window := make(chan struct{}, conc)
	var sent atomic.Int64
	var done atomic.Bool
	var werr error
	go func() {
		for time.Now().Before(deadline) {
			window <- struct{}{}
			sent.Add(1) // before the write: the reader may wait for this reply already
			if err := f.send(payload); err != nil {
				werr = err
				break
			}
		}
		done.Store(true)
	}()
	var got int64
	for {
		if got == sent.Load() {
			if done.Load() && got == sent.Load() {
				break
			}
			runtime.Gosched() // nothing in flight: let the writer run
			continue
		}
		if err := f.receive(payload); err != nil {
			return got, time.Since(start), err
		}
		got++
		<-window
	}
	return got, time.Since(start), werr
}

func (f *framed) close() error {
	f.w.Close()
	err := f.cmd.Wait()
	f.rf.Close()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return fmt.Errorf("the child %s: %w", f.cmd.Path, err)
	}
	return err
}
