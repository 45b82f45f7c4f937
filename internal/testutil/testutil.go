// Package testutil holds the small helpers that the tests of several packages share. It is
// imported by tests only.
package testutil

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// Buffer is a bytes.Buffer that is safe for concurrent use, for stderr sinks that several
// processes write to.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Eventually polls cond until it holds, failing the test after 10 s. It is not a speed
// assertion: it only bounds how long a test waits for something that must happen.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Interpreter returns the command named by the environment variable env (POLYFORK_PYTHON,
// POLYFORK_PHP, POLYFORK_NODE), or def.
func Interpreter(env, def string) string {
	if v := os.Getenv(env); v != "" {
		return v
	}
	return def
}

// FindInterpreter finds the interpreter of Interpreter(env, def) on PATH and returns its
// path. When it is missing, the error says what to do, and named says whether env named it:
// then it is a typo, not an interpreter this machine lacks.
func FindInterpreter(env, def string) (path string, named bool, err error) {
	name := Interpreter(env, def)
	path, err = exec.LookPath(name)
	switch {
	case err == nil:
		return path, false, nil
	case os.Getenv(env) != "":
		return "", true, fmt.Errorf("%s=%s: %v (unset %s to use %s from PATH)", env, name, err, env, def)
	default:
		return "", false, fmt.Errorf("no %s (set %s to name one): %v", def, env, err)
	}
}

// LookInterpreter is FindInterpreter for a test. When the interpreter is missing, the test
// skips if env is unset (the default is simply not installed here), but fails if env names
// it: a mistyped POLYFORK_PYTHON must not turn a test run into a row of skips that reads as
// a pass.
func LookInterpreter(t testing.TB, env, def string) string {
	t.Helper()
	path, named, err := FindInterpreter(env, def)
	switch {
	case err == nil:
		return path
	case named:
		t.Fatalf("%v", err)
	default:
		t.Skipf("%v", err)
	}
	return ""
}

// Python returns the Python interpreter the tests run children with: POLYFORK_PYTHON, else
// the interpreter behind python3 (its sys.executable). The tests start Python children by
// the hundred, and python3 on PATH may be a version manager's shim, a shell script in front
// of the interpreter: pyenv's costs 0.1-0.4 s per start here, and over 10 s on a loaded
// machine, past a worker's start timeout. When python3 cannot say, it is python3.
func Python() string {
	if v := os.Getenv("POLYFORK_PYTHON"); v != "" {
		return v
	}
	pythonOnce.Do(func() {
		pythonExe = "python3"
		out, err := exec.Command("python3", "-c", "import sys; sys.stdout.write(sys.executable)").Output()
		if err == nil && len(out) > 0 {
			pythonExe = string(out)
		}
	})
	return pythonExe
}

var (
	pythonOnce sync.Once
	pythonExe  string
)
