// Command benchratio reads `go test -bench` output on standard input and
// prints each benchmark's time, and the ratio of named pairs measured in the
// same run, against a target. `make bench` pipes every benchmark through it,
// so speed targets are ratios against a baseline on the same machine at the
// same moment, never absolute timings asserted in tests.
//
//	go test -run '^$' -bench . ./... | benchratio \
//	    -ratio 'generate 300 jobs vs YAML encode=BenchmarkGenerate300/BenchmarkEncodeYAML300<=2' \
//	    -limit 'BenchmarkGenerate300<=50ms'
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

// benchLine matches "BenchmarkName-2   	     100	  12345 ns/op ...".
var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(-\d+)?\s+\d+\s+([0-9.]+) ns/op`)

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
	times := map[string]float64{}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(out, line)
		if m := benchLine.FindStringSubmatch(line); m != nil {
			ns, err := strconv.ParseFloat(m[3], 64)
			if err != nil {
				return false, fmt.Errorf("parsing %q: %w", line, err)
			}
			times[m[1]] = ns
		}
	}
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
		bench, base, found := strings.Cut(pair, "/")
		if !found {
			return false, fmt.Errorf("-ratio %q: want label=Bench/Baseline<=max", spec)
		}
		t, tok := times[bench]
		b, bok := times[base]
		if !tok || !bok {
			fmt.Fprintf(out, "%-52s %12s %12s %8s %8s  %s\n", label, "-", "-", "-", maxStr, "MISSING: "+missing(times, bench, base))
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
		fmt.Fprintf(out, "%-52s %12s %12s %8.2f %8s  %s\n", label, dur(t), dur(b), ratio, maxStr, verdict)
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
			fmt.Fprintf(out, "%-52s %12s %12s %8s %8s  %s\n", bench, "-", budgetStr, "-", "", "MISSING: "+missing(times, bench))
			allOK = false
			continue
		}
		ratio := t / float64(budget.Nanoseconds())
		verdict := "ok"
		if ratio > 1 {
			verdict, allOK = "OVER BUDGET", false
		}
		fmt.Fprintf(out, "%-52s %12s %12s %8.2f %8s  %s\n", bench+" (vs budget)", dur(t), budgetStr, ratio, "1.00", verdict)
	}
	return allOK, nil
}

func missing(times map[string]float64, names ...string) string {
	var gone []string
	for _, n := range names {
		if _, ok := times[n]; !ok {
			gone = append(gone, n)
		}
	}
	have := make([]string, 0, len(times))
	for n := range times {
		have = append(have, n)
	}
	sort.Strings(have)
	return fmt.Sprintf("%s not in the output (have: %s)", strings.Join(gone, ", "), strings.Join(have, ", "))
}

func dur(ns float64) string {
	return time.Duration(ns).Round(time.Microsecond).String()
}
