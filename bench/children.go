package bench

import (
	"fmt"
	"path/filepath"
)

// Interpreter returns the command of lang's interpreter: POLYFORK_PYTHON (python3),
// POLYFORK_PHP (php) or POLYFORK_NODE (node), read through getenv.
func Interpreter(lang string, getenv func(string) string) string {
	vars := map[string][2]string{"python": {"POLYFORK_PYTHON", "python3"}, "php": {"POLYFORK_PHP", "php"}, "node": {"POLYFORK_NODE", "node"}}
	v, ok := vars[lang]
	if !ok {
		return ""
	}
	if s := getenv(v[0]); s != "" {
		return s
	}
	return v[1]
}

// ChildCommand returns the argv and the extra environment of a benchmark child: kind
// "echo" is the polyfork echo child of lang (bench/children/echo.{py,php,js}), kind "bare"
// the bare msgpack echo (bench/children/bare.*), and lang "c" the raw echo built into
// <root>/bench/out/bin/raw_echo. root is the repository's root.
func ChildCommand(root, lang, kind string, getenv func(string) string) (argv, env []string, err error) {
	children := filepath.Join(root, "bench", "children")
	if lang == "c" {
		return []string{filepath.Join(root, "bench", "out", "bin", "raw_echo"), "echo"}, nil, nil
	}
	ext := map[string]string{"python": ".py", "php": ".php", "node": ".js"}[lang]
	if ext == "" || (kind != "echo" && kind != "bare") {
		return nil, nil, fmt.Errorf("bench: no %s child for language %q", kind, lang)
	}
	argv = []string{Interpreter(lang, getenv), filepath.Join(children, kind+ext)}
	if lang == "python" {
		env = []string{"PYTHONPATH=" + filepath.Join(root, "clients", "python", "src")}
	}
	return argv, env, nil
}
