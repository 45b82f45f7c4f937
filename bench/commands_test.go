package bench

import (
	"strings"
	"testing"
)

func TestDriverCommand(t *testing.T) {
	p := Paths{Root: "/repo", Self: "/bin/benchrun", RawEcho: "/repo/bench/out/bin/raw_echo", Node: "node20", Python: "py3"}
	spec := DefaultSpec("")
	cases := []struct {
		system string
		pinned bool
		prefix string
		suffix string
	}{
		{"polyfork-python", true, "taskset -c 1 /bin/benchrun drive root=/repo system=polyfork-python sizes=16,1024,65536,1048576", "tput=1"},
		{"raw-pipe", true, "taskset -c 1 /repo/bench/out/bin/raw_echo drive system=raw-pipe", "tput=1 transport=pipe"},
		{"node-fork-advanced", false, "node20 /repo/bench/peers/node_fork.js system=node-fork-advanced", "serialization=advanced"},
		{"python-ppe", true, "taskset -c 1 py3 /repo/bench/peers/python_mp.py system=python-ppe", "kind=ppe"},
	}
	for _, c := range cases {
		sys, _ := Lookup(c.system)
		s := spec
		s.System = c.system
		argv, err := DriverCommand(sys, s, c.pinned, p)
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Join(argv, " ")
		if !strings.HasPrefix(got, c.prefix) || !strings.HasSuffix(got, c.suffix) {
			t.Errorf("%s: %s", c.system, got)
		}
	}
	if _, err := DriverCommand(System{Name: "x", Driver: "cobol"}, spec, false, p); err == nil {
		t.Error("an unknown driver must be an error")
	}
}

func TestChildCommand(t *testing.T) {
	env := map[string]string{"POLYFORK_PHP": "/opt/php"}
	getenv := func(k string) string { return env[k] }
	argv, extra, err := ChildCommand("/repo", "python", "echo", getenv)
	if err != nil || strings.Join(argv, " ") != "python3 /repo/bench/children/echo.py" || len(extra) != 1 || extra[0] != "PYTHONPATH=/repo/clients/python/src" {
		t.Errorf("python echo: %v %v %v", argv, extra, err)
	}
	argv, _, _ = ChildCommand("/repo", "php", "bare", getenv)
	if strings.Join(argv, " ") != "/opt/php /repo/bench/children/bare.php" {
		t.Errorf("php bare: %v", argv)
	}
	argv, _, _ = ChildCommand("/repo", "c", "echo", getenv)
	if strings.Join(argv, " ") != "/repo/bench/out/bin/raw_echo echo" {
		t.Errorf("raw: %v", argv)
	}
	if _, _, err := ChildCommand("/repo", "ruby", "echo", getenv); err == nil || !strings.Contains(err.Error(), `"ruby"`) {
		t.Errorf("unknown language: %v", err)
	}
	if Interpreter("node", getenv) != "node" || Interpreter("php", getenv) != "/opt/php" {
		t.Error("Interpreter")
	}
}
