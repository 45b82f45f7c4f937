package testutil

import (
	"fmt"
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
