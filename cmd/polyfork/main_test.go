package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/polyfork/polyfork/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func raw(mode string, args ...string) []string {
	return append([]string{testutil.Python(), filepath.Join("..", "..", "bridge", "testdata", "rawchild.py"), mode}, args...)
}

type result struct {
	code           int
	stdout, stderr string
}

func polyfork(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return result{code, out.String(), errb.String()}
}

func callArgs(method, params string, extra []string, command []string) []string {
	args := append([]string{"call"}, extra...)
	args = append(args, method, params, "--")
	return append(args, command...)
}

func TestCall(t *testing.T) {
	cases := []struct {
		name, method, params string
		flags                []string
		command              []string
		code                 int
		stdout               string
		stderr               []string
	}{
		{"sum", "add", "[40, 2]", nil, raw("serve"), exitOK, "42\n", nil},
		{"integers at the limits come back exactly", "echo",
			"[[18446744073709551615, -9223372036854775808, 9223372036854775807, 0]]", nil, raw("serve"), exitOK,
			"[18446744073709551615,-9223372036854775808,9223372036854775807,0]\n", nil},
		{"floats stay floats", "echo", "[[1.0, 0.5, 1e300, -0.0]]", nil, raw("serve"), exitOK, "[1.0,0.5,1e+300,-0.0]\n", nil},
		{"objects, strings and null", "echo", `[{"b": "é\n", "a": null, "c": [true, false]}]`, nil, raw("serve"), exitOK,
			`{"a":null,"b":"é\n","c":[true,false]}` + "\n", nil},
		{"method raised", "fail", `["bad value"]`, nil, raw("serve"), exitRaised, "", []string{`"fail" raised ValueError: bad value`}},
		{"no such method", "nope", `[]`, nil, raw("serve"), exitRaised, "", []string{"MethodNotFound"}},
		{"params not JSON", "echo", `[1`, nil, raw("serve"), exitUsage, "", []string{`PARAMS_JSON "[1": invalid JSON`}},
		{"params not an array", "echo", `{"a": 1}`, nil, raw("serve"), exitUsage, "", []string{"must be a JSON array such as [1, 2], not an object"}},
		{"integer too large", "echo", `[18446744073709551616]`, nil, raw("serve"), exitUsage, "", []string{"outside the int64 and uint64 ranges"}},
		{"two JSON values", "echo", `[1] [2]`, nil, raw("serve"), exitUsage, "", []string{"more than one value"}},
		{"no command", "echo", `[1]`, nil, nil, exitUsage, "", []string{`want "-- COMMAND [ARG...]"`, "usage: polyfork call"}},
		{"method not UTF-8", "\xff", `[]`, nil, raw("serve"), exitUsage, "", []string{`"\xff" is not valid UTF-8 (byte 0xff at offset 0)`}},
		{"method empty", "", `[]`, nil, raw("serve"), exitUsage, "", []string{"the method name is empty"}},
		{"params empty", "echo", " ", nil, raw("serve"), exitUsage, "", []string{"PARAMS_JSON is empty; give [] for no params"}},
		{"method reserved", "$stop", `[]`, nil, raw("serve"), exitUsage, "", []string{"starts with '$'"}},
		{"params at the deepest", "echo", nested(127), nil, raw("serve"), exitOK, nested(126) + "\n", nil},
		{"params too deep", "echo", nested(128), nil, raw("serve"), exitUsage, "",
			[]string{"arrays and objects nest deeper than 127 levels (the wire allows 128, counting the message array around the params) (at byte 128)"}},
		{"params not UTF-8", "echo", "[\"\xff\"]", nil, raw("serve"), exitUsage, "", []string{"not valid UTF-8 (at byte 2)"}},
		{"duplicate keys", "echo", `[{"a": 1, "a": 2}]`, nil, raw("serve"), exitUsage, "", []string{`the key "a" appears twice`}},
		{"no HTML escaping", "echo", `["<h1>Tom & Jerry</h1>"]`, nil, raw("serve"), exitOK, "\"<h1>Tom & Jerry</h1>\"\n", nil},
		{"bad timeout", "echo", `[1]`, []string{"-timeout", "-1s"}, raw("serve"), exitUsage, "", []string{"-timeout must not be negative, got -1s"}},
		{"timeout 0 is no limit", "sleep", `[200]`, []string{"-timeout", "0"}, raw("serve"), exitOK, "\"slept\"\n", nil},
		{"child cannot start", "echo", `[1]`, nil, []string{"/no/such/binary"}, exitFailure, "", []string{"cannot start", "/no/such/binary"}},
		{"child exits", "exit", `[4]`, nil, raw("serve"), exitFailure, "", []string{"exited with status 4", "exiting with 4 on request"}},
		{"child breaks the protocol", "echo", `[1]`, nil, raw("garbage"), exitFailure, "", []string{"broke the protocol", "something wrote to stdout"}},
		{"timeout", "sleep", `[60000]`, []string{"-timeout", "300ms"}, raw("serve"), exitFailure, "", []string{"timed out after 300ms"}},
		{"timeout covers start-up", "echo", `[1]`, []string{"-timeout", "300ms"}, raw("no_ready"), exitFailure, "", []string{"timed out after 300ms"}},
		{"child dies before ready", "echo", `[1]`, nil, raw("die_before_ready"), exitFailure, "",
			[]string{"before $ready", "fatal: cannot load model weights.bin"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := polyfork(t, "", callArgs(c.method, c.params, c.flags, c.command)...)
			assert.Equal(t, c.code, r.code, "stderr: %s", r.stderr)
			assert.Equal(t, c.stdout, r.stdout)
			for _, s := range c.stderr {
				assert.Contains(t, r.stderr, s)
			}
		})
	}
}

func TestCallFlagsAnywhereBeforeTheCommand(t *testing.T) {
	for _, args := range [][]string{
		{"call", "add", "[40, 2]", "-timeout", "20s", "--"},
		{"call", "add", "-timeout=20s", "[40, 2]", "--"},
		{"call", "-timeout", "20s", "add", "[40, 2]", "--"},
	} {
		r := polyfork(t, "", append(args, raw("serve")...)...)
		assert.Equal(t, exitOK, r.code, "%q: %s", args, r.stderr)
		assert.Equal(t, "42\n", r.stdout, "%q", args)
	}
	// After "--" everything belongs to the child, flags included.
	r := polyfork(t, "", append(append([]string{"call", "echo", "[1]", "--"}, worker()...), "-timeout")...)
	assert.Equal(t, exitOK, r.code, r.stderr)
}

// TestChildStderrShownOnce checks that a failing child's stderr, relayed as it comes, is not
// repeated in the error message.
func TestChildStderrShownOnce(t *testing.T) {
	r := polyfork(t, "", callArgs("exit", "[4]", nil, raw("serve"))...)
	assert.Equal(t, exitFailure, r.code)
	assert.Equal(t, 1, strings.Count(r.stderr, "exiting with 4 on request"), r.stderr)
	assert.Contains(t, r.stderr, "exited with status 4; its stderr is above")

	r = polyfork(t, "", callArgs("echo", "[1]", nil, raw("die_before_ready"))...)
	assert.Equal(t, exitFailure, r.code)
	assert.Equal(t, 1, strings.Count(r.stderr, "fatal: cannot load model weights.bin"), r.stderr)
	assert.Contains(t, r.stderr, "exited with status 3 before $ready; its stderr is above")

	r = polyfork(t, "", append([]string{"send", "--"}, raw("exit_after_ready", "5")...)...)
	assert.Equal(t, exitFailure, r.code)
	assert.Equal(t, 1, strings.Count(r.stderr, "something went wrong, exiting with 5"), r.stderr)
}

// TestStdoutHint runs scripts that write to stdout before the library starts: a blank line
// before <?php, a byte order mark, a warning PHP displays, a print under PYTHONUNBUFFERED,
// and a single byte.
func TestStdoutHint(t *testing.T) {
	php := testutil.LookInterpreter(t, "POLYFORK_PHP", "php")
	for script, want := range map[string]string{
		"blank_line.php": "hint: the child's stdout starts with white space (0a)",
		"bom.php":        "hint: the child's stdout starts with a UTF-8 byte order mark (ef bb bf)",
	} {
		r := polyfork(t, "", "call", "add", "[1, 2]", "--", php, filepath.Join("testdata", script))
		assert.Equal(t, exitFailure, r.code, script)
		assert.Contains(t, r.stderr, "broke the protocol", script)
		assert.Contains(t, r.stderr, want, script)
	}
	// PHP says on stdout that it cannot open the script (a wrong path): the hint says so,
	// not that something printed before the library; it did, for this and for serve.
	missing := filepath.Join("testdata", "no such worker.php")
	r := polyfork(t, "", "call", "add", "[1, 2]", "--", php, missing)
	assert.Equal(t, exitFailure, r.code)
	assert.Contains(t, r.stderr, `hint: PHP could not open the script "`+missing+`": it does not exist`)
	assert.NotContains(t, r.stderr, "import or require the polyfork library")
	r = polyfork(t, "", "serve", "-addr", "127.0.0.1:0", "--", php, missing)
	assert.Equal(t, exitFailure, r.code)
	assert.Contains(t, r.stderr, `hint: PHP could not open the script`)

	// An error PHP displayed on stdout starts with a line break, but is no blank line.
	r = polyfork(t, "", "call", "add", "[1, 2]", "--", php, "-d", "display_errors=stdout", filepath.Join("testdata", "php_warning.php"))
	assert.Equal(t, exitFailure, r.code)
	assert.Contains(t, r.stderr, "it is an error PHP displayed on stdout (display_errors)")
	assert.Contains(t, r.stderr, "hint: the child's stdout starts with an error PHP displayed there")
	assert.NotContains(t, r.stderr, "blank line")

	// Text, or a byte, printed before the library took stdout over: the hint says so, and
	// names -channel fd.
	src, err := filepath.Abs(filepath.Join("..", "..", "clients", "python", "src"))
	require.NoError(t, err)
	t.Setenv("PYTHONPATH", src)
	t.Setenv("PYTHONUNBUFFERED", "1")
	for _, script := range []string{"print_unbuffered.py", "print_first.py"} {
		r = polyfork(t, "", "call", "add", "[1, 2]", "--", testutil.Python(), filepath.Join("testdata", script))
		assert.Equal(t, exitFailure, r.code, script)
		assert.Contains(t, r.stderr, "hint: something in the child wrote to stdout", script)
		assert.Contains(t, r.stderr, "Or run the child with -channel fd", script)
	}
	assert.Contains(t, r.stderr, "a $ready frame follows the first 1 bytes")
	// ... and the same children run with -channel fd.
	for _, script := range []string{"print_unbuffered.py", "print_first.py"} {
		r = polyfork(t, "", "call", "-channel", "fd", "add", "[1, 2]", "--", testutil.Python(), filepath.Join("testdata", script))
		assert.Equal(t, exitOK, r.code, r.stderr)
		assert.Equal(t, "3\n", r.stdout, script)
	}

	// A program that prints text instead of speaking the protocol gets the same hint, binary
	// garbage none.
	r = polyfork(t, "", callArgs("echo", "[1]", nil, raw("garbage"))...)
	assert.Equal(t, exitFailure, r.code)
	assert.Contains(t, r.stderr, "hint: something in the child wrote to stdout")
	r = polyfork(t, "", callArgs("echo", "[1]", nil, raw("huge_prefix"))...)
	assert.Equal(t, exitFailure, r.code)
	assert.Contains(t, r.stderr, "broke the protocol")
	assert.NotContains(t, r.stderr, "hint:")
}

func TestSend(t *testing.T) {
	r := polyfork(t, "\"start\"\n{\"n\": 18446744073709551615}\n\n  [1, 2.5]  \n", append([]string{"send", "--"}, raw("serve")...)...)
	assert.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, "\"start\"\n{\"n\":18446744073709551615}\n[1,2.5]\n", r.stdout)

	r = polyfork(t, "\"ok\"\nnot json\n", append([]string{"send", "--"}, raw("serve")...)...)
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, "stdin line 2: invalid JSON")

	r = polyfork(t, "1\n", append([]string{"send", "--"}, raw("exit_after_ready", "5")...)...)
	assert.Equal(t, exitFailure, r.code)
	assert.Contains(t, r.stderr, "exited with status 5")

	r = polyfork(t, "", append([]string{"send", "-timeout", "300ms", "--"}, raw("ignore_term")...)...)
	assert.Equal(t, exitFailure, r.code)
	assert.Contains(t, r.stderr, "timed out after 300ms")

	r = polyfork(t, "", "send", "extra", "--", "x")
	assert.Equal(t, exitUsage, r.code)

	r = polyfork(t, "\"<b>&</b>\"\n"+nested(126)+"\n", append([]string{"send", "--"}, raw("serve")...)...)
	assert.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, "\"<b>&</b>\"\n"+nested(126)+"\n", r.stdout, "no HTML escaping; the deepest value the wire allows")

	r = polyfork(t, "1\n"+nested(127)+"\n", append([]string{"send", "--"}, raw("serve")...)...)
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, "stdin line 2: arrays and objects nest deeper than 126 levels")

	// A line within the 64 MiB a line may hold, but whose message is above the maximum
	// frame size, is bad input (2), not a child that failed (3); a longer line says the limit.
	near := "\"" + strings.Repeat("x", 64<<20-3) + "\"\n"
	r = polyfork(t, near, append([]string{"send", "--"}, raw("serve")...)...)
	assert.Equal(t, exitUsage, r.code, r.stderr)
	assert.Contains(t, r.stderr, "stdin line 1: bridge: protocol: message not sent")
	assert.Contains(t, r.stderr, "above the maximum frame size")
	r = polyfork(t, "1\n\""+strings.Repeat("x", 64<<20)+"\"\n", append([]string{"send", "--"}, raw("serve")...)...)
	assert.Equal(t, exitUsage, r.code, r.stderr)
	assert.Contains(t, r.stderr, "stdin line 2 is longer than a line may be (64 MiB)")
}

func TestUsage(t *testing.T) {
	assert.Equal(t, exitUsage, polyfork(t, "").code)
	assert.Equal(t, exitUsage, polyfork(t, "", "frobnicate").code)
	for _, arg := range []string{"help", "-h", "--help"} {
		r := polyfork(t, "", arg)
		assert.Equal(t, exitOK, r.code)
		assert.Contains(t, r.stdout, "polyfork call [flags] METHOD PARAMS_JSON -- COMMAND")
		assert.Contains(t, r.stdout, "To pick an interpreter, name it")
		assert.Empty(t, r.stderr)
	}
}

// TestCommandHelp checks that every command explains itself in full on -h and --help.
func TestCommandHelp(t *testing.T) {
	for cmd, want := range map[string][]string{
		"call":  {"usage: polyfork call [-timeout 30s] METHOD PARAMS_JSON -- COMMAND [ARG...]", "PARAMS_JSON  a JSON array", "-timeout duration"},
		"send":  {"usage: polyfork send [-timeout D] -- COMMAND [ARG...]", "-timeout duration"},
		"serve": {"usage: polyfork serve [flags] -- COMMAND [ARG...]", "POST /call/METHOD", "-max-body value", "-max-conns int", "-log-format string"},
	} {
		for _, args := range [][]string{{cmd, "-h"}, {cmd, "--help"}, {"help", cmd}, {cmd, "x", "-h", "--", "y"}} {
			r := polyfork(t, "", args...)
			assert.Equal(t, exitOK, r.code, "%q", args)
			assert.Empty(t, r.stderr, "%q", args)
			for _, w := range append(want, "COMMAND is the child to run", "To pick an interpreter, name it", "Exit status:") {
				assert.Contains(t, r.stdout, w, "%q", args)
			}
		}
		r := polyfork(t, "", cmd, "-no-such-flag", "--", "x")
		assert.Equal(t, exitUsage, r.code)
		assert.Contains(t, r.stderr, "flag provided but not defined: -no-such-flag")
		assert.Contains(t, r.stderr, "usage: polyfork "+cmd)
	}
}

// TestCommandHelpFitsTheCommand checks that each command's help ends with its own exit
// statuses, explains COMMAND only when it starts one, and has no empty flag list: every
// help once ended with call's "1 the method raised" and the COMMAND paragraph, attach's and
// agents' included, and attach's with a "flags" heading over nothing.
func TestCommandHelpFitsTheCommand(t *testing.T) {
	for _, c := range []struct {
		args    []string
		command bool   // takes -- COMMAND
		exits   string // in its exit statuses
	}{
		{[]string{"call"}, true, "1 the method raised"},
		{[]string{"call", "-nats", "nats://127.0.0.1:1", "-service", "s"}, false, "1 the method raised"},
		{[]string{"send"}, true, "exited cleanly at the end of stdin"},
		{[]string{"serve"}, true, "0 after a drain"},
		{[]string{"attach"}, false, "0 detached"},
		{[]string{"cluster"}, true, "a socket cannot be bound"},
		{[]string{"agent"}, true, "NATS is unreachable"},
		{[]string{"agents"}, false, "no\nagent answered"},
	} {
		r := polyfork(t, "", append(c.args, "-h")...)
		require.Equal(t, exitOK, r.code, "%q", c.args)
		out := r.stdout
		i := strings.LastIndex(out, "Exit status:")
		require.GreaterOrEqual(t, i, 0, "%q:\n%s", c.args, out)
		exits := strings.ReplaceAll(out[i:], "\n", " ")
		assert.Contains(t, exits, strings.ReplaceAll(c.exits, "\n", " "), "%q", c.args)
		assert.Equal(t, 1, strings.Count(out, "Exit status:"), "%q", c.args)
		if c.exits != "1 the method raised" {
			assert.NotContains(t, exits, "the method raised", "%q", c.args)
		}
		assert.Equal(t, c.command, strings.Contains(out, "COMMAND is the child to run"), "%q", c.args)
		assert.NotRegexp(t, `flags \(anywhere before "--"\):\n\n`, out, "%q", c.args)
	}
}

// "polyfork help TOPIC" gives the command's own help, and an unknown topic is a usage
// error: "help nosuch" printed the general usage with status 0, and "help version" the
// general usage.
func TestHelpTopics(t *testing.T) {
	r := polyfork(t, "", "help", "send")
	assert.Equal(t, exitOK, r.code)
	assert.Contains(t, r.stdout, "usage: polyfork send")
	r = polyfork(t, "", "help", "version")
	assert.Equal(t, exitOK, r.code)
	assert.Equal(t, "usage: polyfork version\n\nPrint polyfork's version, such as \"polyfork 0.2.0\".\n", r.stdout)
	r = polyfork(t, "", "help", "nosuch")
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, `polyfork help: no command "nosuch"`)
	r = polyfork(t, "", "help")
	assert.Equal(t, exitOK, r.code)
	assert.Contains(t, r.stdout, "usage:")
}

func TestVersion(t *testing.T) {
	for _, arg := range []string{"version", "--version", "-version"} {
		r := polyfork(t, "", arg)
		assert.Equal(t, exitOK, r.code)
		assert.Equal(t, "polyfork 0.2.0\n", r.stdout)
	}
}

// TestSignalLeavesNothingRunning runs the real binary, stops it with SIGTERM while a child
// runs, and checks that the child is gone.
func TestSignalLeavesNothingRunning(t *testing.T) {
	bin := buildPolyfork(t)

	cmd := exec.Command(bin, append([]string{"call", "sleep", "[60000]", "--"}, raw("serve")...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	defer pr.Close()
	cmd.Stdout = pw
	require.NoError(t, cmd.Start())
	pw.Close()

	// Find the child: the process whose parent is the CLI.
	var child int
	deadline := time.Now().Add(10 * time.Second)
	for child == 0 && time.Now().Before(deadline) {
		child = childOf(cmd.Process.Pid)
		time.Sleep(20 * time.Millisecond)
	}
	require.NotZero(t, child, "the CLI never started its child")
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	_ = cmd.Wait()
	for time.Now().Before(deadline) && syscall.Kill(child, 0) == nil {
		time.Sleep(20 * time.Millisecond)
	}
	assert.Error(t, syscall.Kill(child, 0), "child %d still running after the CLI got SIGTERM", child)
}

func childOf(parent int) int {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		f := strings.Fields(s[i+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(parent) {
			return pid
		}
	}
	return 0
}
