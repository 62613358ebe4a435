package gotest

import (
	"encoding/xml"
	"math"
	"strings"
	"testing"
)

const profile = `mode: atomic
example.com/m/a/a.go:3.10,5.2 2 1
example.com/m/a/a.go:7.10,9.2 1 0
example.com/m/a/a.go:3.10,5.2 2 3
example.com/m/b.go:1.1,1.20 1 0
other.org/x/x.go:1.1,2.1 1 1
`

func TestParseProfileMergesDuplicateBlocks(t *testing.T) {
	blocks, err := ParseProfile(strings.NewReader(profile))
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) != 4 {
		t.Fatalf("got %d blocks, want 4 (the duplicate merged): %+v", len(blocks), blocks)
	}
	if blocks[0].Count != 4 || blocks[0].NumStmt != 2 {
		t.Errorf("merged block = %+v, want count 4 (1+3), 2 statements", blocks[0])
	}
}

func TestParseProfileErrors(t *testing.T) {
	for name, in := range map[string]string{
		"no mode":    "a.go:1.1,2.2 1 1\n",
		"no file":    "mode: set\nnonsense\n",
		"bad fields": "mode: set\na.go:1.1,2.2 x y\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseProfile(strings.NewReader(in)); err == nil {
				t.Fatalf("ParseProfile(%q) succeeded, want an error", in)
			}
		})
	}
}

func TestStatementCoverage(t *testing.T) {
	blocks, err := ParseProfile(strings.NewReader(profile))
	if err != nil {
		t.Fatal(err)
	}
	// 5 statements, 3 of them run (2 in a.go, 1 in x.go).
	if got := StatementCoverage(blocks); math.Abs(got-60) > 1e-9 {
		t.Errorf("StatementCoverage = %v, want 60", got)
	}
	if got := StatementCoverage(nil); got != 0 {
		t.Errorf("StatementCoverage(nil) = %v, want 0", got)
	}
}

func TestCobertura(t *testing.T) {
	blocks, err := ParseProfile(strings.NewReader(profile))
	if err != nil {
		t.Fatal(err)
	}
	rep := Cobertura(blocks, "example.com/m")
	text, err := rep.XML()
	if err != nil {
		t.Fatal(err)
	}
	var back CoberturaReport
	if err := xml.Unmarshal([]byte(text[strings.Index(text, "<coverage"):]), &back); err != nil {
		t.Fatalf("report is not valid XML: %v\n%s", err, text)
	}
	files := map[string]CoberturaClass{}
	for _, p := range back.Packages {
		for _, c := range p.Classes {
			files[c.Filename] = c
		}
	}
	tests := []struct {
		file    string
		lines   int
		covered int
	}{
		{"a/a.go", 6, 3},           // lines 3-5 run, 7-9 not
		{"b.go", 1, 0},             // relative to the module root
		{"other.org/x/x.go", 2, 2}, // outside the module: import path kept
	}
	for _, tt := range tests {
		c, ok := files[tt.file]
		if !ok {
			t.Errorf("no class for %s; have %v", tt.file, files)
			continue
		}
		covered := 0
		for _, l := range c.Lines {
			if l.Hits > 0 {
				covered++
			}
		}
		if len(c.Lines) != tt.lines || covered != tt.covered {
			t.Errorf("%s: %d lines, %d covered; want %d, %d", tt.file, len(c.Lines), covered, tt.lines, tt.covered)
		}
	}
	if back.LinesValid != 9 || back.LinesCovered != 5 {
		t.Errorf("totals: %d of %d lines, want 5 of 9", back.LinesCovered, back.LinesValid)
	}
	if !strings.Contains(text, "<!DOCTYPE coverage") {
		t.Error("no Cobertura DOCTYPE")
	}
}

func TestProblem(t *testing.T) {
	tests := []struct {
		r    Result
		want string
	}{
		{Result{}, ""},
		{Result{ExitCode: 1, Failed: []string{"p.TestA"}}, "1 failed: p.TestA"},
		{Result{ExitCode: 2}, "go test exited with 2"},
	}
	for _, tt := range tests {
		if got := tt.r.Problem(); got != tt.want {
			t.Errorf("Problem() = %q, want %q", got, tt.want)
		}
	}
}
