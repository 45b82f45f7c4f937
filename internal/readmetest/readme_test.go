package readmetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/polyfork/polyfork/bridge"
	"github.com/polyfork/polyfork/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readmes are the files whose blocks are tested, relative to the repository's root.
var readmes = []string{
	"README.md",
	"clients/python/README.md",
	"clients/php/README.md",
	"clients/node/README.md",
}

// placeholders are how the READMEs name the clone.
var placeholders = []string{"/path/to/polyfork", "<repo>", "<clone>"}

type block struct {
	readme string // relative to the root
	line   int    // of the opening fence, 1-based
	lang   string
	body   string // with its final newline
	marker string // the comment's text, "" when there is none
	next   *block // the block after it in the same README
}

func (b *block) String() string { return fmt.Sprintf("%s:%d", b.readme, b.line) }

var (
	fenceRe  = regexp.MustCompile("^(\\s*)(```+)\\s*([^`\\s]*)\\s*$")
	markerRe = regexp.MustCompile(`^\s*<!--\s*(.*?)\s*-->\s*$`)
)

func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	return root
}

// parse returns the fenced blocks of one README.
func parse(t testing.TB, root, readme string) []*block {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, readme))
	require.NoError(t, err)
	lines := strings.SplitAfter(string(data), "\n")
	var blocks []*block
	for i := 0; i < len(lines); i++ {
		m := fenceRe.FindStringSubmatch(strings.TrimRight(lines[i], "\n"))
		if m == nil {
			// An indented code block cannot carry a marker: it must be fenced.
			if indentedCode(lines, i) {
				t.Errorf("%s:%d: an indented code block; fence it (```) and give it a marker", readme, i+1)
			}
			continue
		}
		b := &block{readme: readme, line: i + 1, lang: m[3]}
		if i > 0 {
			if mm := markerRe.FindStringSubmatch(strings.TrimRight(lines[i-1], "\n")); mm != nil {
				b.marker = mm[1]
			}
		}
		var body strings.Builder
		j := i + 1
		for ; j < len(lines); j++ {
			if c := fenceRe.FindStringSubmatch(strings.TrimRight(lines[j], "\n")); c != nil && c[3] == "" && len(c[2]) >= len(m[2]) {
				break
			}
			body.WriteString(strings.TrimPrefix(lines[j], m[1]))
		}
		require.Less(t, j, len(lines), "%s: the block has no closing fence", b)
		b.body = body.String()
		if len(blocks) > 0 {
			blocks[len(blocks)-1].next = b
		}
		blocks = append(blocks, b)
		i = j
	}
	return blocks
}

// indentedCode tells whether line i opens an indented code block: four spaces or a tab,
// after a blank line that follows a paragraph (not a list item, whose continuation lines
// are indented too).
func indentedCode(lines []string, i int) bool {
	l := lines[i]
	if !(strings.HasPrefix(l, "    ") || strings.HasPrefix(l, "\t")) || strings.TrimSpace(l) == "" || i < 2 || strings.TrimSpace(lines[i-1]) != "" {
		return false
	}
	for j := i - 2; j >= 0; j-- {
		p := lines[j]
		if strings.TrimSpace(p) == "" {
			continue
		}
		return !(p[0] == ' ' || p[0] == '\t' || listItemRe.MatchString(p) || strings.HasPrefix(p, "<"))
	}
	return false
}

var listItemRe = regexp.MustCompile(`^([-*+]|[0-9]+[.)])\s`)

// env is what the runners share: the freshly built polyfork and the interpreters.
type env struct {
	root     string
	polyfork string // the binary
	pathDir  string // polyfork, python3, php and node, first on PATH
	missing  map[string]string
}

var (
	envOnce sync.Once
	envVal  *env
	envErr  error
)

func setup(t *testing.T) *env {
	t.Helper()
	envOnce.Do(func() { envVal, envErr = newEnv(repoRoot(t)) })
	require.NoError(t, envErr)
	return envVal
}

func newEnv(root string) (*env, error) {
	dir, err := os.MkdirTemp("", "polyfork-readmetest-")
	if err != nil {
		return nil, err
	}
	e := &env{root: root, polyfork: filepath.Join(dir, "polyfork"), pathDir: dir, missing: map[string]string{}}
	build := exec.Command("go", "build", "-o", e.polyfork, "./cmd/polyfork")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build ./cmd/polyfork: %v\n%s", err, out)
	}
	for _, in := range []struct{ name, env string }{
		{"python3", "POLYFORK_PYTHON"}, {"php", "POLYFORK_PHP"}, {"node", "POLYFORK_NODE"},
	} {
		path, named, err := testutil.FindInterpreter(in.env, in.name)
		if named {
			return nil, err // a typo, not an interpreter this machine lacks
		}
		if err != nil {
			e.missing[in.name] = err.Error()
			continue
		}
		if err := os.Symlink(path, filepath.Join(dir, in.name)); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// need skips the test when an interpreter the block uses is not installed.
func (e *env) need(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		if why, ok := e.missing[n]; ok {
			t.Skipf("%s: %s", t.Name(), why)
		}
	}
}

// workdir returns a new directory that looks like the repository's root: its top-level
// entries linked, bin/polyfork, node_modules/polyfork.
func (e *env) workdir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	entries, err := os.ReadDir(e.root)
	require.NoError(t, err)
	for _, ent := range entries {
		switch ent.Name() {
		case ".git", "bin", "node_modules":
			continue
		}
		require.NoError(t, os.Symlink(filepath.Join(e.root, ent.Name()), filepath.Join(dir, ent.Name())))
	}
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "bin"), 0o755))
	require.NoError(t, os.Symlink(e.polyfork, filepath.Join(dir, "bin", "polyfork")))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "node_modules"), 0o755))
	require.NoError(t, os.Symlink(filepath.Join(e.root, "clients", "node"), filepath.Join(dir, "node_modules", "polyfork")))
	return dir
}

// fill puts the repository's root in place of the placeholders.
func (e *env) fill(s string) string {
	for _, p := range placeholders {
		s = strings.ReplaceAll(s, p, e.root)
	}
	return s
}

func (e *env) environ(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		// A make that runs this test passes its jobserver to its children: not to the
		// blocks' own make.
		if strings.HasPrefix(kv, "PATH=") || strings.HasPrefix(kv, "MAKEFLAGS=") || strings.HasPrefix(kv, "MFLAGS=") || strings.HasPrefix(kv, "MAKELEVEL=") {
			continue
		}
		out = append(out, kv)
	}
	out = append(out, "PATH="+e.pathDir+string(os.PathListSeparator)+os.Getenv("PATH"), "REPO="+e.root)
	return append(out, extra...)
}

func TestREADMEBlocks(t *testing.T) {
	root := repoRoot(t)
	var skipped, total atomic.Int64
	t.Cleanup(func() { t.Logf("%d blocks, %d skipped (each with its reason)", total.Load(), skipped.Load()) })
	for _, readme := range readmes {
		blocks := parse(t, root, readme)
		require.NotEmpty(t, blocks, readme)
		for _, b := range blocks {
			total.Add(1)
			name := strings.ReplaceAll(b.String(), "/", "_")
			t.Run(name, func(t *testing.T) {
				kind, arg, _ := strings.Cut(b.marker, ":")
				kind, arg = strings.TrimSpace(kind), strings.TrimSpace(arg)
				switch kind {
				case "skip":
					require.NotEmpty(t, arg, "%s: <!-- skip: REASON -->: the reason is required", b)
					checkReason(t, root, b, arg)
					skipped.Add(1)
					t.Skipf("%s: %s", b, arg)
				case "output":
					require.NotNil(t, b.prevRun(blocks), "%s: an <!-- output --> block must follow a run: sh block", b)
					require.Contains(t, []string{"", "stdout", "stderr"}, arg, "%s: <!-- output -->, <!-- output: stdout --> or <!-- output: stderr -->", b)
				case "layout":
					checkLayout(t, root, b)
				case "file":
					checkFile(t, root, b, arg)
				case "run":
					t.Parallel()
					runBlock(t, b, arg)
				default:
					t.Fatalf("%s: a ```%s block without a marker (or with an unknown one: %q); put "+
						"<!-- run: sh -->, <!-- run: python -->, <!-- file: path -->, <!-- layout --> or "+
						"<!-- skip: reason --> on the line before its fence (internal/readmetest/doc.go)",
						b, b.lang, b.marker)
				}
			})
		}
	}
}

var (
	reasonPathRe = regexp.MustCompile(`[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)+`)
	makeTargetRe = regexp.MustCompile(`make ([a-z][a-z-]*)`)
)

// checkReason holds a skip's reason to what it says: the files it names as running the
// block exist (in the repository or beside the README), and so do the make targets.
func checkReason(t *testing.T, root string, b *block, reason string) {
	t.Helper()
	for _, p := range reasonPathRe.FindAllString(reason, -1) {
		first, _, _ := strings.Cut(p, "/")
		found, ours := false, false
		for _, base := range []string{filepath.Join(root, filepath.Dir(b.readme)), root} {
			if _, err := os.Stat(filepath.Join(base, first)); err == nil {
				ours = true
				if _, err := os.Stat(filepath.Join(base, p)); err == nil {
					found = true
				}
			}
		}
		assert.True(t, !ours || found, "%s: the skip's reason names %s, which does not exist", b, p)
	}
	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	require.NoError(t, err)
	for _, m := range makeTargetRe.FindAllStringSubmatch(reason, -1) {
		assert.Regexp(t, regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(m[1])+`:`), string(makefile), "%s: the skip's reason names make %s, which the Makefile does not have", b, m[1])
	}
}

// prevRun returns the run block that an output block belongs to.
func (b *block) prevRun(blocks []*block) *block {
	for _, p := range blocks {
		if p.next == b && strings.HasPrefix(p.marker, "run:") {
			return p
		}
	}
	return nil
}

// region returns the text between "// readme:start NAME" and "// readme:end" (or the
// "#" form), with the indentation common to its lines removed.
func region(t *testing.T, text, name, path string) string {
	t.Helper()
	lines := strings.SplitAfter(text, "\n")
	start, end := -1, -1
	for i, l := range lines {
		f := strings.Fields(l)
		if len(f) == 3 && (f[0] == "//" || f[0] == "#") && f[1] == "readme:start" && f[2] == name {
			start = i + 1
		} else if start >= 0 && end < 0 && len(f) == 2 && (f[0] == "//" || f[0] == "#") && f[1] == "readme:end" {
			end = i
		}
	}
	require.True(t, start >= 0 && end >= start, "%s has no region %q (// readme:start %s ... // readme:end)", path, name, name)
	body := lines[start:end]
	indent, first := "", true
	for _, l := range body {
		if strings.TrimSpace(l) == "" {
			continue
		}
		lead := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
		if first {
			indent, first = lead, false
		}
		n := 0
		for n < len(indent) && n < len(lead) && indent[n] == lead[n] {
			n++
		}
		indent = indent[:n]
	}
	var out strings.Builder
	for _, l := range body {
		if strings.TrimSpace(l) == "" {
			out.WriteString("\n")
			continue
		}
		out.WriteString(strings.TrimPrefix(l, indent))
	}
	return out.String()
}

func checkFile(t *testing.T, root string, b *block, arg string) {
	path, name, _ := strings.Cut(arg, "#")
	require.NotEmpty(t, path, "%s: <!-- file: PATH -->", b)
	data, err := os.ReadFile(filepath.Join(root, path))
	require.NoError(t, err, "%s: the file the block quotes", b)
	want := string(data)
	if name != "" {
		want = region(t, want, name, path)
	}
	assert.Equal(t, want, b.body, "%s must quote %s exactly (copy it from there)", b, arg)
}

func checkLayout(t *testing.T, root string, b *block) {
	n := 0
	for _, l := range strings.Split(b.body, "\n") {
		if l == "" || l[0] == ' ' {
			continue
		}
		p := strings.Fields(l)[0]
		n++
		_, err := os.Stat(filepath.Join(root, p))
		assert.NoError(t, err, "%s lists %s", b, p)
	}
	assert.Positive(t, n, "%s: no path in the listing", b)
}

// runBlock runs a block marked "run: LANG; options".
func runBlock(t *testing.T, b *block, arg string) {
	e := setup(t)
	parts := strings.Split(arg, ";")
	lang := strings.TrimSpace(parts[0])
	var opts []string
	for _, p := range parts[1:] {
		if p = strings.TrimSpace(p); p != "" {
			opts = append(opts, p)
		}
	}
	switch lang {
	case "sh":
		runShell(t, e, b, opts)
	case "python":
		runChild(t, e, b, "python3", "worker.py", opts)
	case "php":
		runChild(t, e, b, "php", "worker.php", opts)
	case "node":
		runChild(t, e, b, "node", "worker.js", opts)
	default:
		t.Fatalf("%s: run: %q: want sh, python, php or node", b, lang)
	}
}

var expectRe = regexp.MustCompile(`#\s*->\s*(.*?)\s*$`)

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
}

// shellPrelude ends every background job when the block ends, and makes curl wait for the
// server it names to listen (a person typing the commands waits for it too).
const shellPrelude = `trap 'j=$(jobs -p); [ -z "$j" ] || { kill $j 2>/dev/null; wait $j 2>/dev/null; }; true' EXIT
curl() {
	local a hp h p i
	for a in "$@"; do
		case $a in
		localhost:*|127.0.0.1:*|http://localhost:*|http://127.0.0.1:*)
			hp=${a#http://}; hp=${hp%%/*}; h=${hp%:*}; p=${hp##*:}
			[ "$h" = localhost ] && h=127.0.0.1
			for i in $(seq 400); do (exec 3<>"/dev/tcp/$h/$p") 2>/dev/null && break; sleep 0.05; done;;
		esac
	done
	command curl -sS --retry 20 --retry-connrefused --retry-delay 1 "$@"
}
`

func runShell(t *testing.T, e *env, b *block, opts []string) {
	dir := e.workdir(t)
	script := e.fill(b.body)
	var extraEnv, ports []string
	for _, o := range opts {
		switch {
		case o == "ports":
			for _, p := range []string{"3000", "3001", "4222"} {
				ports = append(ports, ":"+p, ":"+freePort(t))
			}
			script = strings.NewReplacer(ports...).Replace(script)
		case strings.HasPrefix(o, "first "):
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(o, "first ")))
			require.NoError(t, err, "%s: option %q", b, o)
			lines := strings.SplitAfter(script, "\n")
			require.Less(t, n, len(lines), "%s: option %q", b, o)
			script = strings.Join(lines[:n], "")
		case strings.HasPrefix(o, "env "):
			extraEnv = append(extraEnv, strings.TrimSpace(strings.TrimPrefix(o, "env ")))
		case strings.Contains(o, "="):
			name, src, _ := strings.Cut(o, "=")
			data, err := os.ReadFile(filepath.Join(e.root, strings.TrimSpace(src)))
			require.NoError(t, err, "%s: option %q", b, o)
			require.NoError(t, os.WriteFile(filepath.Join(dir, strings.TrimSpace(name)), data, 0o644))
		default:
			t.Fatalf("%s: unknown option %q", b, o)
		}
	}
	for _, name := range []string{"python3", "php", "node"} {
		if regexp.MustCompile(`\b` + name + `\b`).MatchString(script) {
			e.need(t, name)
		}
	}
	var want []string
	for _, l := range strings.Split(script, "\n") {
		if m := expectRe.FindStringSubmatch(l); m != nil {
			want = append(want, m[1])
		}
	}
	// An output block that follows: each of its lines, "..." standing for any text, is a
	// line of the block's stdout (or stderr, with "output: stderr"), in order.
	var patterns []*regexp.Regexp
	stream := "stdout"
	if b.next != nil && strings.HasPrefix(b.next.marker, "output") {
		if _, s, ok := strings.Cut(b.next.marker, ":"); ok {
			stream = strings.TrimSpace(s)
		}
		body := e.fill(b.next.body)
		if len(ports) > 0 {
			body = strings.NewReplacer(ports...).Replace(body)
		}
		for _, l := range strings.Split(strings.TrimRight(body, "\n"), "\n") {
			re := strings.ReplaceAll(regexp.QuoteMeta(strings.TrimSpace(l)), `\.\.\.`, ".*")
			patterns = append(patterns, regexp.MustCompile("^"+re+"$"))
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", shellPrelude+script)
	cmd.Dir = dir
	cmd.Env = e.environ(extraEnv...)
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Start()
	require.NoError(t, err)
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	err = cmd.Wait()
	require.NoError(t, err, "%s: the block failed\nstdout:\n%s\nstderr:\n%s", b, stdout.String(), stderr.String())
	out := stdout.String()
	rest := out
	for _, w := range want {
		i := strings.Index(rest, w)
		if !assert.GreaterOrEqual(t, i, 0, "%s: the block's output lacks %q (in order)\nstdout:\n%s\nstderr:\n%s", b, w, out, stderr.String()) {
			return
		}
		rest = rest[i+len(w):]
	}
	lines := strings.Split(out, "\n")
	if stream == "stderr" {
		lines = strings.Split(stderr.String(), "\n")
	}
	for _, re := range patterns {
		for len(lines) > 0 && !re.MatchString(strings.TrimSpace(lines[0])) {
			lines = lines[1:]
		}
		if !assert.NotEmpty(t, lines, "%s: no line of its %s matches %s (in order)\nstdout:\n%s\nstderr:\n%s", b, stream, re, out, stderr.String()) {
			return
		}
		lines = lines[1:]
	}
}

// runChild starts the block as a polyfork child and checks what its marker says.
func runChild(t *testing.T, e *env, b *block, interp, file string, opts []string) {
	e.need(t, interp)
	dir := e.workdir(t)
	src := e.fill(b.body)
	require.NoError(t, os.WriteFile(filepath.Join(dir, file), []byte(src), 0o644))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	messages := make(chan any, 16)
	hostHandler := func(method string) bridge.Option {
		return bridge.WithHandler(method, func(ctx context.Context, a bridge.Args) (any, error) {
			vs, err := a.Values()
			return map[string]any{"host": method, "params": vs}, err
		})
	}
	var stderr testutil.Buffer
	options := []bridge.Option{
		bridge.WithDir(dir),
		bridge.WithEnv("PYTHONPATH="+filepath.Join(e.root, "clients", "python", "src"), "PATH="+e.pathDir+string(os.PathListSeparator)+os.Getenv("PATH")),
		bridge.WithStderr(&stderr),
		bridge.OnMessage(func(v any) { messages <- v }),
	}
	for _, o := range opts {
		if verb, rest, ok := strings.Cut(o, " "); ok && verb == "host" {
			options = append(options, hostHandler(strings.TrimSpace(rest)))
		}
	}
	p, err := bridge.Start(ctx, []string{filepath.Join(e.pathDir, interp), file}, options...)
	require.NoError(t, err, "%s: start\n%s", b, stderr.String())
	t.Cleanup(func() { _ = p.Kill() })
	checks := 0
	for _, o := range opts {
		verb, rest, _ := strings.Cut(o, " ")
		if verb == "host" {
			continue
		}
		in, out, ok := strings.Cut(rest, "->")
		require.True(t, ok, "%s: %q: want VERB ... -> JSON", b, o)
		want := canon(t, b, strings.TrimSpace(out))
		switch verb {
		case "call":
			method, params, _ := strings.Cut(strings.TrimSpace(in), " ")
			ps, ok := parseJSON(t, b, params).([]any)
			require.True(t, ok, "%s: %q: params must be a JSON array", b, o)
			var got any
			err := p.Call(ctx, method, ps, &got)
			require.NoError(t, err, "%s: %s\n%s", b, o, stderr.String())
			assert.Equal(t, want, canonValue(t, got), "%s: %s", b, o)
		case "send":
			require.NoError(t, p.Send(ctx, parseJSON(t, b, in)))
			select {
			case got := <-messages:
				assert.Equal(t, want, canonValue(t, got), "%s: %s", b, o)
			case <-ctx.Done():
				t.Fatalf("%s: %s: no message came back\n%s", b, o, stderr.String())
			}
		default:
			t.Fatalf("%s: unknown check %q", b, o)
		}
		checks++
	}
	require.Positive(t, checks, "%s: a run block checks at least one call or message", b)
	err = p.Shutdown(ctx)
	var ee *bridge.ExitError
	if errors.As(err, &ee) || err != nil {
		t.Fatalf("%s: the child did not stop cleanly: %v\n%s", b, err, stderr.String())
	}
}

// parseJSON decodes s with integers as int64, as the polyfork CLI sends them.
func parseJSON(t *testing.T, b *block, s string) any {
	dec := json.NewDecoder(strings.NewReader(strings.TrimSpace(s)))
	dec.UseNumber()
	var v any
	require.NoError(t, dec.Decode(&v), "%s: %q is not JSON", b, s)
	return numbers(v)
}

func numbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		f, _ := v.Float64()
		return f
	case []any:
		for i := range v {
			v[i] = numbers(v[i])
		}
	case map[string]any:
		for k := range v {
			v[k] = numbers(v[k])
		}
	}
	return v
}

func canon(t *testing.T, b *block, s string) string {
	var v any
	require.NoError(t, json.Unmarshal([]byte(s), &v), "%s: %q is not JSON", b, s)
	return canonValue(t, v)
}

func canonValue(t *testing.T, v any) string {
	out, err := json.Marshal(v)
	require.NoError(t, err)
	return string(out)
}

var linkRe = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// TestREADMELinks checks that every relative link names something that exists.
func TestREADMELinks(t *testing.T) {
	root := repoRoot(t)
	for _, readme := range readmes {
		data, err := os.ReadFile(filepath.Join(root, readme))
		require.NoError(t, err)
		n := 0
		for _, m := range linkRe.FindAllStringSubmatch(string(data), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			if strings.HasPrefix(target, "#") {
				assert.Contains(t, anchors(t, filepath.Join(root, readme)), target[1:], "%s links to %s: no such heading", readme, target)
				continue
			}
			target, anchor, _ := strings.Cut(target, "#")
			n++
			path := filepath.Join(root, filepath.Dir(readme), target)
			_, err := os.Stat(path)
			if assert.NoError(t, err, "%s links to %s", readme, m[1]) && anchor != "" && strings.HasSuffix(path, ".md") {
				assert.Contains(t, anchors(t, path), anchor, "%s links to %s: no such heading", readme, m[1])
			}
		}
		t.Logf("%s: %d relative links", readme, n)
	}
}

var slugDrop = regexp.MustCompile(`[^\p{L}\p{N}\- _]`)

// anchors returns the anchors of a Markdown file's headings, as GitHub makes them.
func anchors(t *testing.T, path string) []string {
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var out []string
	seen := map[string]int{}
	fence := false
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			fence = !fence
		}
		if fence || !strings.HasPrefix(l, "#") {
			continue
		}
		h := strings.TrimSpace(strings.TrimLeft(l, "#"))
		slug := strings.ReplaceAll(slugDrop.ReplaceAllString(strings.ToLower(h), ""), " ", "-")
		if n := seen[slug]; n > 0 {
			out = append(out, fmt.Sprintf("%s-%d", slug, n))
		} else {
			out = append(out, slug)
		}
		seen[slug]++
	}
	return out
}

// TestEveryBlockHasAMarker is the rule on its own, quick and without interpreters; it logs
// how many blocks of each README carry each kind of marker.
func TestEveryBlockHasAMarker(t *testing.T) {
	root := repoRoot(t)
	for _, readme := range readmes {
		kinds := map[string]int{}
		for _, b := range parse(t, root, readme) {
			kind, arg, _ := strings.Cut(b.marker, ":")
			kind = strings.TrimSpace(kind)
			switch kind {
			case "run":
				lang, _, _ := strings.Cut(strings.TrimSpace(arg), ";")
				kinds["run: "+strings.TrimSpace(lang)]++
			case "file", "skip", "output", "layout":
				kinds[kind]++
			default:
				t.Errorf("%s: a ```%s block without a marker (%q)", b, b.lang, b.marker)
			}
		}
		var parts []string
		for _, k := range []string{"run: sh", "run: python", "run: php", "run: node", "file", "output", "layout", "skip"} {
			if kinds[k] > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", k, kinds[k]))
			}
		}
		t.Logf("%s: %s", readme, strings.Join(parts, ", "))
	}
}
