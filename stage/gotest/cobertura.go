package gotest

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"io"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Block is one line of a Go coverage profile: a span of statements and how
// often it ran.
type Block struct {
	File                string // import path of the package + "/" + file name
	StartLine, StartCol int
	EndLine, EndCol     int
	NumStmt, Count      int
}

// ParseProfile reads a coverage profile (`go test -coverprofile`). The same
// block may appear more than once (one per test binary that covers the
// package): counts are merged the way `go tool cover` merges them.
func ParseProfile(r io.Reader) ([]Block, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1024*1024), 16*1024*1024)
	type key struct {
		file           string
		sl, sc, el, ec int
	}
	index := map[key]int{}
	var blocks []Block
	mode := ""
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" {
			continue
		}
		if m, ok := strings.CutPrefix(line, "mode: "); ok {
			mode = m
			continue
		}
		colon := strings.LastIndexByte(line, ':')
		if colon < 0 {
			return nil, fmt.Errorf("coverage profile line %d: %q: no file", n, line)
		}
		var b Block
		b.File = line[:colon]
		if _, err := fmt.Sscanf(line[colon+1:], "%d.%d,%d.%d %d %d",
			&b.StartLine, &b.StartCol, &b.EndLine, &b.EndCol, &b.NumStmt, &b.Count); err != nil {
			return nil, fmt.Errorf("coverage profile line %d: %q: %w", n, line, err)
		}
		k := key{b.File, b.StartLine, b.StartCol, b.EndLine, b.EndCol}
		if i, ok := index[k]; ok {
			if mode == "set" {
				if b.Count > 0 {
					blocks[i].Count = 1
				}
			} else {
				blocks[i].Count += b.Count
			}
			continue
		}
		index[k] = len(blocks)
		blocks = append(blocks, b)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading coverage profile: %w", err)
	}
	if mode == "" {
		return nil, fmt.Errorf("coverage profile: no mode line")
	}
	return blocks, nil
}

// StatementCoverage is the share of statements that ran, in percent, as
// `go tool cover -func` computes its total.
func StatementCoverage(blocks []Block) float64 {
	var total, covered int
	for _, b := range blocks {
		total += b.NumStmt
		if b.Count > 0 {
			covered += b.NumStmt
		}
	}
	if total == 0 {
		return 0
	}
	return 100 * float64(covered) / float64(total)
}

// CoberturaReport is a Cobertura XML coverage report, line coverage only,
// as GitLab's coverage visualisation reads it.
type CoberturaReport struct {
	XMLName      xml.Name           `xml:"coverage"`
	LineRate     float64            `xml:"line-rate,attr"`
	BranchRate   float64            `xml:"branch-rate,attr"`
	LinesCovered int                `xml:"lines-covered,attr"`
	LinesValid   int                `xml:"lines-valid,attr"`
	Version      string             `xml:"version,attr"`
	Timestamp    int64              `xml:"timestamp,attr"`
	Sources      []string           `xml:"sources>source"`
	Packages     []CoberturaPackage `xml:"packages>package"`
}

// CoberturaPackage is a Go package.
type CoberturaPackage struct {
	Name     string           `xml:"name,attr"`
	LineRate float64          `xml:"line-rate,attr"`
	Classes  []CoberturaClass `xml:"classes>class"`
}

// CoberturaClass is a Go source file.
type CoberturaClass struct {
	Name     string          `xml:"name,attr"`
	Filename string          `xml:"filename,attr"`
	LineRate float64         `xml:"line-rate,attr"`
	Lines    []CoberturaLine `xml:"lines>line"`
}

// CoberturaLine is one source line and how often it ran.
type CoberturaLine struct {
	Number int `xml:"number,attr"`
	Hits   int `xml:"hits,attr"`
}

// Cobertura converts profile blocks to a Cobertura report whose file names
// are relative to the module root (the repository root when go.mod is
// there), which is what GitLab matches against the merge request's diff.
// Blocks of packages outside modulePath keep their import path.
func Cobertura(blocks []Block, modulePath string) *CoberturaReport {
	// file -> line -> hits; a line's hits are the most any block spanning
	// it ran.
	files := map[string]map[int]int{}
	for _, b := range blocks {
		lines := files[b.File]
		if lines == nil {
			lines = map[int]int{}
			files[b.File] = lines
		}
		for l := b.StartLine; l <= b.EndLine; l++ {
			if h, ok := lines[l]; !ok || b.Count > h {
				lines[l] = b.Count
			}
		}
	}
	pkgs := map[string]*CoberturaPackage{}
	var covered, valid int
	pkgCounts := map[string][2]int{}
	for file, lines := range files {
		pkgPath := path.Dir(file)
		rel := file
		if r, ok := strings.CutPrefix(file, modulePath+"/"); ok {
			rel = r
		}
		cls := CoberturaClass{Name: strings.TrimSuffix(path.Base(file), ".go"), Filename: rel}
		var c int
		for n, h := range lines {
			cls.Lines = append(cls.Lines, CoberturaLine{Number: n, Hits: h})
			if h > 0 {
				c++
			}
		}
		sort.Slice(cls.Lines, func(i, j int) bool { return cls.Lines[i].Number < cls.Lines[j].Number })
		cls.LineRate = rate(c, len(lines))
		covered += c
		valid += len(lines)
		pc := pkgCounts[pkgPath]
		pkgCounts[pkgPath] = [2]int{pc[0] + c, pc[1] + len(lines)}
		p := pkgs[pkgPath]
		if p == nil {
			p = &CoberturaPackage{Name: pkgPath}
			pkgs[pkgPath] = p
		}
		p.Classes = append(p.Classes, cls)
	}
	rep := &CoberturaReport{LineRate: rate(covered, valid), LinesCovered: covered, LinesValid: valid,
		Version: "slipway", Sources: []string{"."}}
	names := make([]string, 0, len(pkgs))
	for n := range pkgs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := pkgs[n]
		sort.Slice(p.Classes, func(i, j int) bool { return p.Classes[i].Filename < p.Classes[j].Filename })
		pc := pkgCounts[n]
		p.LineRate = rate(pc[0], pc[1])
		rep.Packages = append(rep.Packages, *p)
	}
	return rep
}

// XML renders the report with the Cobertura DTD header.
func (r *CoberturaReport) XML() (string, error) {
	b, err := xml.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	return xml.Header + `<!DOCTYPE coverage SYSTEM "http://cobertura.sourceforge.net/xml/coverage-04.dtd">` + "\n" + string(b) + "\n", nil
}

func rate(covered, valid int) float64 {
	if valid == 0 {
		return 0
	}
	f, _ := strconv.ParseFloat(strconv.FormatFloat(float64(covered)/float64(valid), 'f', 4, 64), 64)
	return f
}
