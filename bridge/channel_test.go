package bridge

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestChannelOnDescriptorsTagsStreams(t *testing.T) {
	ctx := context.Background()
	var logs lines
	p := start(t, child("serve_fds"), WithChannel(ChannelFDs), WithLogFunc(logs.add))
	var v any
	require.NoError(t, p.Call(ctx, "env", []any{"POLYFORK_CHANNEL_FDS"}, &v))
	assert.Equal(t, "3,4", v, "the channel follows 0, 1 and 2 when no sockets are passed")
	require.NoError(t, p.Call(ctx, "echo", []any{"still a channel"}, &v))
	assert.Equal(t, "still a channel", v)
	require.NoError(t, p.Call(ctx, "stderr", []any{"to stderr"}, nil))
	require.NoError(t, p.Close())
	assert.Equal(t, []string{"a print to stdout, which is only a log in this mode"}, logs.texts("stdout"))
	assert.Equal(t, []string{"to stderr"}, logs.texts("stderr"))
}

func TestChannelOnDescriptorsStdoutSink(t *testing.T) {
	ctx := context.Background()
	var stdout, stderr syncBuffer
	p, err := Start(ctx, child("console"), WithChannel(ChannelFDs), WithName("w"),
		WithStderr(&stderr), WithStdout(&stdout))
	require.NoError(t, err)
	require.NoError(t, p.Call(ctx, "print", []any{"raw bytes on descriptor 1\n"}, nil))
	require.NoError(t, p.Close())
	assert.Equal(t, "w["+strconv.Itoa(p.Pid())+"] raw bytes on descriptor 1\n", stdout.String())
	assert.Empty(t, stderr.String())

	// Without WithStdout, stdout lines go with stderr's.
	stderr = syncBuffer{}
	p, err = Start(ctx, child("console"), WithChannel(ChannelFDs), WithName("w"), WithStderr(&stderr))
	require.NoError(t, err)
	require.NoError(t, p.Call(ctx, "print", []any{"no newline at the end"}, nil))
	require.NoError(t, p.Close())
	assert.True(t, strings.HasSuffix(stderr.String(), "] no newline at the end\n"), stderr.String())
}

func TestChannelParse(t *testing.T) {
	for in, want := range map[string]Channel{"stdio": ChannelStdio, "fd": ChannelFDs} {
		ch, ok := ParseChannel(in)
		assert.True(t, ok)
		assert.Equal(t, want, ch)
		assert.Equal(t, in, ch.String())
	}
	_, ok := ParseChannel("socket")
	assert.False(t, ok)
	_, err := Start(context.Background(), child("serve"), WithChannel(Channel(7)))
	require.ErrorIs(t, err, ErrInvalidOption)
}

// lines collects a child's relayed lines.
type lines struct {
	mu sync.Mutex
	ls []LogLine
}

func (l *lines) add(line LogLine) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ls = append(l.ls, line)
}

func (l *lines) texts(stream string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range l.ls {
		if line.Stream == stream {
			out = append(out, line.Text)
		}
	}
	return out
}
