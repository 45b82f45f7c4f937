package bench

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// BareOf returns the bare exchange a system of lang is compared with (bare-python,
// bare-php, bare-node), or "" for a language without one (the C limit).
func BareOf(lang string) string {
	switch lang {
	case "python", "php", "node":
		return "bare-" + lang
	}
	return ""
}

// Summary renders rows as the plain-text table `make bench-quick` prints: for each system
// and size, p50 and p99 in microseconds, calls/s, and the ratios to the bare exchange of
// the system's language and to raw-pipe, the limit. Ratios of p50 are system ÷ other (below
// 1: sooner); ratios of calls/s are system ÷ other (above 1: more). A "-" is a number that
// was not measured.
func Summary(rows []Row) string {
	table := [][]string{{"system", "size", "pinned", "p50 µs", "p99 µs", "calls/s", "p50 ÷ bare", "calls/s ÷ bare", "p50 ÷ raw", "calls/s ÷ raw"}}
	p50 := func(r *Row) float64 { return r.P50us }
	tput := func(r *Row) float64 { return r.CallsPerS }
	for i := range rows {
		r := &rows[i]
		bare, raw := (*Row)(nil), Find(rows, "raw-pipe", r.PayloadBytes)
		if s, ok := Lookup(r.System); ok && BareOf(s.Lang) != "" {
			bare = Find(rows, BareOf(s.Lang), r.PayloadBytes)
		}
		pin := "cpu" + PinnedCPU
		if r.Pinning != "cpu1" {
			pin = "no"
		}
		table = append(table, []string{r.System, SizeLabel(r.PayloadBytes), pin,
			plainUs(r.P50us), plainUs(r.P99us), plainRate(r.CallsPerS),
			ratioX(r, bare, p50), ratioX(r, bare, tput), ratioX(r, raw, p50), ratioX(r, raw, tput)})
	}
	return alignTable(table)
}

// alignTable lays out cells in columns two spaces apart: the first column left-aligned,
// the others (numbers) right-aligned.
func alignTable(table [][]string) string {
	var width []int
	for _, row := range table {
		for j, c := range row {
			if j == len(width) {
				width = append(width, 0)
			}
			width[j] = max(width[j], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	for _, row := range table {
		var line strings.Builder
		for j, c := range row {
			pad := strings.Repeat(" ", width[j]-utf8.RuneCountInString(c))
			switch {
			case j == 0:
				line.WriteString(c + pad)
			default:
				line.WriteString("  " + pad + c)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
	return b.String()
}

// ratioX writes f(a) ÷ f(b) as "1.23x", or "-" when either is missing.
func ratioX(a, b *Row, f func(*Row) float64) string {
	if a == nil || b == nil || f(a) <= 0 || f(b) <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", f(a)/f(b))
}

func plainUs(f float64) string {
	if f <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", f)
}

func plainRate(f float64) string {
	if f <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", f)
}
