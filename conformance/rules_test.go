package conformance

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/polyfork/polyfork/bridge"
	"github.com/polyfork/polyfork/internal/testutil"
	"github.com/polyfork/polyfork/protocol"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// rawHost drives a conformance child frame by frame, to send what bridge.Process never
// sends (a request after $stop).
type rawHost struct {
	t      *testing.T
	cmd    *exec.Cmd
	in     interface{ Write([]byte) (int, error) }
	fr     *protocol.FrameReader
	enc    *protocol.Encoder
	stderr *testutil.Buffer
}

func startRaw(t *testing.T, l lang) *rawHost {
	t.Helper()
	cmd := exec.Command(l.argv[0], l.argv[1:]...)
	cmd.Env = append(append(os.Environ(), "POLYFORK_PROTOCOL=1"), l.env...)
	in, err := cmd.StdinPipe()
	require.NoError(t, err)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	h := &rawHost{t: t, cmd: cmd, in: in, fr: protocol.NewFrameReader(out), enc: protocol.NewEncoder(), stderr: &testutil.Buffer{}}
	cmd.Stderr = h.stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		in.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	m := h.read()
	require.Equal(t, protocol.MethodReady, m.Method, h.stderr.String())
	return h
}

func (h *rawHost) write(frame []byte, err error) {
	h.t.Helper()
	require.NoError(h.t, err)
	_, err = h.in.Write(frame)
	require.NoError(h.t, err)
}

func (h *rawHost) read() protocol.Message {
	h.t.Helper()
	frame, err := h.fr.ReadFrame()
	require.NoError(h.t, err, "stderr: %s", h.stderr.String())
	m, err := protocol.DecodeMessage(frame, 0)
	require.NoError(h.t, err)
	m.Params, m.Result = append([]byte(nil), m.Params...), append([]byte(nil), m.Result...)
	return m
}

// readResponse skips notifications until the response to id.
func (h *rawHost) readResponse(id uint32) protocol.Message {
	h.t.Helper()
	for {
		m := h.read()
		if m.Kind == protocol.KindResponse {
			require.Equal(h.t, id, m.ID)
			return m
		}
	}
}

// TestRequestAfterStopGetsStopping pins SPEC section 6: a request that crosses $stop is not
// run and is answered with the Stopping error, whose message names the method; a call in
// flight before $stop still gets its answer.
func TestRequestAfterStopGetsStopping(t *testing.T) {
	forEachLang(t, func(t *testing.T, l lang) {
		h := startRaw(t, l)
		h.write(h.enc.Request(1, "sleep", []any{200}))
		h.write(h.enc.Notification(protocol.MethodStop, nil))
		h.write(h.enc.Request(2, "echo", []any{"too late"}))
		answers := map[uint32]protocol.Message{}
		for len(answers) < 2 {
			m := h.read()
			if m.Kind == protocol.KindResponse {
				answers[m.ID] = m
			}
		}
		assert.Nil(t, answers[1].Error, "the call in flight before $stop finished")
		late := answers[2]
		require.NotNil(t, late.Error, "the request after $stop was not run")
		assert.Equal(t, protocol.TypeStopping, late.Error.Type)
		assert.Contains(t, late.Error.Message, "echo")
	})
}

// TestMalformedTimestampFailsOnlyItsValue pins SPEC section 3: a timestamp ext with the
// wrong length fails the one request that carries it, never the session.
func TestMalformedTimestampFailsOnlyItsValue(t *testing.T) {
	forEachLang(t, func(t *testing.T, l lang) {
		c := start(t, l)
		bad := msgpack.RawMessage{0x91, 0xc7, 0x05, 0xff, 1, 2, 3, 4, 5} // [ext -1 of 5 bytes]
		err := c.Call(context.Background(), "echo", bad, nil)
		var re *bridge.RemoteError
		require.ErrorAs(t, err, &re, "the request carrying it gets an error response")
		assert.NotEmpty(t, re.Message)
		var n int
		require.NoError(t, c.Call(context.Background(), "add", []any{1, 2}, &n), "the session goes on")
		assert.Equal(t, 3, n)
	})
}

// TestHostRefusesWhatTheChildMustReject: a method name that is not UTF-8 or params nested
// deeper than 128 levels never reach a child (they would end its session); the call fails
// with ErrUnsendable and the child serves on.
func TestHostRefusesWhatTheChildMustReject(t *testing.T) {
	forEachLang(t, func(t *testing.T, l lang) {
		c := start(t, l)
		ctx := context.Background()
		deep := any("leaf")
		for i := 0; i < 200; i++ {
			deep = []any{deep}
		}
		require.ErrorIs(t, c.Call(ctx, "\xff", nil, nil), bridge.ErrUnsendable)
		require.ErrorIs(t, c.Call(ctx, "echo", []any{deep}, nil), bridge.ErrUnsendable)
		var pid int
		require.NoError(t, c.Call(ctx, "pid", nil, &pid))
		assert.Equal(t, c.Pid(), pid, "the same child, still up")
	})
}
