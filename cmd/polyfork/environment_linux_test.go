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

// TestCallWithItsStandardDescriptorsClosed: polyfork started with descriptors 0, 1 and 2
// closed (by a daemon's parent, some supervisors) still gives its child a proper channel:
// the Go runtime opens /dev/null on them at start, so the first pipes polyfork opens do not
// land on 0 to 2 (where a relayed line could have gone into a child's channel).
func TestCallWithItsStandardDescriptorsClosed(t *testing.T) {
	bin := buildPolyfork(t)
	for _, closed := range []string{"0<&-", "0<&- 2>&-"} {
		script := `exec ` + closed + `; exec "$@"`
		args := append([]string{"-c", script, "sh", bin}, callArgs("add", "[40, 2]", nil, raw("serve"))...)
		out, err := exec.Command("/bin/sh", args...).Output()
		require.NoError(t, err, closed)
		assert.Equal(t, "42\n", string(out), closed)
	}
	// All three closed: nothing to print to, the exit status says it worked.
	script := `exec 0<&- 1>&- 2>&-; exec "$@"`
	args := append([]string{"-c", script, "sh", bin}, callArgs("add", "[40, 2]", nil, raw("serve"))...)
	require.NoError(t, exec.Command("/bin/sh", args...).Run())
	args = append([]string{"-c", script, "sh", bin}, callArgs("exit", "[3]", nil, raw("serve"))...)
	var ee *exec.ExitError
	require.ErrorAs(t, exec.Command("/bin/sh", args...).Run(), &ee)
	assert.Equal(t, exitFailure, ee.ExitCode())
}
