// Command benchratio reads `go test -bench` output on standard input and
// prints each benchmark's time, and the ratio of named pairs measured in the
// same run, against a target. `make bench` pipes every benchmark through it,
// so speed targets are ratios against a baseline on the same machine at the
// same moment, never absolute timings asserted in tests.
//
//	go test -run '^$' -bench . ./... | benchratio \
//	    -ratio 'generate 300 jobs vs YAML encode=BenchmarkGenerate300/BenchmarkEncodeYAML300<=2' \
//	    -ratio 'image vs base image=BenchmarkImageSize/BenchmarkBaseSize:bytes<=0.1' \
//	    -limit 'BenchmarkGenerate300<=50ms'
//
// A ratio compares ns/op unless its pair ends in ":unit", which compares
// the metric a benchmark reports with b.ReportMetric(v, unit) instead
// (sizes, counts): each measure is printed in its own unit.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// benchLine matches "BenchmarkName-2   	     100	  12345 ns/op	  42 bytes ...":
// the name, then the metrics as value-unit pairs.
var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(-\d+)?\s+\d+\s+(.*)$`)

// metric is one value-unit pair of a benchmark line.
var metric = regexp.MustCompile(`([0-9.eE+-]+) (\S+)`)

// nsPerOp is the unit of a ratio that names none.
const nsPerOp = "ns/op"

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ", ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	var ratios, limits multiFlag
	flag.Var(&ratios, "ratio", "`label=Bench/Baseline<=max`: print Bench's time over Baseline's and check it against max (repeatable)")
	flag.Var(&limits, "limit", "`Bench<=duration`: check a benchmark against an absolute budget (repeatable)")
	flag.Parse()
	ok, err := run(os.Stdin, os.Stdout, ratios, limits)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchratio:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer, ratios, limits []string) (bool, error) {
	// metrics[unit][benchmark] is the last value the benchmark reported
	// in that unit; times is the ns/op column.
	metrics := map[string]map[string]float64{}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(out, line)
		m := benchLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		for _, mv := range metric.FindAllStringSubmatch(m[3], -1) {
			v, err := strconv.ParseFloat(mv[1], 64)
			if err != nil {
				return false, fmt.Errorf("parsing %q: %w", line, err)
			}
			if metrics[mv[2]] == nil {
				metrics[mv[2]] = map[string]float64{}
			}
			metrics[mv[2]][m[1]] = v
		}
	}
	times := metrics[nsPerOp]
	if err := sc.Err(); err != nil {
		return false, err
	}
	allOK := true
	fmt.Fprintln(out, "\n== slipway benchmarks: ratios against baselines measured in this run")
	fmt.Fprintf(out, "%-52s %12s %12s %8s %8s  %s\n", "measure", "time", "baseline", "ratio", "target", "verdict")
	for _, spec := range ratios {
		label, rest, found := strings.Cut(spec, "=")
		if !found {
			return false, fmt.Errorf("-ratio %q: want label=Bench/Baseline<=max", spec)
		}
		pair, maxStr, _ := strings.Cut(rest, "<=")
		unit := nsPerOp
		if p, u, ok := strings.Cut(pair, ":"); ok {
			pair, unit = p, u
		}
		bench, base, found := strings.Cut(pair, "/")
		if !found || unit == "" {
			return false, fmt.Errorf("-ratio %q: want label=Bench/Baseline<=max or label=Bench/Baseline:unit<=max", spec)
		}
		values := metrics[unit]
		t, tok := values[bench]
		b, bok := values[base]
		if !tok || !bok {
			fmt.Fprintf(out, "%-52s %12s %12s %8s %8s  %s\n", label, "-", "-", "-", maxStr, "MISSING: "+missing(values, unit, bench, base))
			allOK = false
			continue
		}
		ratio := t / b
		verdict := "ok"
		if maxStr != "" {
			limit, err := strconv.ParseFloat(maxStr, 64)
			if err != nil {
				return false, fmt.Errorf("-ratio %q: bad max: %w", spec, err)
			}
			if ratio > limit {
				verdict, allOK = "OVER TARGET", false
			}
		}
		fmt.Fprintf(out, "%-52s %12s %12s %8.2f %8s  %s\n", label, format(t, unit), format(b, unit), ratio, maxStr, verdict)
	}
	for _, spec := range limits {
		bench, budgetStr, found := strings.Cut(spec, "<=")
		if !found {
			return false, fmt.Errorf("-limit %q: want Bench<=duration", spec)
		}
		budget, err := time.ParseDuration(budgetStr)
		if err != nil {
			return false, fmt.Errorf("-limit %q: %w", spec, err)
		}
		t, tok := times[bench]
		if !tok {
			fmt.Fprintf(out, "%-52s %12s %12s %8s %8s  %s\n", bench, "-", budgetStr, "-", "", "MISSING: "+missing(times, nsPerOp, bench))
			allOK = false
			continue
		}
		ratio := t / float64(budget.Nanoseconds())
		verdict := "ok"
		if ratio > 1 {
			verdict, allOK = "OVER BUDGET", false
		}
		fmt.Fprintf(out, "%-52s %12s %12s %8.2f %8s  %s\n", bench+" (vs budget)", format(t, nsPerOp), budgetStr, ratio, "1.00", verdict)
	}
	return allOK, nil
}

// missing names the benchmarks the output lacks in unit, and those it has.
func missing(values map[string]float64, unit string, names ...string) string {
	var gone []string
	for _, n := range names {
		if _, ok := values[n]; !ok {
			gone = append(gone, n)
		}
	}
	have := make([]string, 0, len(values))
	for n := range values {
		have = append(have, n)
	}
	sort.Strings(have)
	return fmt.Sprintf("%s not in the output in %s (have: %s)", strings.Join(gone, ", "), unit, strings.Join(have, ", "))
}

// format prints a measure in its unit: ns/op as a duration, bytes in MB,
// anything else as the number and its unit.
func format(v float64, unit string) string {
	switch unit {
	case nsPerOp:
		return time.Duration(v).Round(time.Microsecond).String()
	case "bytes":
		return fmt.Sprintf("%.1f MB", v/(1<<20))
	}
	return strconv.FormatFloat(v, 'g', 4, 64) + " " + unit
}
