package remote_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/polyfork/polyfork/bridge"
	"github.com/polyfork/polyfork/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A handler that raises with an error above the NATS maximum payload: the caller gets the
// error (cut, and saying so), not ErrAgentLost; an idempotent call is not run again; and
// the agent's stats, which carry its last error, still travel, so Agents still lists it.
func TestAHugeErrorIsAnswered(t *testing.T) {
	s := runServer(t, remote.ServerConfig{})
	a := startAgent(t, s.ClientURL(), "hugeerr")
	p := dial(t, s.ClientURL(), "hugeerr")
	ctx := ctxFor(t, 30*time.Second)
	for _, idem := range []bool{false, true} {
		ledger := filepath.Join(t.TempDir(), "ledger")
		var opts []bridge.CallOption
		if idem {
			opts = append(opts, bridge.Idempotent())
		}
		err := p.Call(ctx, "fail_big", []any{ledger, 1_200_000}, nil, opts...)
		var re *bridge.RemoteError
		require.ErrorAs(t, err, &re, "idempotent %v", idem)
		assert.NotErrorIs(t, err, remote.ErrAgentLost)
		assert.Equal(t, "WorkerError", re.Type)
		assert.Contains(t, re.Message, "above the NATS maximum payload")
		assert.Less(t, len(err.Error()), 1<<20)
		b, rerr := os.ReadFile(ledger)
		require.NoError(t, rerr)
		assert.Equal(t, 1, strings.Count(string(b), "ran\n"), "idempotent %v: a call that raised ran again", idem)
	}
	agents, err := remote.Agents(ctx, connect(t, s.ClientURL()), "hugeerr")
	require.NoError(t, err)
	require.Len(t, agents, 1)
	assert.Less(t, len(agents[0].Stats.LastError), 1024)
	assert.Less(t, len(a.Stats().LastError), 1024)
}

// A deadline more than a year away travels (capped), instead of being refused as a bad
// header.
func TestAFarDeadlineIsNotABadRequest(t *testing.T) {
	s := runServer(t, remote.ServerConfig{})
	startAgent(t, s.ClientURL(), "far")
	p := dial(t, s.ClientURL(), "far")
	ctx, cancel := context.WithTimeout(context.Background(), 400*24*time.Hour)
	defer cancel()
	var sum int64
	require.NoError(t, p.Call(ctx, "add", []any{1, 2}, &sum))
	assert.Equal(t, int64(3), sum)
}

// A notification with a reserved name, from a caller that is not a remote Pool (which
// refuses it itself), is a bad request (400, never ran), not a worker that died (502).
func TestAReservedNotificationIsABadRequest(t *testing.T) {
	s := runServer(t, remote.ServerConfig{})
	startAgent(t, s.ClientURL(), "rsv")
	nc := connect(t, s.ClientURL())
	body := []byte{0x93, 0x02, 0xa5, '$', 's', 't', 'o', 'p', 0x90} // [2, "$stop", []]
	m, err := nc.RequestMsgWithContext(ctxFor(t, 10*time.Second), &nats.Msg{Subject: "polyfork.rsv.notify", Data: body})
	require.NoError(t, err)
	assert.Equal(t, "400", m.Header.Get(remote.HeaderErrorCode))
	assert.Contains(t, m.Header.Get(remote.HeaderError), "reserved")
}

// An embedded server on a port that is taken fails at once and says why, instead of waiting
// ten seconds for a server that logged the bind error nowhere and asking "is the port free?".
func TestAnEmbeddedServerOnABusyPortFailsAtOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	start := time.Now()
	_, err = remote.RunServer(remote.ServerConfig{Addr: ln.Addr().String()})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cannot listen on "+ln.Addr().String())
	assert.Contains(t, err.Error(), "address already in use")
	assert.Less(t, time.Since(start), 5*time.Second)

	for addr, want := range map[string]string{"127.0.0.1": "want host:port", "127.0.0.1:99999": "is not a port"} {
		_, err := remote.RunServer(remote.ServerConfig{Addr: addr})
		require.Error(t, err, addr)
		assert.Contains(t, err.Error(), want, addr)
	}
}

// An embedded server that cannot start its JetStream (a store directory that is a file)
// says so at once. It waited ten seconds and asked "is the port free?"; with Logs on,
// nats-server's own logger ended the whole process.
func TestAnEmbeddedServerThatCannotStartSaysWhy(t *testing.T) {
	file := filepath.Join(t.TempDir(), "store")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	for _, logs := range []bool{false, true} {
		start := time.Now()
		_, err := remote.RunServer(remote.ServerConfig{StoreDir: file, Logs: logs})
		require.Error(t, err, "logs %v", logs)
		assert.Contains(t, err.Error(), "JetStream", "logs %v", logs)
		assert.Contains(t, err.Error(), "not a directory", "logs %v", logs)
		assert.Less(t, time.Since(start), 5*time.Second, "logs %v", logs)
	}
}

// An embedded server with JetStream and no store directory makes one in the temporary
// directory: a TMPDIR that does not exist, or is not a directory, fails the start with an
// error that names TMPDIR (it named only the path, "stat /nonexistent: no such file").
func TestAnEmbeddedServerWithABadTMPDIRNamesIt(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	for _, tmp := range []string{filepath.Join(t.TempDir(), "missing"), file} {
		t.Setenv("TMPDIR", tmp)
		_, err := remote.RunServer(remote.ServerConfig{})
		require.Error(t, err, tmp)
		assert.Contains(t, err.Error(), "in the temporary directory "+tmp+" (TMPDIR;", tmp)
	}
}

// A request that asks for a beat every millisecond gets one every 10 ms at most: a request
// cannot make an agent publish a thousand messages a second.
func TestBeatsAreNotMoreOftenThanTenMilliseconds(t *testing.T) {
	s := runServer(t, remote.ServerConfig{})
	startAgent(t, s.ClientURL(), "beats")
	nc := connect(t, s.ClientURL())
	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	require.NoError(t, err)
	body := []byte{0x94, 0x00, 0x01, 0xa5, 's', 'l', 'e', 'e', 'p', 0x91, 0xcd, 0x01, 0x2c} // [0, 1, "sleep", [300]]
	msg := &nats.Msg{Subject: "polyfork.beats.call", Reply: inbox, Data: body, Header: nats.Header{remote.HeaderBeat: []string{"1"}}}
	require.NoError(t, nc.PublishMsg(msg))
	beats := 0
	for {
		m, err := sub.NextMsg(10 * time.Second)
		require.NoError(t, err)
		if m.Header.Get(remote.HeaderStatus) == "" {
			break // the answer
		}
		beats++
	}
	assert.Greater(t, beats, 5, "beats still come")
	assert.Less(t, beats, 60, "300 ms of beats at 10 ms or more apart")
}

// A Polyfork-Timeout above a year, even one past int64, is read as a year: the agent runs
// the call (SPEC 10.2), where it answered 400 for anything above 365 days.
func TestATimeoutHeaderAboveAYearIsReadAsAYear(t *testing.T) {
	s := runServer(t, remote.ServerConfig{})
	startAgent(t, s.ClientURL(), "far2")
	nc := connect(t, s.ClientURL())
	body := []byte{0x94, 0x00, 0x01, 0xa3, 'a', 'd', 'd', 0x92, 0x01, 0x02} // [0, 1, "add", [1, 2]]
	for _, timeout := range []string{"31536000001", "99999999999999999999"} {
		m, err := nc.RequestMsgWithContext(ctxFor(t, 10*time.Second), &nats.Msg{
			Subject: "polyfork.far2.call", Data: body, Header: nats.Header{remote.HeaderTimeout: []string{timeout}}})
		require.NoError(t, err)
		assert.Empty(t, m.Header.Get(remote.HeaderErrorCode), "%s: %s", timeout, m.Header.Get(remote.HeaderError))
		require.Len(t, m.Data, 5, timeout)
		assert.Equal(t, []byte{0xc0, 0x03}, m.Data[3:], "%s: the answer [1, id, nil, 3]", timeout)
	}
}

// A service name is checked before anything is sent: NATS micro's characters, and at most
// MaxServiceName bytes (a 5,000-byte name failed as "maximum control line exceeded" when
// the agent connected), quoted cut in the error.
func TestServiceNames(t *testing.T) {
	assert.NoError(t, remote.CheckServiceName("sum_2-b"))
	assert.NoError(t, remote.CheckServiceName(strings.Repeat("s", remote.MaxServiceName)))
	for name, want := range map[string]string{
		"a.b":                     `service name "a.b": use letters, digits`,
		"":                        `service name "": use letters`,
		strings.Repeat("s", 5000): "is too long: at most 200 bytes",
		strings.Repeat("é", 3000): "(6000 bytes)",
	} {
		err := remote.CheckServiceName(name)
		require.Error(t, err, "%.20q", name)
		assert.Contains(t, err.Error(), want)
		assert.Less(t, len(err.Error()), 400, "the name is quoted cut")
	}
}
