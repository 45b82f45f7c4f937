package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStartFromADeletedWorkingDirectory: polyfork running in a working directory that was
// deleted (a deploy replaced the directory it was started in) cannot find a relative
// command there. The error says why; it said only "no such file or directory" about a
// file that the user could see was there (docs/faults.md).
func TestStartFromADeletedWorkingDirectory(t *testing.T) {
	bin := buildPolyfork(t)
	for _, flags := range [][]string{nil, {"-rlimit-nofile", "256"}} {
		dir := filepath.Join(t.TempDir(), "release")
		require.NoError(t, os.Mkdir(dir, 0o755))
		// The shell enters dir, deletes it, and becomes polyfork there.
		args := append([]string{"-c", `cd "$1" && rmdir "$1" && shift && exec "$@"`, "sh", dir, bin, "call"}, flags...)
		args = append(args, "echo", "[1]", "--", "./worker")
		out, err := exec.Command("/bin/sh", args...).CombinedOutput()
		var ee *exec.ExitError
		require.True(t, errors.As(err, &ee), "%v: %v\n%s", flags, err, out)
		assert.Equal(t, exitFailure, ee.ExitCode(), "%v: %s", flags, out)
		assert.Contains(t, string(out), "fork/exec ./worker: no such file or directory", flags)
		assert.Contains(t, string(out), "this process's working directory no longer exists (it was deleted), and ./worker is relative to it", flags)
	}
}

// TestCallNamesTheAddressSpaceLimitOfAChildThatDiedOfIt: a child started with too little
// address space (-rlimit-as) dies before $ready in ways that do not name memory (Python
// cannot map a shared library: status 127; Node: a segmentation fault, nothing on stderr).
// The error names the limit; it named only the status or signal.
func TestCallNamesTheAddressSpaceLimitOfAChildThatDiedOfIt(t *testing.T) {
	r := polyfork(t, "", callArgs("add", "[1, 2]", []string{"-rlimit-as", "8MiB"}, raw("serve"))...)
	assert.Equal(t, exitFailure, r.code, r.stderr)
	assert.Contains(t, r.stderr, "before $ready, under an address space limit of 8 MiB (WithRlimits, -rlimit-as)")
}
