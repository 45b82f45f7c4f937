package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/polyfork/polyfork/bench"
)

// writeRun writes <out>/<kind>.json (the rows) and
// <out>/<kind>-run.json (the whole run, for the report).
func writeRun(r bench.Run, out string) error {
	b, err := bench.MarshalRows(r.Rows)
	if err != nil {
		return err
	}
	file := filepath.Join(out, r.Kind+".json")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "benchrun: wrote", file)
	return saveJSON(filepath.Join(out, r.Kind+"-run.json"), r)
}

func saveJSON(file string, v any) error {
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(file, append(b, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "benchrun: wrote", file)
	return nil
}

// goBench runs the Go micro-benchmarks of the codec and the in-memory call.
func goBench(root string) ([]bench.GoBench, error) {
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", ".", "-benchmem", "-count", "1", "./protocol", "./bridge")
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go test -bench: %w\n%s", err, out)
	}
	return bench.ParseGoBench(string(out)), nil
}

// writeDocs writes <docs>/benchmarks.md and, when matplotlib is there, benchmarks.png.
func writeDocs(r bench.Run, docs, beforeFile, out, plotPython string, p bench.Paths) error {
	var before *bench.Run
	if b, err := bench.LoadRun(beforeFile); err == nil {
		before = &b // Markdown says so when it is r itself
	} else if err != nil && !os.IsNotExist(err) {
		return err
	}
	if err := os.MkdirAll(docs, 0o755); err != nil {
		return err
	}
	md := filepath.Join(docs, "benchmarks.md")
	if err := os.WriteFile(md, []byte(bench.Markdown(r, before)), 0o644); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "benchrun: wrote", md)
	rows := filepath.Join(out, "chart-rows.json")
	b, err := bench.MarshalRows(r.Rows)
	if err != nil {
		return err
	}
	if err := os.WriteFile(rows, b, 0o644); err != nil {
		return err
	}
	png := filepath.Join(docs, "benchmarks.png")
	cmd := exec.Command(plotPython, filepath.Join(p.Root, "bench", "chart", "plot.py"), rows, png)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("drawing %s (needs matplotlib: %s -m pip install matplotlib): %w", png, plotPython, err)
	}
	fmt.Fprintln(os.Stderr, "benchrun: wrote", png)
	return nil
}

// reportCmd is `benchrun report`: rewrite the docs from a saved run, without measuring.
func reportCmd(args []string) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	runFile := fs.String("run", "bench/out/full-run.json", "the saved run")
	docs := fs.String("docs", "docs", "folder of benchmarks.md and benchmarks.png")
	before := fs.String("before", "bench/results/before.json", "the saved \"before\" run")
	out := fs.String("out", "bench/out", "scratch folder")
	plotPython := fs.String("plot-python", "python3", "the Python with matplotlib that draws the chart")
	if err := fs.Parse(args); err != nil {
		return err
	}
	r, err := bench.LoadRun(*runFile)
	if err != nil {
		return err
	}
	root, _ := os.Getwd()
	p := bench.Paths{Root: root}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	return writeDocs(r, *docs, *before, *out, *plotPython, p)
}
