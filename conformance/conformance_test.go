// Package conformance runs one matrix of tests against the conformance child of every
// client library (protocol/SPEC.md section 9), so that a Go host gets the same behaviour
// from Python, PHP and Node.
package conformance

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/polyfork/polyfork/bridge"
	"github.com/polyfork/polyfork/internal/testutil"
	"github.com/polyfork/polyfork/protocol"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// root is the repository root, relative to this package.
const root = ".."

// lang describes how to run one client's conformance child.
type lang struct {
	name string
	argv []string
	env  []string
}

// goChild is the Go conformance child, built by TestMain.
var goChild string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "polyfork-conformance-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	goChild = filepath.Join(dir, "gochild")
	build := exec.Command("go", "build", "-o", goChild, "./gochild")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the Go conformance child:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		code = noLeakedGoroutines()
	}
	os.Exit(code)
}

func langs() []lang {
	abs, _ := filepath.Abs(root)
	return []lang{
		{"go", []string{goChild}, nil},
		{"python", []string{testutil.Interpreter("POLYFORK_PYTHON", "python3"), filepath.Join(abs, "clients/python/tests/conformance_child.py")},
			[]string{"PYTHONPATH=" + filepath.Join(abs, "clients/python/src")}},
		{"php", []string{testutil.Interpreter("POLYFORK_PHP", "php"), filepath.Join(abs, "clients/php/tests/conformance_child.php")}, nil},
		{"node", []string{testutil.Interpreter("POLYFORK_NODE", "node"), filepath.Join(abs, "clients/node/test/conformance_child.js")}, nil},
	}
}

// child is a running conformance child and what it told us.
type child struct {
	*bridge.Process
	stderr    *testutil.Buffer
	messages  chan any
	cancelled chan int64
}

func start(t *testing.T, l lang) *child {
	t.Helper()
	c := &child{stderr: &testutil.Buffer{}, messages: make(chan any, 16), cancelled: make(chan int64, 4)}
	p, err := bridge.Start(context.Background(), l.argv,
		bridge.WithEnv(l.env...),
		bridge.WithStderr(c.stderr),
		bridge.OnMessage(func(v any) { c.messages <- v }),
		bridge.OnNotification("cancelled", func(a bridge.Args) {
			var ms int64
			_ = a.Decode(&ms)
			c.cancelled <- ms
		}),
		bridge.WithHandler("mul", func(ctx context.Context, a bridge.Args) (any, error) {
			var x, y int64
			if err := a.Decode(&x, &y); err != nil {
				return nil, err
			}
			return x * y, nil
		}),
		bridge.WithHandler("refuse", func(ctx context.Context, a bridge.Args) (any, error) {
			return nil, bridge.NewError("Refused", "the host says no", nil)
		}),
	)
	require.NoError(t, err, "starting the %s conformance child", l.name)
	c.Process = p
	t.Cleanup(func() {
		p.Kill()
		p.Wait()
		if t.Failed() {
			t.Logf("%s stderr:\n%s", l.name, c.stderr.String())
		}
	})
	return c
}

func forEachLang(t *testing.T, fn func(t *testing.T, l lang)) {
	for _, l := range langs() {
		t.Run(l.name, func(t *testing.T) {
			_, err := exec.LookPath(l.argv[0])
			require.NoError(t, err, "%s is needed for the conformance tests: run scripts/setup.sh", l.argv[0])
			fn(t, l)
		})
	}
}

func TestHandshake(t *testing.T) {
	forEachLang(t, func(t *testing.T, l lang) {
		c := start(t, l)
		r := c.Ready()
		assert.Equal(t, 1, r.Protocol)
		assert.Equal(t, l.name, r.Lang)
		assert.Equal(t, c.Pid(), r.Pid)
		assert.True(t, strings.HasPrefix(r.Lib, "polyfork-"+l.name+"/"), r.Lib)
		var pid int
		require.NoError(t, c.Call(context.Background(), "pid", nil, &pid))
		assert.Equal(t, c.Pid(), pid)
	})
}

func TestCallsAndErrors(t *testing.T) {
	forEachLang(t, func(t *testing.T, l lang) {
		ctx := context.Background()
		c := start(t, l)
		var sum int64
		require.NoError(t, c.Call(ctx, "add", []any{40, 2}, &sum))
		assert.Equal(t, int64(42), sum)

		err := c.Call(ctx, "fail", []any{"it went wrong: é"}, nil)
		var re *bridge.RemoteError
		require.ErrorAs(t, err, &re)
		assert.Equal(t, "ConformanceError", re.Type)
		assert.Equal(t, "it went wrong: é", re.Message)
		assert.NotEmpty(t, re.Traceback, "errors carry the child's traceback")

		err = c.Call(ctx, "no_such_method", []any{1}, nil)
		require.ErrorAs(t, err, &re)
		assert.Equal(t, protocol.TypeMethodNotFound, re.Type)
		assert.Contains(t, re.Message, `"no_such_method"`)

		// A megabyte of method name is quoted cut, with its length, on both sides: the
		// error was two megabytes (the name in the child's message, and again in the host's).
		huge := strings.Repeat("é", 1<<19)
		err = c.Call(ctx, huge, nil, nil)
		require.ErrorAs(t, err, &re)
		assert.Equal(t, protocol.TypeMethodNotFound, re.Type)
		assert.Contains(t, re.Message, "... (1048576 bytes)")
		assert.Less(t, len(err.Error()), 2000)

		// Calls into the host, from inside a handler.
		var prod int64
		require.NoError(t, c.Call(ctx, "call_host", []any{"mul", []any{6, 7}}, &prod))
		assert.Equal(t, int64(42), prod)
		err = c.Call(ctx, "call_host", []any{"refuse", []any{}}, nil)
		require.ErrorAs(t, err, &re)
		assert.Contains(t, re.Message, "the host says no")
		err = c.Call(ctx, "call_host", []any{"nothing_here", []any{}}, nil)
		require.ErrorAs(t, err, &re)
		assert.Contains(t, re.Message, "nothing_here")

		// Messages both ways.
		require.NoError(t, c.Send(ctx, map[string]any{"hello": "world"}))
		select {
		case v := <-c.messages:
			assert.Equal(t, map[string]any{"hello": "world"}, v)
		case <-time.After(10 * time.Second):
			t.Fatal("no message back")
		}
	})
}

func TestManyCallsInFlight(t *testing.T) {
	forEachLang(t, func(t *testing.T, l lang) {
		ctx := context.Background()
		c := start(t, l)
		var wg sync.WaitGroup
		for i := 0; i < 40; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				var got int
				if err := c.Call(ctx, "echo", []any{i}, &got); err != nil || got != i {
					t.Errorf("echo %d: got %d, %v", i, got, err)
				}
			}(i)
		}
		// Async children answer a short sleep before a long one: replies in any order.
		results := make(chan string, 2)
		for _, ms := range []int{300, 10} {
			wg.Add(1)
			go func(ms int) {
				defer wg.Done()
				var s string
				if err := c.Call(ctx, "sleep", []any{ms}, &s); err != nil {
					t.Errorf("sleep %d: %v", ms, err)
				}
				results <- fmt.Sprint(ms)
			}(ms)
			time.Sleep(20 * time.Millisecond)
		}
		wg.Wait()
		close(results)
		var order []string
		for r := range results {
			order = append(order, r)
		}
		t.Logf("%s answered sleeps in order %v", l.name, order)
	})
}

func TestCancelReachesTheHandler(t *testing.T) {
	forEachLang(t, func(t *testing.T, l lang) {
		c := start(t, l)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		err := c.Call(ctx, "sleep", []any{60000}, nil)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		select {
		case ms := <-c.cancelled:
			assert.Equal(t, int64(60000), ms)
		case <-time.After(10 * time.Second):
			t.Fatal("the handler never saw $cancel")
		}
		var n int
		require.NoError(t, c.Call(context.Background(), "add", []any{1, 1}, &n), "the child is still fine")
		assert.Equal(t, 2, n)
	})
}

func TestStopFinishesWorkInFlight(t *testing.T) {
	forEachLang(t, func(t *testing.T, l lang) {
		c := start(t, l)
		result := make(chan error, 1)
		go func() {
			var s string
			result <- c.Call(context.Background(), "sleep", []any{300}, &s)
		}()
		deadline := time.Now().Add(10 * time.Second)
		for c.InFlight() == 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond) // let the request reach the child
		require.NoError(t, c.Close(), "$stop ends the child with status 0")
		require.NoError(t, <-result, "the call in flight was finished before the exit")
	})
}

// TestEOFEndsTheChild drives the child with os/exec directly: after $ready, closing its
// stdin must make it exit with status 0, as when its host dies.
func TestEOFEndsTheChild(t *testing.T) {
	forEachLang(t, func(t *testing.T, l lang) {
		for _, unbuffered := range []string{"", "1"} {
			cmd := exec.Command(l.argv[0], l.argv[1:]...)
			cmd.Env = append(os.Environ(), "POLYFORK_PROTOCOL=1", "PYTHONUNBUFFERED="+unbuffered)
			cmd.Env = append(cmd.Env, l.env...)
			stdin, err := cmd.StdinPipe()
			require.NoError(t, err)
			stdout, err := cmd.StdoutPipe()
			require.NoError(t, err)
			var stderr testutil.Buffer
			cmd.Stderr = &stderr
			require.NoError(t, cmd.Start())
			fr := protocol.NewFrameReader(stdout)
			frame, err := fr.ReadFrame()
			require.NoError(t, err, stderr.String())
			m, err := protocol.DecodeMessage(frame, 0)
			require.NoError(t, err)
			assert.Equal(t, protocol.MethodReady, m.Method)
			require.NoError(t, stdin.Close())
			done := make(chan error, 1)
			go func() {
				_, _ = io.Copy(io.Discard, stdout)
				done <- cmd.Wait()
			}()
			select {
			case err := <-done:
				require.NoError(t, err, "exit status after EOF; stderr: %s", stderr.String())
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("the child did not exit on EOF; stderr: %s", stderr.String())
			}
		}
	})
}

func TestStrayPrintsStayOffTheChannel(t *testing.T) {
	forEachLang(t, func(t *testing.T, l lang) {
		c := start(t, l)
		var ok bool
		require.NoError(t, c.Call(context.Background(), "print", []any{"stray-output-xyz"}, &ok))
		assert.True(t, ok)
		var n int
		require.NoError(t, c.Call(context.Background(), "add", []any{2, 3}, &n), "the channel survived")
		assert.Equal(t, 5, n)
		require.NoError(t, c.Call(context.Background(), "stderr", []any{"to-stderr-abc"}, nil))
		require.NoError(t, c.Close())
		assert.Contains(t, c.stderr.String(), "stray-output-xyz", "prints reach the log")
		assert.Contains(t, c.stderr.String(), "to-stderr-abc")
	})
}

func TestExitIsReported(t *testing.T) {
	forEachLang(t, func(t *testing.T, l lang) {
		c := start(t, l)
		err := c.Call(context.Background(), "exit", []any{3}, nil)
		var ee *bridge.ExitError
		require.ErrorAs(t, err, &ee)
		assert.Equal(t, 3, ee.Code)
	})
}

// --- values ----------------------------------------------------------------------------------

type valueVector struct {
	Name     string          `json:"name"`
	Hex      string          `json:"hex"`
	Value    json.RawMessage `json:"value"`
	Features []string        `json:"features"`
}

func loadVectors(t *testing.T) []valueVector {
	data, err := os.ReadFile(filepath.Join(root, "protocol/testdata/values.json"))
	require.NoError(t, err)
	var vs []valueVector
	require.NoError(t, json.Unmarshal(data, &vs))
	return vs
}

// echoRaw sends the raw msgpack value b through the child's echo and returns what came back.
func echoRaw(c *child, b []byte) ([]byte, error) {
	params := append([]byte{0x91}, b...)
	var out msgpack.RawMessage
	err := c.Call(context.Background(), "echo", msgpack.RawMessage(params), &out)
	return out, err
}

func TestValuesRoundTrip(t *testing.T) {
	vectors := loadVectors(t)
	forEachLang(t, func(t *testing.T, l lang) {
		c := start(t, l)
		for _, v := range vectors {
			raw, _ := hex.DecodeString(v.Hex)
			got, err := echoRaw(c, raw)
			outcome := classify(l.name, v, raw, got, err)
			if outcome != "" {
				t.Errorf("%s: %s", v.Name, outcome)
			}
		}
	})
}

// classify checks one echoed vector against what SPEC.md section 7 and the client's README
// promise: the same bytes; or, for a vector whose features the language cannot carry
// exactly, a documented change of encoding that keeps the value, or a clear error. It
// returns "" when the outcome is allowed.
func classify(lang string, v valueVector, sent, got []byte, err error) string {
	if err == nil && bytes.Equal(sent, got) {
		return ""
	}
	pol := policies[lang]
	covered := func(list []string) bool {
		for _, f := range v.Features {
			for _, g := range list {
				if f == g {
					return true
				}
			}
		}
		return false
	}
	if err != nil {
		var re *bridge.RemoteError
		if covered(pol.mayRefuse) && errors.As(err, &re) && re.Message != "" {
			return ""
		}
		return fmt.Sprintf("error: %v", err)
	}
	if !covered(pol.changes) {
		return fmt.Sprintf("sent %s, got back %s", clip(hex.EncodeToString(sent)), clip(hex.EncodeToString(got)))
	}
	a, err1 := protocol.DecodeValue(sent)
	b, err2 := protocol.DecodeValue(got)
	if err1 != nil || err2 != nil {
		return fmt.Sprintf("undecodable: %v %v", err1, err2)
	}
	if x, y := fmt.Sprintf("%#v", pol.normalize(a)), fmt.Sprintf("%#v", pol.normalize(b)); x != y {
		return fmt.Sprintf("the value changed: %s became %s", clip(x), clip(y))
	}
	return ""
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// policy is what a language may do to a value it cannot carry exactly.
type policy struct {
	changes   []string      // features whose encoding may change, the value kept
	normalize func(any) any // maps a value to what the language keeps of it
	mayRefuse []string      // features the language may refuse with a clear error
}

// keep walks a value, applying f to every leaf and to every container after its children.
func keep(f func(any) any) func(any) any {
	var walk func(any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case []any:
			out := make([]any, len(x))
			for i := range x {
				out[i] = walk(x[i])
			}
			return f(out)
		case map[string]any:
			out := map[string]any{}
			for k, e := range x {
				out[k] = walk(e)
			}
			return f(out)
		case map[any]any:
			out := map[any]any{}
			for k, e := range x {
				out[k] = walk(e)
			}
			return f(out)
		}
		return f(v)
	}
	return walk
}

// float32 values come back as float64: every client language has one float type.
func widenFloat(v any) any {
	if f, ok := v.(float32); ok {
		return float64(f)
	}
	return v
}

var policies = map[string]policy{
	"go": {
		// The Go host's encoder sorts string map keys and writes timestamps in its own
		// (valid, not always shortest) ext form; a map with keys of other types (int-keys)
		// comes back in Go's map order, which is random. The values are kept.
		changes:   []string{"map-order", "timestamp", "int-keys"},
		normalize: keep(func(v any) any { return v }),
	},
	"python": {
		changes:   []string{"float32"},
		normalize: keep(widenFloat),
	},
	"node": {
		// JavaScript has one number type: a whole float64 comes back as an integer.
		changes: []string{"float32", "integral-float"},
		normalize: keep(func(v any) any {
			v = widenFloat(v)
			if f, ok := v.(float64); ok && f == float64(int64(f)) && f != 0 {
				return int64(f)
			}
			if f, ok := v.(float64); ok && f == 0 {
				return int64(0)
			}
			return v
		}),
	},
	"php": {
		// One string type for str and bin, one array type for lists and maps, no uint64.
		changes: []string{"float32", "bin", "empty-map"},
		normalize: keep(func(v any) any {
			v = widenFloat(v)
			switch x := v.(type) {
			case []byte:
				return string(x)
			case map[string]any:
				if len(x) == 0 {
					return []any{}
				}
			}
			return v
		}),
		// uint64 above PHP_INT_MAX; timestamps finer than DateTimeImmutable's microseconds.
		mayRefuse: []string{"uint64", "timestamp"},
	},
}

// --- msgpack-test-suite -------------------------------------------------------------------

type suiteFile struct {
	Source  map[string]any `json:"source"`
	Vectors []struct {
		Name     string   `json:"name"`
		Hex      string   `json:"hex"`
		Features []string `json:"features"`
		Accept   []struct {
			Hex      string   `json:"hex"`
			Features []string `json:"features"`
		} `json:"accept"`
	} `json:"vectors"`
}

// TestMsgpackTestSuite echoes every encoding of every value of the npm package
// msgpack-test-suite (converted into protocol/testdata/msgpack-test-suite.json) through every
// client: each must come back in its canonical form, or change or fail only as the
// language's policy allows.
func TestMsgpackTestSuite(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(root, "protocol/testdata/msgpack-test-suite.json"))
	require.NoError(t, err)
	var suite suiteFile
	require.NoError(t, json.Unmarshal(data, &suite))
	require.NotEmpty(t, suite.Vectors)
	forEachLang(t, func(t *testing.T, l lang) {
		c := start(t, l)
		n := 0
		for _, v := range suite.Vectors {
			for _, a := range v.Accept {
				sent, err := hex.DecodeString(a.Hex)
				require.NoError(t, err)
				val, err := protocol.DecodeValue(sent)
				require.NoError(t, err, "%s: %s", v.Name, a.Hex)
				canonical, err := protocol.Marshal(val)
				require.NoError(t, err)
				got, err := echoRaw(c, sent)
				n++
				if err == nil && sameCanonical(canonical, got) {
					continue
				}
				features := append(append(valueFeatures(val), v.Features...), a.Features...)
				if msg := classify(l.name, valueVector{Name: v.Name, Features: features}, canonical, got, err); msg != "" {
					t.Errorf("%s, sent as %s: %s", v.Name, a.Hex, msg)
				}
			}
		}
		t.Logf("%d encodings of %d values echoed", n, len(suite.Vectors))
	})
}

// sameCanonical reports whether got is want up to the order of map keys: the same length
// (canonical encodings of one value have one length) and the same value.
func sameCanonical(want, got []byte) bool {
	if bytes.Equal(want, got) {
		return true
	}
	if len(want) != len(got) {
		return false
	}
	a, err1 := protocol.DecodeValue(want)
	b, err2 := protocol.DecodeValue(got)
	return err1 == nil && err2 == nil && fmt.Sprintf("%#v", a) == fmt.Sprintf("%#v", b)
}

// valueFeatures derives the features of SPEC section 8 that a decoded value has, for data
// sets that do not tag them.
func valueFeatures(v any) []string {
	var out []string
	keep(func(x any) any {
		switch f := x.(type) {
		case float32:
			out = append(out, "float32")
		case float64:
			if f == float64(int64(f)) {
				out = append(out, "integral-float")
			}
		}
		return x
	})(v)
	return out
}
