package polyfork_test

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/polyfork/polyfork"
	"github.com/polyfork/polyfork/bridge"
	"github.com/polyfork/polyfork/bridge/child"
	"github.com/polyfork/polyfork/internal/testutil"
	"github.com/polyfork/polyfork/protocol"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// One version number for everything: each place that states it is read here and compared
// with the Go constant, so that a release bumps all of them or the tests fail.

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.FromSlash(path))
	require.NoError(t, err)
	return string(b)
}

func TestVersionIsSemver(t *testing.T) {
	assert.Regexp(t, `^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?$`, polyfork.Version)
}

func TestVersionFile(t *testing.T) {
	assert.Equal(t, polyfork.Version+"\n", read(t, "VERSION"), "VERSION holds the version and one newline")
}

func TestChangelogHasTheVersion(t *testing.T) {
	heading := regexp.MustCompile(`(?m)^## \[` + regexp.QuoteMeta(polyfork.Version) + `\]`)
	assert.True(t, heading.MatchString(read(t, "CHANGELOG.md")), "CHANGELOG.md has no section \"## [%s]\"", polyfork.Version)
}

func TestGoChildVersion(t *testing.T) {
	assert.Equal(t, polyfork.Version, child.Version, "bridge/child.Version")
}

// TestPythonManifest follows pyproject.toml to where the Python package declares its
// version: [project] version, or a dynamic version read from an attribute of a module.
func TestPythonManifest(t *testing.T) {
	pyproject := read(t, "clients/python/pyproject.toml")
	if m := regexp.MustCompile(`(?m)^version\s*=\s*"([^"]+)"`).FindStringSubmatch(pyproject); m != nil {
		assert.Equal(t, polyfork.Version, m[1], "clients/python/pyproject.toml: version")
		return
	}
	m := regexp.MustCompile(`(?m)^version\s*=\s*\{\s*attr\s*=\s*"([\w.]+)\.(\w+)"\s*\}`).FindStringSubmatch(pyproject)
	require.NotNil(t, m, "clients/python/pyproject.toml states no version, neither static nor {attr = ...}")
	module := "clients/python/src/" + strings.ReplaceAll(m[1], ".", "/") + ".py"
	src := read(t, module)
	v := regexp.MustCompile(`(?m)^` + m[2] + `\s*=\s*["']([^"']+)["']`).FindStringSubmatch(src)
	require.NotNil(t, v, "%s does not assign %s", module, m[2])
	assert.Equal(t, polyfork.Version, v[1], "%s: %s", module, m[2])
}

func TestPHPManifest(t *testing.T) {
	var composer struct {
		Version string `json:"version"`
	}
	require.NoError(t, json.Unmarshal([]byte(read(t, "clients/php/composer.json")), &composer))
	assert.Equal(t, polyfork.Version, composer.Version, "clients/php/composer.json: version")
}

func TestNodeManifest(t *testing.T) {
	var pkg struct {
		Version string `json:"version"`
	}
	require.NoError(t, json.Unmarshal([]byte(read(t, "clients/node/package.json")), &pkg))
	assert.Equal(t, polyfork.Version, pkg.Version, "clients/node/package.json: version")

	var lock struct {
		Version  string `json:"version"`
		Packages map[string]struct {
			Version string `json:"version"`
		} `json:"packages"`
	}
	require.NoError(t, json.Unmarshal([]byte(read(t, "clients/node/package-lock.json")), &lock))
	assert.Equal(t, polyfork.Version, lock.Version, "clients/node/package-lock.json: version (npm install updates it)")
	assert.Equal(t, polyfork.Version, lock.Packages[""].Version, `clients/node/package-lock.json: packages[""].version`)
}

// TestReadyLib starts each client as a child and reads the library version it announces
// in $ready: what a host sees, whichever constant the client keeps it in.
func TestReadyLib(t *testing.T) {
	root, err := filepath.Abs(".")
	require.NoError(t, err)
	children := []struct {
		lang string
		argv []string
		env  []string
	}{
		{"python", []string{testutil.Python(), filepath.Join(root, "clients/python/tests/conformance_child.py")},
			[]string{"PYTHONPATH=" + filepath.Join(root, "clients/python/src")}},
		{"php", []string{testutil.Interpreter("POLYFORK_PHP", "php"), filepath.Join(root, "clients/php/tests/conformance_child.php")}, nil},
		{"node", []string{testutil.Interpreter("POLYFORK_NODE", "node"), filepath.Join(root, "clients/node/test/conformance_child.js")}, nil},
	}
	for _, c := range children {
		t.Run(c.lang, func(t *testing.T) {
			_, err := exec.LookPath(c.argv[0])
			require.NoError(t, err, "%s is needed: run scripts/setup.sh", c.argv[0])
			var stderr testutil.Buffer
			p, err := bridge.Start(context.Background(), c.argv, bridge.WithEnv(c.env...), bridge.WithStderr(&stderr))
			require.NoError(t, err, stderr.String())
			defer p.Close()
			assert.Equal(t, "polyfork-"+c.lang+"/"+polyfork.Version, p.Ready().Lib)
		})
	}
	t.Run("go", func(t *testing.T) {
		host, side := net.Pipe()
		defer host.Close()
		served := make(chan error, 1)
		go func() { served <- child.New().Serve(side, side) }()
		info, err := bridge.ReadReady(host, protocol.DefaultMaxFrameSize)
		require.NoError(t, err)
		assert.Equal(t, "polyfork-go/"+polyfork.Version, info.Lib)
		host.Close()
		<-served
	})
}
