package main

import (
	"bytes"
	"strings"
	"testing"
)

const sample = `goos: linux
BenchmarkGenerate300-2   	     100	  20000000 ns/op	 4200000 B/op
BenchmarkEncodeYAML300-2 	     200	  10000000 ns/op
BenchmarkImageSize-2     	       1	         3.00 MB	   3145728 bytes	       12.0 ns/op
BenchmarkBaseSize-2      	       1	        41.00 MB	  42991616 bytes
PASS
`

func TestRatiosAndBudgets(t *testing.T) {
	for _, tc := range []struct {
		name           string
		ratios, limits []string
		wantOK         bool
		want           string
	}{
		{"ratio within target", []string{"gen=BenchmarkGenerate300/BenchmarkEncodeYAML300<=2.5"}, nil, true, "2.00"},
		{"ratio over target", []string{"gen=BenchmarkGenerate300/BenchmarkEncodeYAML300<=1.5"}, nil, false, "OVER TARGET"},
		{"budget met", nil, []string{"BenchmarkGenerate300<=50ms"}, true, "0.40"},
		{"budget missed", nil, []string{"BenchmarkGenerate300<=10ms"}, false, "OVER BUDGET"},
		{"missing benchmark", nil, []string{"BenchmarkNope<=10ms"}, false, "MISSING: BenchmarkNope not in the output in ns/op"},
		{"ratio of another unit", []string{"size=BenchmarkImageSize/BenchmarkBaseSize:bytes<=0.1"}, nil, true, "     3.0 MB      41.0 MB     0.07"},
		{"ratio of another unit over target", []string{"size=BenchmarkImageSize/BenchmarkBaseSize:bytes<=0.05"}, nil, false, "OVER TARGET"},
		{"a unit one side lacks", []string{"size=BenchmarkImageSize/BenchmarkGenerate300:bytes<=1"}, nil, false, "MISSING: BenchmarkGenerate300 not in the output in bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			ok, err := run(strings.NewReader(sample), &out, tc.ratios, tc.limits)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tc.wantOK {
				t.Errorf("ok = %v, want %v\n%s", ok, tc.wantOK, out.String())
			}
			if !strings.Contains(out.String(), tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, out.String())
			}
		})
	}
}
