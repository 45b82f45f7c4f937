package installtest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/polyfork/polyfork"
	"github.com/polyfork/polyfork/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// placeholder is how README.md names the clone; the tests put the repository's path there.
const placeholder = "/path/to/polyfork"

// repoRoot is the repository, two levels up from this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	return root
}

// installSection returns README.md's "## Install" section.
func installSection(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	require.NoError(t, err)
	s := string(readme)
	start := strings.Index(s, "\n## Install\n")
	require.GreaterOrEqual(t, start, 0, `README.md has no "## Install" section`)
	s = s[start+1:]
	if end := strings.Index(s, "\n## "); end >= 0 {
		s = s[:end]
	}
	return s
}

// shellBlock returns the lines of the first ```sh block after the text after in the
// Install section, with the clone's path filled in.
func shellBlock(t *testing.T, after, root string) []string {
	t.Helper()
	s := installSection(t)
	i := strings.Index(s, after)
	require.GreaterOrEqual(t, i, 0, "README.md's Install section lost %q", after)
	s = s[i:]
	i = strings.Index(s, "```sh\n")
	require.GreaterOrEqual(t, i, 0, "README.md: no ```sh block after %q", after)
	s = s[i+len("```sh\n"):]
	s = s[:strings.Index(s, "```")]
	var lines []string
	for _, line := range strings.Split(s, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			lines = append(lines, strings.ReplaceAll(line, placeholder, root))
		}
	}
	require.NotEmpty(t, lines, "README.md: empty ```sh block after %q", after)
	return lines
}

// environ is this process's environment without what would reach into the commands from
// the make or go test that runs us (a jobserver's descriptors, a workspace), plus extra.
func environ(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "GOWORK", "GOBIN":
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// run runs a shell command line in dir and returns its stdout; a failure shows both
// streams.
func run(t *testing.T, dir string, env []string, line string) string {
	t.Helper()
	cmd := exec.Command("sh", "-c", line)
	cmd.Dir = dir
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	require.NoError(t, err, "in %s: %s\nstdout:\n%s\nstderr:\n%s", dir, line, stdout.String(), stderr.String())
	return stdout.String()
}

// newModule makes a fresh module outside the repository holding the hello program.
func newModule(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"main.go", "worker.py"} {
		b, err := os.ReadFile(filepath.Join("testdata", "hello", name))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o644))
	}
	run(t, dir, environ(), "go mod init example.com/hello")
	return dir
}

// runHello builds the hello program in dir and runs it against a Python worker that finds
// the client through PYTHONPATH.
func runHello(t *testing.T, dir, root string, env []string) {
	t.Helper()
	python := testutil.Python()
	_, err := exec.LookPath(python)
	require.NoError(t, err, "%s is needed: run scripts/setup.sh", python)
	run(t, dir, env, "go build -o hello .")
	out := run(t, dir, append(env, "PYTHONPATH="+filepath.Join(root, "clients", "python", "src")), "./hello "+python)
	assert.Equal(t, "python: 40 + 2 = 42 (polyfork-python/"+polyfork.Version+")\n", out)
}

// TestGoModuleWithReplace runs the README's Go commands in a fresh module and builds a
// program that uses package bridge.
func TestGoModuleWithReplace(t *testing.T) {
	root := repoRoot(t)
	dir := newModule(t)
	env := environ("GOWORK=off")
	lines := shellBlock(t, "**Go.**", root)
	assert.Contains(t, strings.Join(lines, "\n"), "github.com/polyfork/polyfork@v"+polyfork.Version,
		"README.md's go get names another version than polyfork.Version")
	for _, line := range lines {
		run(t, dir, env, line)
	}
	gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	require.NoError(t, err)
	assert.Contains(t, string(gomod), "require github.com/polyfork/polyfork v"+polyfork.Version)
	assert.Contains(t, string(gomod), "replace github.com/polyfork/polyfork => "+root)
	runHello(t, dir, root, env)
}

// TestGoWorkspace builds the same program through a workspace instead of a replace.
func TestGoWorkspace(t *testing.T) {
	root := repoRoot(t)
	const line = "go work init . " + placeholder
	require.Contains(t, installSection(t), "`"+line+"`", "README.md's Install section lost the workspace command")
	dir := newModule(t)
	env := environ()
	run(t, dir, env, strings.ReplaceAll(line, placeholder, root))
	runHello(t, dir, root, env)
}

// TestMakeInstall runs the README's CLI commands with GOBIN in a temporary directory that
// is not on PATH: make install must say where the command went and how to reach it, and
// the installed command must print the shared version.
func TestMakeInstall(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatalf("make is needed: %v", err)
	}
	root := repoRoot(t)
	gobin := t.TempDir()
	lines := shellBlock(t, "**The CLI.**", root)
	require.Len(t, lines, 2, "README.md's CLI block: make install, then polyfork version")

	install := run(t, root, environ("GOBIN="+gobin), lines[0])
	assert.Contains(t, install, "installed "+filepath.Join(gobin, "polyfork"))
	assert.Contains(t, install, `export PATH="`+gobin+`:$PATH"`, "make install tells how to put GOBIN on PATH")

	command, comment, _ := strings.Cut(lines[1], "#")
	want := strings.TrimSpace(comment)
	assert.Equal(t, "polyfork "+polyfork.Version, want, "README.md's polyfork version comment")
	path := gobin + string(os.PathListSeparator) + os.Getenv("PATH")
	out := run(t, t.TempDir(), environ("PATH="+path), command)
	assert.Equal(t, want+"\n", out)
}

// TestMakeInstallIntoGOPATH installs with GOBIN unset: the command goes to GOPATH's bin, and
// make install says so.
func TestMakeInstallIntoGOPATH(t *testing.T) {
	root := repoRoot(t)
	gopath := t.TempDir()
	modcache := strings.TrimSpace(run(t, root, environ(), "go env GOMODCACHE"))
	// The module cache stays where it is, so nothing is downloaded.
	out := run(t, root, environ("GOPATH="+gopath, "GOMODCACHE="+modcache), "make -s install")
	bin := filepath.Join(gopath, "bin")
	assert.Regexp(t, "(?m)^installed "+regexp.QuoteMeta(filepath.Join(bin, "polyfork"))+"$", out)
	_, err := os.Stat(filepath.Join(bin, "polyfork"))
	require.NoError(t, err)
	assert.Equal(t, "polyfork "+polyfork.Version+"\n", run(t, root, environ(), filepath.Join(bin, "polyfork")+" version"))
}
