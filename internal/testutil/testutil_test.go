package testutil

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
)

// recorder is a testing.TB that records Fatalf and Skipf instead of ending the test.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper()                        {}
func (r *recorder) Fatalf(format string, a ...any) { r.fatal = fmt.Sprintf(format, a...) }
func (r *recorder) Skipf(format string, a ...any)  { r.skip = fmt.Sprintf(format, a...) }

// TestLookInterpreterFailsOnAMisnamedInterpreter: POLYFORK_PYTHON naming a file that is not
// there fails the test (the examples' tests skipped, and passed having run nothing); an
// interpreter missing by default skips; one that is there is found.
func TestLookInterpreterFailsOnAMisnamedInterpreter(t *testing.T) {
	t.Setenv("POLYFORK_TEST_INTERP", "/nonexistent/python3")
	r := &recorder{TB: t}
	LookInterpreter(r, "POLYFORK_TEST_INTERP", "python3")
	if r.fatal == "" || r.skip != "" {
		t.Fatalf("a misnamed interpreter: fatal %q, skip %q; want a failure", r.fatal, r.skip)
	}
	t.Logf("%s", r.fatal)

	t.Setenv("POLYFORK_TEST_INTERP", "")
	r = &recorder{TB: t}
	LookInterpreter(r, "POLYFORK_TEST_INTERP", "no-such-interpreter-polyfork")
	if r.skip == "" || r.fatal != "" {
		t.Fatalf("a default that is not installed: fatal %q, skip %q; want a skip", r.fatal, r.skip)
	}

	t.Setenv("POLYFORK_TEST_INTERP", "sh")
	r = &recorder{TB: t}
	if p := LookInterpreter(r, "POLYFORK_TEST_INTERP", "python3"); p == "" || r.fatal != "" || r.skip != "" {
		t.Fatalf("sh: got %q, fatal %q, skip %q", p, r.fatal, r.skip)
	}
}

// TestPythonIsTheInterpreterBehindPython3: without POLYFORK_PYTHON the tests' Python is an
// absolute path to the interpreter itself (no shim in front of it), and it runs; with
// POLYFORK_PYTHON, that.
func TestPythonIsTheInterpreterBehindPython3(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("no python3 here")
	}
	t.Setenv("POLYFORK_PYTHON", "")
	p := Python()
	if !filepath.IsAbs(p) {
		t.Fatalf("Python() = %q, want the absolute path python3's sys.executable names", p)
	}
	out, err := exec.Command(p, "-c", "import sys; sys.stdout.write(sys.executable)").Output()
	if err != nil || string(out) != p {
		t.Fatalf("%s says its sys.executable is %q (%v), want itself", p, out, err)
	}
	t.Setenv("POLYFORK_PYTHON", "/some/python")
	if got := Python(); got != "/some/python" {
		t.Fatalf("Python() with POLYFORK_PYTHON=/some/python = %q", got)
	}
}
